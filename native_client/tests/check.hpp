// A minimal test reporter: one line per check, a "N passed, M failed" summary that the
// pytest wrapper (tests/integration/test_cpp_client.py) reads.
#pragma once
#include <iostream>
#include <sstream>
#include <string>

namespace fctest {

struct Report {
    int passed = 0, failed = 0;
    bool check(bool ok, const std::string& name, const std::string& detail = "") {
        if (ok) {
            ++passed;
        } else {
            ++failed;
            std::cout << "FAIL " << name << (detail.empty() ? "" : ": " + detail) << std::endl;
        }
        return ok;
    }
    void fail(const std::string& name, const std::string& detail) { check(false, name, detail); }
    int summary() const {
        std::cout << passed << " passed, " << failed << " failed" << std::endl;
        return failed == 0 ? 0 : 1;
    }
};

template <typename T> std::string str(const T& v) {
    std::ostringstream o;
    o << v;
    return o.str();
}

int run_fixture_tests(const std::string& fixtures_dir, const std::string& index_msgpack, Report& r);
int run_unit_tests(Report& r);
int run_daemon_tests(const std::string& endpoint, const std::string& character, const std::string& track_path, Report& r);
int run_hostile_test(const std::string& endpoint, Report& r);
int run_restart_test(const std::string& endpoint, const std::string& character, const std::string& output, Report& r);

}  // namespace fctest
