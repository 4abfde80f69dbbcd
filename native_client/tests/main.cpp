// facecast_cpp_tests MODE ...:
//   fixtures DIR INDEX.msgpack      every golden fixture (index.json converted to msgpack)
//   unit                            bounds, float encoding, ARKit names, head mapping
//   daemon ENDPOINT CHARACTER TRACK against a running daemon (TRACK: T x 478 x 3 float32)
//   restart ENDPOINT CHARACTER OUTPUT  streams; prints "phase1" and waits for a line on stdin
//                                   (the daemon was restarted), then needs frames again
//   hostile ENDPOINT                against a stand-in daemon sending hostile replies
//   layout W H FORMAT SLOTS         prints the ring layout's offsets (checked against shm_layout.py)
//   arkit                           prints the 52 blendshape names in protocol order
#include <iostream>

#include "check.hpp"
#include "facecast/arkit.hpp"
#include "facecast/ring_reader.hpp"

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    fctest::Report r;
    try {
        if (mode == "fixtures" && argc == 4) {
            fctest::run_fixture_tests(argv[2], argv[3], r);
        } else if (mode == "unit" && argc == 2) {
            fctest::run_unit_tests(r);
        } else if (mode == "daemon" && argc == 5) {
            fctest::run_daemon_tests(argv[2], argv[3], argv[4], r);
        } else if (mode == "hostile" && argc == 3) {
            fctest::run_hostile_test(argv[2], r);
        } else if (mode == "restart" && argc == 5) {
            fctest::run_restart_test(argv[2], argv[3], argv[4], r);
        } else if (mode == "layout" && argc == 6) {
            facecast::RingLayout l;
            l.width = static_cast<std::uint32_t>(std::stoul(argv[2]));
            l.height = static_cast<std::uint32_t>(std::stoul(argv[3]));
            l.pixel_format = facecast::ring_pixel_format_code(argv[4]);
            l.slot_count = static_cast<std::uint32_t>(std::stoul(argv[5]));
            std::cout << l.data_offset() << " " << l.stride() << " " << l.slot_bytes() << " " << l.total_bytes() << " "
                      << l.slot_entry_offset(1) << " " << l.pixels_offset(1) << std::endl;
            return 0;
        } else if (mode == "arkit" && argc == 2) {
            for (const char* n : facecast::kArkitBlendshapes) std::cout << n << "\n";
            return 0;
        } else {
            std::cerr << "usage: facecast_cpp_tests fixtures DIR INDEX | unit | daemon ENDPOINT CHARACTER TRACK | "
                         "hostile ENDPOINT | restart ENDPOINT CHARACTER OUTPUT | layout W H FORMAT SLOTS | arkit\n";
            return 2;
        }
    } catch (const std::exception& e) {
        r.fail("uncaught exception", e.what());
    }
    return r.summary();
}
