// Every golden fixture of tests/fixtures/protocol: valid ones decode to the index's fields,
// arrays and lengths and encode back to the same bytes; invalid ones are refused with the
// index's code, seq and ref. Plus the codec's own bounds and encoding rules.
#include <cmath>
#include <functional>
#include <fstream>
#include <iterator>

#include "check.hpp"
#include "facecast/arkit.hpp"
#include "facecast/head.hpp"
#include "facecast/messages.hpp"

using namespace facecast;

namespace fctest {
namespace {

std::vector<std::uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const msgpack::object* field(const msgpack::object& m, const char* k) {
    if (m.type != msgpack::type::MAP) return nullptr;
    for (std::uint32_t i = 0; i < m.via.map.size; ++i) {
        const auto& kv = m.via.map.ptr[i];
        if (kv.key.type == msgpack::type::STR && std::string(kv.key.via.str.ptr, kv.key.via.str.size) == k) return &kv.val;
    }
    return nullptr;
}

// Decoded value equals the index's value (numbers by value: JSON has no int/float split).
bool same(const msgpack::object& a, const msgpack::object& b) {
    auto na = as_number(&a), nb = as_number(&b);
    if (na && nb) return *na == *nb;
    if (a.type != b.type) return a.type == msgpack::type::NIL && b.type == msgpack::type::NIL;
    switch (a.type) {
        case msgpack::type::NIL: return true;
        case msgpack::type::BOOLEAN: return a.via.boolean == b.via.boolean;
        case msgpack::type::STR: return as_string(&a) == as_string(&b);
        case msgpack::type::ARRAY:
            if (a.via.array.size != b.via.array.size) return false;
            for (std::uint32_t i = 0; i < a.via.array.size; ++i)
                if (!same(a.via.array.ptr[i], b.via.array.ptr[i])) return false;
            return true;
        case msgpack::type::MAP:
            if (a.via.map.size != b.via.map.size) return false;
            for (std::uint32_t i = 0; i < a.via.map.size; ++i) {
                auto key = as_string(&a.via.map.ptr[i].key);
                const auto* other = key ? field(b, key->c_str()) : nullptr;
                if (other == nullptr || !same(a.via.map.ptr[i].val, *other)) return false;
            }
            return true;
        default: return false;
    }
}

const PointArray* array_of(const Message& m, const std::string& name) {
    if (const auto* p = std::get_if<Pose>(&m)) {
        if (name == "landmarks" && p->landmarks) return &*p->landmarks;
        if (name == "blendshapes" && p->blendshapes) return &*p->blendshapes;
        if (name == "head" && p->head) return &*p->head;
    }
    if (const auto* b = std::get_if<Bound>(&m); b != nullptr && name == "neutral") return &b->neutral;
    return nullptr;
}

bool is_absent(const Message& m, const std::string& name) {
    if (const auto* p = std::get_if<Pose>(&m)) {
        if (name == "landmarks") return !p->landmarks;
        if (name == "blendshapes") return !p->blendshapes;
        if (name == "head") return !p->head;
        if (name == "tracking") return !p->tracking;
    }
    if (const auto* e = std::get_if<Error>(&m)) {
        if (name == "seq") return !e->seq;
        if (name == "ref") return !e->ref;
    }
    if (const auto* f = std::get_if<Frame>(&m)) {
        if (name == "slot") return !f->slot;
        if (name == "slot_seq") return !f->slot_seq;
    }
    if (const auto* b = std::get_if<Bound>(&m); b != nullptr && name == "shm") return !b->shm;
    return false;  // an absent-list name this test does not know: fail loudly
}

bool is_request(const Message& m) {
    return std::holds_alternative<Hello>(m) || std::holds_alternative<Bind>(m) || std::holds_alternative<Pose>(m) ||
           std::holds_alternative<Ping>(m) || std::holds_alternative<Stats>(m) || std::holds_alternative<Characters>(m) ||
           std::holds_alternative<Bye>(m) || std::holds_alternative<Npc>(m) || std::holds_alternative<Audio>(m);
}

void check_valid(const std::string& dir, const msgpack::object& entry, double tolerance, Report& r) {
    const std::string file = *as_string(field(entry, "file"));
    const auto raw = read_file(dir + "/" + file);
    Message m;
    try {
        m = decode(raw.data(), raw.size());
    } catch (const std::exception& e) {
        r.fail(file + " decodes", e.what());
        return;
    }
    r.check(type_name(m) == *as_string(field(entry, "type")), file + " type", type_name(m));
    const auto again = encode(m);
    r.check(again == raw, file + " encodes back to the same bytes",
            str(again.size()) + " bytes vs " + str(raw.size()));
    if (is_request(m)) {
        try {
            check_bounds(raw.data(), raw.size(), kRequestBounds);
            r.check(true, file + " within the daemon's request bounds");
        } catch (const std::exception& e) {
            r.fail(file + " within the daemon's request bounds", e.what());
        }
    }
    // fields: compared with what the typed message writes (so every field went through its struct)
    auto oh = msgpack::unpack(reinterpret_cast<const char*>(again.data()), again.size());
    if (const auto* fields = field(entry, "fields")) {
        for (std::uint32_t i = 0; i < fields->via.map.size; ++i) {
            const std::string k = *as_string(&fields->via.map.ptr[i].key);
            const auto* got = field(oh.get(), k.c_str());
            r.check(got != nullptr && same(*got, fields->via.map.ptr[i].val), file + " field " + k);
        }
    }
    if (const auto* arrays = field(entry, "arrays")) {
        for (std::uint32_t i = 0; i < arrays->via.map.size; ++i) {
            const std::string k = *as_string(&arrays->via.map.ptr[i].key);
            const auto& want = arrays->via.map.ptr[i].val;
            const PointArray* a = array_of(m, k);
            if (!r.check(a != nullptr, file + " array " + k + " present")) continue;
            const auto* shape = field(want, "shape");
            bool shape_ok = shape->via.array.size == a->shape.size();
            for (std::uint32_t d = 0; shape_ok && d < a->shape.size(); ++d)
                shape_ok = *as_int(&shape->via.array.ptr[d]) == a->shape[d];
            r.check(shape_ok, file + " array " + k + " shape");
            double sum = 0;
            for (float v : a->values) sum += v;
            const double want_sum = *as_number(field(want, "sum"));
            r.check(std::fabs(sum - want_sum) <= tolerance, file + " array " + k + " sum", str(sum) + " vs " + str(want_sum));
            const auto* first = field(want, "first");
            bool first_ok = first->via.array.size <= a->values.size();
            for (std::uint32_t j = 0; first_ok && j < first->via.array.size; ++j)
                first_ok = a->values[j] == static_cast<float>(*as_number(&first->via.array.ptr[j]));
            r.check(first_ok, file + " array " + k + " first values");
            if (const auto* fmt = field(want, "format"); fmt != nullptr && fmt->type == msgpack::type::STR)
                r.check(a->format == *as_string(fmt), file + " array " + k + " format", a->format);
        }
    }
    if (const auto* bytes = field(entry, "bytes")) {
        for (std::uint32_t i = 0; i < bytes->via.map.size; ++i) {
            const std::string k = *as_string(&bytes->via.map.ptr[i].key);
            const auto want = *as_int(field(bytes->via.map.ptr[i].val, "length"));
            const std::vector<std::uint8_t>* got = nullptr;  // the message's bytes field of that name
            if (const auto* f = std::get_if<Frame>(&m); f != nullptr && k == "data") got = &f->data;
            if (const auto* a = std::get_if<Audio>(&m); a != nullptr && k == "pcm") got = &a->pcm;
            r.check(got != nullptr && static_cast<std::int64_t>(got->size()) == want, file + " bytes " + k + " length");
        }
    }
    if (const auto* absent = field(entry, "absent")) {
        for (std::uint32_t i = 0; i < absent->via.array.size; ++i) {
            const std::string k = *as_string(&absent->via.array.ptr[i]);
            r.check(is_absent(m, k), file + " " + k + " absent");
        }
    }
}

void check_invalid(const std::string& dir, const msgpack::object& entry, Report& r) {
    const std::string file = *as_string(field(entry, "file"));
    const auto raw = read_file(dir + "/" + file);
    const int want_code = static_cast<int>(*as_int(field(entry, "error_code")));
    const auto want_seq = as_int(field(entry, "seq"));
    const auto want_ref = as_string(field(entry, "ref"));
    try {
        Message m = decode(raw.data(), raw.size(), kRequestBounds, kMaxRequestBytes);
        r.fail(file + " is refused", std::string("decoded as ") + type_name(m));
    } catch (const ProtocolError& e) {
        r.check(static_cast<int>(e.code) == want_code, file + " code", str(static_cast<int>(e.code)) + " " + e.what());
        r.check(error_name(want_code) == *as_string(field(entry, "error_name")), file + " error name");
        r.check(e.seq == want_seq, file + " seq");
        r.check(e.ref == want_ref, file + " ref", e.ref.value_or("(none)"));
    }
}

}  // namespace

int run_fixture_tests(const std::string& dir, const std::string& index_path, Report& r) {
    const auto raw = read_file(index_path);
    auto oh = msgpack::unpack(reinterpret_cast<const char*>(raw.data()), raw.size());
    const auto& index = oh.get();
    const double tolerance = *as_number(field(index, "sum_tolerance"));
    const auto* codes = field(index, "error_codes");
    for (std::uint32_t i = 0; i < codes->via.map.size; ++i) {
        const auto name = *as_string(&codes->via.map.ptr[i].key);
        const int code = static_cast<int>(*as_int(&codes->via.map.ptr[i].val));
        r.check(name == error_name(code), "error code " + str(code) + " is " + name);
    }
    const auto* valid = field(index, "valid");
    for (std::uint32_t i = 0; i < valid->via.array.size; ++i) check_valid(dir, valid->via.array.ptr[i], tolerance, r);
    const auto* invalid = field(index, "invalid");
    for (std::uint32_t i = 0; i < invalid->via.array.size; ++i) check_invalid(dir, invalid->via.array.ptr[i], r);
    std::cout << valid->via.array.size << " valid and " << invalid->via.array.size << " invalid fixtures" << std::endl;
    return 0;
}

// ------------------------------------------------------------------ unit checks

namespace {

std::vector<std::uint8_t> pack_with(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& fn) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    fn(pk);
    return {reinterpret_cast<const std::uint8_t*>(buf.data()), reinterpret_cast<const std::uint8_t*>(buf.data()) + buf.size()};
}

void expect_code(Report& r, const std::string& name, const std::vector<std::uint8_t>& raw, ErrorCode code,
                 const DecodeBounds& bounds, const std::string& what_contains = "") {
    try {
        decode(raw.data(), raw.size(), bounds);
        r.fail(name, "decoded");
    } catch (const ProtocolError& e) {
        r.check(e.code == code && std::string(e.what()).find(what_contains) != std::string::npos, name,
                str(static_cast<int>(e.code)) + " " + e.what());
    }
}

void map_header(msgpack::packer<msgpack::sbuffer>& pk, std::uint32_t n) { pk.pack_map(n); }
void kv_str(msgpack::packer<msgpack::sbuffer>& pk, const char* k, const char* v) {
    pk.pack(std::string(k));
    pk.pack(std::string(v));
}

}  // namespace

int run_unit_tests(Report& r) {
    // floats go out as float64 even when integral (msgpack-cxx 4 alone would write 2.0 as 2)
    const auto ping = encode(Ping{2.0, 1});
    r.check(ping.size() > 10 && ping[1 + 7] == 0xcb, "an integral t_send is written as float64");
    // the largest request this client sends stays inside the daemon's decode bounds
    Pose p;
    p.seq = (1LL << 62);
    p.t_send = 1.5;
    p.tracking = std::string(256, 'x');
    p.blendshapes = make_array({52}, std::vector<float>(52, 0.5f));
    p.head = make_array({3}, {0.1f, 0.2f, 0.3f});
    const auto big = encode(p);
    try {
        check_bounds(big.data(), big.size(), kRequestBounds);
        r.check(true, "a pose with blendshapes, head and tracking is within the request bounds");
    } catch (const std::exception& e) {
        r.fail("a pose with blendshapes, head and tracking is within the request bounds", e.what());
    }
    // bounds: refused before anything is built
    expect_code(r, "an array of 33 items in a request", pack_with([](auto& pk) {
        map_header(pk, 3); kv_str(pk, "type", "hello"); pk.pack(std::string("v")); pk.pack(1);
        pk.pack(std::string("versions")); pk.pack_array(33); for (int i = 0; i < 33; ++i) pk.pack(1); }),
        ErrorCode::Malformed, kRequestBounds, "too complex");
    expect_code(r, "nesting 9 deep in a request", pack_with([](auto& pk) {
        map_header(pk, 3); kv_str(pk, "type", "hello"); pk.pack(std::string("v")); pk.pack(1);
        pk.pack(std::string("x")); for (int i = 0; i < 8; ++i) pk.pack_array(1); pk.pack(1); }),
        ErrorCode::Malformed, kRequestBounds, "too complex");
    expect_code(r, "a map of 1025 entries in a reply", pack_with([](auto& pk) {
        map_header(pk, 1025); for (int i = 0; i < 1025; ++i) { pk.pack(std::to_string(i)); pk.pack(i); } }),
        ErrorCode::Malformed, kReplyBounds, "too complex");
    expect_code(r, "65537 items in a reply", pack_with([](auto& pk) {
        map_header(pk, 1); pk.pack(std::string("x")); pk.pack_array(17);
        for (int i = 0; i < 17; ++i) { pk.pack_array(4000); for (int j = 0; j < 4000; ++j) pk.pack_nil(); } }),
        ErrorCode::Malformed, kReplyBounds, "too complex");
    // a header that claims 4 billion items in 5 bytes: refused by its count, nothing allocated
    expect_code(r, "an array header of 2^32-1 items", {0xdd, 0xff, 0xff, 0xff, 0xff}, ErrorCode::Malformed, kReplyBounds,
                "too complex");
    expect_code(r, "a str header of 4 GiB without its bytes", {0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xf0},
                ErrorCode::Malformed, kReplyBounds);
    expect_code(r, "a msgpack ext value", {0x81, 0xa1, 'x', 0xd4, 0x01, 0x00}, ErrorCode::Malformed, kReplyBounds, "ext");
    expect_code(r, "trailing bytes", {0x80, 0x80}, ErrorCode::Malformed, kReplyBounds);
    expect_code(r, "an empty message", {}, ErrorCode::Malformed, kReplyBounds);
    std::vector<std::uint8_t> huge(kMaxReplyBytes + 1, 0);
    expect_code(r, "a reply over 17 MiB", huge, ErrorCode::TooLarge, kReplyBounds);
    // a frame whose pixel_format is not one of the protocol's
    Frame f;
    f.seq = 1; f.character = "x"; f.width = 1; f.height = 1; f.pixel_format = "yuv420";
    expect_code(r, "a frame in an unknown pixel format", encode(f), ErrorCode::Unsupported, kReplyBounds);
    // ARKit names, case-insensitively (Live Link Face sends "JawOpen")
    r.check(blendshape_index("jawOpen") == std::optional<std::size_t>(24), "jawOpen is index 24");
    r.check(blendshape_index("JawOpen") == std::optional<std::size_t>(24), "JawOpen (Live Link Face) is index 24");
    r.check(blendshape_index("TongueOut") == std::optional<std::size_t>(51), "TongueOut is the last");
    r.check(!blendshape_index("HeadYaw"), "HeadYaw is not a blendshape");
    BlendshapeWeights w;
    r.check(w.set("EyeBlinkLeft", 1.7f) && w.values()[8] == 1.0f, "weights are clamped into [0, 1]");
    r.check(!w.set("NotAShape", 0.5f), "an unknown name is refused");
    // FRotator -> yaw/pitch/roll
    const auto h = head_from_unreal_rotator(10.0f, 350.0f, 5.0f);
    const float deg = 3.14159265f / 180.0f;
    r.check(std::fabs(h[0] + 10 * deg) < 1e-5f && std::fabs(h[1] + 10 * deg) < 1e-5f && std::fabs(h[2] + 5 * deg) < 1e-5f,
            "FRotator(10, 350, 5) is yaw -10 deg, pitch -10 deg, roll -5 deg", str(h[0]) + " " + str(h[1]) + " " + str(h[2]));
    return 0;
}

}  // namespace fctest
