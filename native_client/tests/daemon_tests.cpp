// Against the real daemon (started by tests/integration/test_cpp_client.py): hello,
// characters, error codes, frames inline and through the ring equal, blendshapes by ARKit
// name, and (restart mode) a Session that outlives a daemon restart.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>

#include "check.hpp"
#include "facecast/arkit.hpp"
#include "facecast/client.hpp"
#include "facecast/session.hpp"

using namespace facecast;

namespace fctest {
namespace {

std::vector<std::vector<float>> read_track(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const std::size_t per = 478 * 3;
    std::vector<std::vector<float>> track(raw.size() / (per * 4), std::vector<float>(per));
    for (std::size_t t = 0; t < track.size(); ++t) std::memcpy(track[t].data(), raw.data() + t * per * 4, per * 4);
    return track;
}

// The error the daemon answers to `payload` (sent raw), or a ProtocolError-free nullopt.
std::optional<Error> error_for(Client& c, const std::vector<std::uint8_t>& payload) {
    c.send_raw(payload);
    for (int i = 0; i < 50; ++i) {
        auto reply = c.recv(200);
        if (!reply) continue;
        if (auto* e = std::get_if<Error>(&*reply)) return *e;
    }
    return std::nullopt;
}

void expect_error(Report& r, Client& c, const std::string& name, const std::vector<std::uint8_t>& payload, ErrorCode code,
                  std::optional<std::int64_t> seq, std::optional<std::string> ref) {
    auto e = error_for(c, payload);
    if (!r.check(e.has_value(), name + ": an error reply")) return;
    r.check(e->code == static_cast<int>(code), name + ": code", str(e->code) + " " + e->name + " " + e->message);
    r.check(e->name == error_name(e->code), name + ": name matches code", e->name);
    r.check(e->seq == seq, name + ": seq", e->seq ? str(*e->seq) : "(none)");
    r.check(e->ref == ref, name + ": ref", e->ref.value_or("(none)"));
}

template <typename F> void expect_refused(Report& r, const std::string& name, ErrorCode code, F&& fn) {
    try {
        fn();
        r.fail(name, "accepted");
    } catch (const FacecastError& e) {
        r.check(e.error.code == static_cast<int>(code), name, e.what());
    }
}

std::int64_t counter(const Generic& g, const char* map, const char* key) {
    const auto* m = g.find(map);
    if (m == nullptr || m->type != msgpack::type::MAP) return -1;
    for (std::uint32_t i = 0; i < m->via.map.size; ++i)
        if (as_string(&m->via.map.ptr[i].key) == std::string(key)) return as_int(&m->via.map.ptr[i].val).value_or(-1);
    return 0;
}

// Mean row of the pixels that differ between two RGBA frames (-1 when none differ).
double diff_row(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b, int width, std::size_t* count) {
    double rows = 0;
    *count = 0;
    for (std::size_t i = 0; i + 3 < a.size(); i += 4) {
        int d = std::abs(a[i] - b[i]) + std::abs(a[i + 1] - b[i + 1]) + std::abs(a[i + 2] - b[i + 2]);
        if (d > 24) {
            rows += static_cast<double>(i / 4 / width);
            ++*count;
        }
    }
    return *count ? rows / *count : -1.0;
}

Pose raw_pose(std::int64_t seq, std::vector<float> values, const std::string& kind) {
    Pose p;
    p.seq = seq;
    if (kind == "landmarks") p.landmarks = make_array({478, 3}, std::move(values), "mediapipe478");
    else p.blendshapes = make_array({52}, std::move(values));
    return p;
}

}  // namespace

int run_daemon_tests(const std::string& endpoint, const std::string& character, const std::string& track_path, Report& r) {
    const auto track = read_track(track_path);
    r.check(track.size() >= 10, "the track has frames", str(track.size()));
    ClientOptions opts;
    opts.endpoint = endpoint;

    // --- hello, characters
    Client c(opts);
    const Welcome w = c.hello();
    r.check(w.version == 1, "welcome version 1");
    r.check(w.session.size() == 16 && w.session.find_first_not_of("0123456789abcdef") == std::string::npos, "session id is 16 hex digits", w.session);
    const auto* inputs = w.capabilities.find("inputs");
    bool blend = false;
    for (std::uint32_t i = 0; inputs != nullptr && i < inputs->via.array.size; ++i)
        blend |= as_string(&inputs->via.array.ptr[i]) == std::string("blendshapes");
    r.check(blend, "the daemon offers blendshape input");
    const auto chars = c.characters();
    r.check(std::find(chars.begin(), chars.end(), character) != chars.end(), "characters lists " + character);
    const Pong pong = c.ping();
    r.check(pong.t_server > 1.0e9, "pong carries the daemon's clock");

    // --- error codes, each with its seq and ref
    expect_error(r, c, "a pose before bind", encode(raw_pose(41, track[0], "landmarks")), ErrorCode::NotBound, 41, "pose");
    expect_error(r, c, "bytes that are not msgpack", {0xc1}, ErrorCode::Malformed, std::nullopt, std::nullopt);
    {
        Hello h;
        h.versions.assign(33, 1);  // over the daemon's decode bounds (arrays <= 32 items)
        expect_error(r, c, "a request over the decode bounds", encode(h), ErrorCode::Malformed, std::nullopt, std::nullopt);
        expect_error(r, c, "hello without version 1", encode(Hello{"x", {2}}), ErrorCode::UnsupportedVersion, std::nullopt, "hello");
    }
    expect_refused(r, "bind an unknown character", ErrorCode::UnknownCharacter, [&] { c.bind(Bind{"nobody"}); });
    expect_refused(r, "bind pixel format yuv420", ErrorCode::Unsupported, [&] {
        Bind b{character}; b.pixel_format = "yuv420"; c.bind(b); });
    expect_refused(r, "bind shm with jpeg", ErrorCode::Unsupported, [&] {
        Bind b{character}; b.pixel_format = "jpeg"; b.output = "shm"; c.bind(b); });
    expect_refused(r, "bind width 4096", ErrorCode::InvalidField, [&] { Bind b{character}; b.width = 4096; c.bind(b); });

    Bind inline_bind{character, 128, 128, "rgba8", "inline"};
    const Bound bound = c.bind(inline_bind);
    r.check(bound.neutral.shape == std::vector<std::uint32_t>{478, 3} && bound.neutral.format == "mediapipe478", "bound carries the neutral");
    {
        auto nan = track[0];
        nan[31] = std::numeric_limits<float>::quiet_NaN();
        expect_error(r, c, "a NaN landmark", encode(raw_pose(42, nan, "landmarks")), ErrorCode::NonFinite, 42, "pose");
        auto far = track[0];
        far[0] = 1000.0f;
        expect_error(r, c, "a landmark of 1000", encode(raw_pose(43, far, "landmarks")), ErrorCode::BadArray, 43, "pose");
        expect_error(r, c, "a blendshape weight of 1.5", encode(raw_pose(44, std::vector<float>(52, 1.5f), "blendshapes")),
                     ErrorCode::InvalidField, 44, "pose");
        Pose degrees = raw_pose(45, std::vector<float>(52, 0.0f), "blendshapes");
        degrees.head = make_array({3}, {30.0f, 0.0f, 0.0f});
        expect_error(r, c, "a head yaw of 30 (degrees sent as radians)", encode(degrees), ErrorCode::InvalidField, 45, "pose");
    }
    const StatsReport stats = c.stats();
    r.check(counter(stats.daemon, "errors", "NON_FINITE") >= 1 && counter(stats.daemon, "errors", "NOT_BOUND") >= 1 &&
                counter(stats.daemon, "errors", "BAD_ARRAY") >= 1,
            "the daemon counted the errors");
    r.check(counter(stats.session, "counters", "errors") >= 4, "this session counted its pose errors",
            str(counter(stats.session, "counters", "errors")));

    // --- inline and ring frames are the same pixels
    ClientOptions ring_opts = opts;
    Client ring_client(ring_opts);
    ring_client.hello();
    Bind shm_bind = inline_bind;
    shm_bind.output = "shm";
    const Bound shm_bound = ring_client.bind(shm_bind);
    r.check(shm_bound.shm.has_value() && ring_client.ring() != nullptr, "a shm bind opens the ring");
    if (ring_client.ring() != nullptr) {
        const auto& lay = ring_client.ring()->layout();
        r.check(lay.width == 128 && lay.height == 128 && lay.pixel_format == 1, "the ring header matches the bind");
        r.check(as_int(shm_bound.shm->find("size")) == std::optional<std::int64_t>(static_cast<std::int64_t>(lay.total_bytes())),
                "bound.shm.size is the layout's total bytes");
    }
    std::vector<std::vector<std::uint8_t>> frames;
    int equal = 0;
    for (std::size_t t = 0; t < 10; ++t) {
        const ReceivedFrame a = c.render_landmarks(track[t]);
        const ReceivedFrame b = ring_client.render_landmarks(track[t]);
        r.check(a.pixels.size() == 128u * 128u * 4u && !a.ring, "inline frame " + str(t) + " has its pixels");
        r.check(b.ring.has_value() && b.message.data.empty(), "ring frame " + str(t) + " came through the ring");
        if (b.ring) r.check(static_cast<std::int64_t>(b.ring->frame_seq) == b.message.seq, "ring slot names the pose's seq");
        equal += a.pixels == b.pixels;
        r.check(a.message.timing("render_end") >= a.message.timing("render_start") && a.message.timing("receive") > 0,
                "frame timings are ordered");
        frames.push_back(a.pixels);
    }
    r.check(equal == 10, "frames inline and through the ring are equal", str(equal) + " of 10");
    r.check(frames.front() != frames.back(), "the track's frames differ from each other");
    std::vector<std::uint8_t> latest;
    const auto newest = ring_client.ring()->read_latest(latest);
    r.check(newest.has_value() && latest == frames.back(), "read_latest returns the newest frame");

    // --- blendshapes by ARKit name
    const ReceivedFrame neutral = c.render_landmarks(bound.neutral.values);
    BlendshapeWeights none;
    const ReceivedFrame zero = c.render_blendshapes(none.values());
    r.check(zero.pixels == neutral.pixels, "all-zero blendshapes render the neutral frame");
    BlendshapeWeights jaw, brow;
    r.check(jaw.set("JawOpen", 1.0f) && brow.set("browInnerUp", 1.0f), "names set weights");
    const ReceivedFrame jaw_frame = c.render_blendshapes(jaw.values());
    const ReceivedFrame brow_frame = c.render_blendshapes(brow.values());
    std::size_t jaw_n = 0, brow_n = 0;
    const double jaw_row = diff_row(neutral.pixels, jaw_frame.pixels, 128, &jaw_n);
    const double brow_row = diff_row(neutral.pixels, brow_frame.pixels, 128, &brow_n);
    std::cout << "jawOpen changed " << jaw_n << " pixels around row " << jaw_row << "; browInnerUp " << brow_n
              << " around row " << brow_row << std::endl;
    r.check(jaw_n > 0 && brow_n > 0, "jawOpen and browInnerUp both change the frame");
    r.check(jaw_row > brow_row, "jawOpen moves pixels below those browInnerUp moves (names map to the right weights)");
    const ReceivedFrame turned = c.render_blendshapes(none.values(), std::array<float, 3>{0.3f, 0.0f, 0.0f});
    r.check(turned.pixels != neutral.pixels, "a head yaw turns the head");

    // --- a Session (receive thread, latest-wins) streams the track
    Session s(opts, shm_bind);
    int got = 0;
    for (std::size_t t = 0; t < track.size() && got < 20; ++t) {
        s.submit_landmarks(track[t]);
        if (s.wait_frame(5000)) ++got;
    }
    const auto sc = s.counters();
    r.check(got == 20 || got == static_cast<int>(track.size()), "the session delivers frames", str(got) + "; " + sc.last_failure);
    r.check(sc.errors == 0, "the session saw no errors", sc.last_error ? sc.last_error->message : sc.last_failure);
    c.bye();
    r.check(!c.binding(), "bye ends the binding");
    return 0;
}

int run_restart_test(const std::string& endpoint, const std::string& character, const std::string& output, Report& r) {
    ClientOptions opts;
    opts.endpoint = endpoint;
    opts.timeout_ms = 3000;
    opts.retry_ms = 300;
    Session s(opts, Bind{character, 96, 96, output == "shm" ? "bgra8" : "rgba8", output});
    BlendshapeWeights w;
    auto stream = [&](int frames, int limit_ms) {
        int got = 0;
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
        for (int i = 0; got < frames && std::chrono::steady_clock::now() < end; ++i) {
            w.set("jawOpen", static_cast<float>(i % 10) / 10.0f);
            s.submit_blendshapes(w.values());
            if (auto f = s.wait_frame(200)) got += f->pixels.size() == 96u * 96u * 4u;
        }
        return got;
    };
    r.check(stream(10, 60000) == 10, "frames before the restart", s.counters().last_failure);
    const std::string ring_before = s.binding() && s.binding()->shm ? as_string(s.binding()->shm->find("name")).value_or("") : "";
    std::cout << "phase1" << std::endl;
    std::string line;
    std::getline(std::cin, line);  // the daemon was killed and a new one started on the same endpoint
    r.check(stream(10, 90000) == 10, "frames after the restart", s.counters().last_failure);
    const auto sc = s.counters();
    r.check(sc.rebinds >= 1, "the session bound again", str(sc.rebinds));
    if (output == "shm") {
        const std::string ring_after = s.binding() && s.binding()->shm ? as_string(s.binding()->shm->find("name")).value_or("") : "";
        r.check(!ring_after.empty() && ring_after != ring_before, "a new ring was opened after the restart", ring_after);
    }
    std::cout << "rebinds " << sc.rebinds << " resends " << sc.resends << " frames " << sc.frames << std::endl;
    return 0;
}

}  // namespace fctest

namespace fctest {

// Against a hostile stand-in daemon (test_cpp_client.py): its first reply is nested 40 deep,
// its second 18 MiB (over ZMQ_MAXMSGSIZE), its third a real pong. The client must refuse the
// first without building it, lose only the connection to the second, and read the third.
int run_hostile_test(const std::string& endpoint, Report& r) {
    ClientOptions opts;
    opts.endpoint = endpoint;
    Client c(opts);
    c.send(Ping{1.0, 1});
    try {
        auto m = c.recv(10000);
        r.fail("a reply nested 40 deep is refused", m ? type_name(*m) : "no reply at all");
    } catch (const ProtocolError& e) {
        r.check(e.code == ErrorCode::Malformed && std::string(e.what()).find("too complex") != std::string::npos,
                "a reply nested 40 deep is refused", e.what());
    }
    c.send(Ping{2.0, 2});
    auto none = c.recv(1500);
    r.check(!none.has_value(), "an 18 MiB reply is never delivered (ZMQ_MAXMSGSIZE drops the connection)");
    std::optional<Message> pong;
    for (int i = 3; i < 20 && !pong; ++i) {  // not queued until the client opens a fresh socket
        c.send(Ping{static_cast<double>(i), i});
        pong = c.recv(1000);
    }
    r.check(pong && std::holds_alternative<Pong>(*pong), "the client reads the next good reply after reconnecting");
    r.check(c.reconnects() == 1, "one fresh socket", str(c.reconnects()));
    return 0;
}

}  // namespace fctest
