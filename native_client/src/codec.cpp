// Encoding and strict decoding of every protocol v1 message (docs/protocol.md sections 2-4).
#include <cmath>
#include <cstring>

#include "facecast/messages.hpp"

namespace facecast {

using Packer = msgpack::packer<msgpack::sbuffer>;

// ------------------------------------------------------------------ Generic

Generic::Generic() {
    msgpack::zone z;
    msgpack::object empty_map;
    empty_map.type = msgpack::type::MAP;
    empty_map.via.map.size = 0;
    empty_map.via.map.ptr = nullptr;
    handle_ = std::make_shared<msgpack::object_handle>(msgpack::clone(empty_map));
}

Generic::Generic(const msgpack::object& o) : handle_(std::make_shared<msgpack::object_handle>(msgpack::clone(o))) {}

static const msgpack::object* map_find(const msgpack::object& m, const std::string& key) {
    if (m.type != msgpack::type::MAP) return nullptr;
    for (std::uint32_t i = 0; i < m.via.map.size; ++i) {
        const auto& kv = m.via.map.ptr[i];
        if (kv.key.type == msgpack::type::STR && kv.key.via.str.size == key.size() &&
            std::memcmp(kv.key.via.str.ptr, key.data(), key.size()) == 0)
            return kv.val.type == msgpack::type::NIL ? nullptr : &kv.val;  // nil counts as absent
    }
    return nullptr;
}

const msgpack::object* Generic::find(const std::string& key) const { return map_find(get(), key); }

std::optional<std::int64_t> as_int(const msgpack::object* o) {
    if (o == nullptr) return std::nullopt;
    if (o->type == msgpack::type::POSITIVE_INTEGER && o->via.u64 <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(o->via.u64);
    if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
    return std::nullopt;
}

std::optional<double> as_number(const msgpack::object* o) {
    if (o == nullptr) return std::nullopt;
    if (o->type == msgpack::type::FLOAT64 || o->type == msgpack::type::FLOAT32) return o->via.f64;
    if (auto i = as_int(o)) return static_cast<double>(*i);
    return std::nullopt;
}

std::optional<std::string> as_string(const msgpack::object* o) {
    if (o == nullptr || o->type != msgpack::type::STR) return std::nullopt;
    return std::string(o->via.str.ptr, o->via.str.size);
}

double Frame::timing(const std::string& key) const {
    for (const auto& [k, v] : timings)
        if (k == key) return v;
    return 0.0;
}

// ------------------------------------------------------------------ encoding

namespace {

void pack_f64(msgpack::sbuffer& buf, double d) {  // always float64 (msgpack-cxx 4 writes 2.0 as 2)
    std::uint64_t bits;
    std::memcpy(&bits, &d, 8);
    char out[9];
    out[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
    buf.write(out, 9);
}

void pack_str(Packer& pk, const std::string& s) {
    pk.pack_str(static_cast<std::uint32_t>(s.size()));
    pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

void pack_bin(Packer& pk, const void* p, std::size_t n) {
    pk.pack_bin(static_cast<std::uint32_t>(n));
    pk.pack_bin_body(static_cast<const char*>(p), static_cast<std::uint32_t>(n));
}

void pack_int(Packer& pk, std::int64_t v) { pk.pack_int64(v); }

// A received value written back as it came (float64 kept float64).
void pack_object(Packer& pk, msgpack::sbuffer& buf, const msgpack::object& o) {
    switch (o.type) {
        case msgpack::type::FLOAT64: pack_f64(buf, o.via.f64); break;
        case msgpack::type::FLOAT32: {
            float f = static_cast<float>(o.via.f64);
            std::uint32_t bits;
            std::memcpy(&bits, &f, 4);
            char out[5] = {static_cast<char>(0xca), static_cast<char>(bits >> 24), static_cast<char>(bits >> 16),
                           static_cast<char>(bits >> 8), static_cast<char>(bits)};
            buf.write(out, 5);
            break;
        }
        case msgpack::type::ARRAY:
            pk.pack_array(o.via.array.size);
            for (std::uint32_t i = 0; i < o.via.array.size; ++i) pack_object(pk, buf, o.via.array.ptr[i]);
            break;
        case msgpack::type::MAP:
            pk.pack_map(o.via.map.size);
            for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
                pack_object(pk, buf, o.via.map.ptr[i].key);
                pack_object(pk, buf, o.via.map.ptr[i].val);
            }
            break;
        default: pk.pack(o); break;
    }
}

void pack_array_value(Packer& pk, const PointArray& a) {
    pk.pack_map(a.format.empty() ? 3 : 4);
    if (!a.format.empty()) { pack_str(pk, "format"); pack_str(pk, a.format); }
    pack_str(pk, "dtype"); pack_str(pk, "f32");
    pack_str(pk, "shape");
    pk.pack_array(static_cast<std::uint32_t>(a.shape.size()));
    for (auto n : a.shape) pk.pack_uint32(n);
    pack_str(pk, "data");
    std::vector<std::uint8_t> le(a.values.size() * 4);
    for (std::size_t i = 0; i < a.values.size(); ++i) {
        std::uint32_t bits;
        std::memcpy(&bits, &a.values[i], 4);
        for (int b = 0; b < 4; ++b) le[4 * i + b] = static_cast<std::uint8_t>(bits >> (8 * b));
    }
    pack_bin(pk, le.data(), le.size());
}

// Collects one message's fields, then writes them as a map with "v" and "type" last.
struct MapWriter {
    msgpack::sbuffer buf;
    Packer pk{buf};
    msgpack::sbuffer body;
    Packer bpk{body};
    std::uint32_t n = 0;
    void key(const char* k) { ++n; pack_str(bpk, k); }
    void str(const char* k, const std::string& v) { key(k); pack_str(bpk, v); }
    void i64(const char* k, std::int64_t v) { key(k); pack_int(bpk, v); }
    void f64(const char* k, double v) { key(k); pack_f64(body, v); }
    void nil(const char* k) { key(k); bpk.pack_nil(); }
    void boolean(const char* k, bool v) { key(k); if (v) bpk.pack_true(); else bpk.pack_false(); }
    void arr(const char* k, const PointArray& a) { key(k); pack_array_value(bpk, a); }
    void obj(const char* k, const msgpack::object& o) { key(k); pack_object(bpk, body, o); }
    std::vector<std::uint8_t> finish(const char* type) {
        pk.pack_map(n + 2);
        buf.write(body.data(), body.size());
        pack_str(pk, "v"); pk.pack_int64(kProtocolVersion);
        pack_str(pk, "type"); pack_str(pk, type);
        return {reinterpret_cast<const std::uint8_t*>(buf.data()), reinterpret_cast<const std::uint8_t*>(buf.data()) + buf.size()};
    }
};

struct Encoder {
    MapWriter w;
    const char* type;
    void operator()(const Hello& m) {
        w.str("client", m.client);
        w.key("versions");
        w.bpk.pack_array(static_cast<std::uint32_t>(m.versions.size()));
        for (auto v : m.versions) pack_int(w.bpk, v);
    }
    void operator()(const Welcome& m) {
        w.str("server", m.server); w.i64("version", m.version); w.str("session", m.session);
        w.obj("capabilities", m.capabilities.get()); w.obj("limits", m.limits.get());
    }
    void operator()(const Bind& m) {
        w.str("character", m.character); w.i64("width", m.width); w.i64("height", m.height);
        w.str("pixel_format", m.pixel_format); w.str("output", m.output); w.i64("jpeg_quality", m.jpeg_quality);
        if (m.output == "shm") w.i64("slots", m.slots);
    }
    void operator()(const Bound& m) {
        w.str("character", m.character); w.i64("width", m.width); w.i64("height", m.height);
        w.str("pixel_format", m.pixel_format); w.str("output", m.output); w.arr("neutral", m.neutral);
        if (m.shm) w.obj("shm", m.shm->get());
    }
    void operator()(const Pose& m) {
        w.i64("seq", m.seq); w.f64("t_send", m.t_send);
        if (m.tracking) w.str("tracking", *m.tracking);
        if (m.landmarks) w.arr("landmarks", *m.landmarks);
        if (m.blendshapes) w.arr("blendshapes", *m.blendshapes);
        if (m.head) w.arr("head", *m.head);
    }
    void operator()(const Frame& m) {
        w.i64("seq", m.seq); w.str("character", m.character); w.i64("width", m.width); w.i64("height", m.height);
        w.str("pixel_format", m.pixel_format);
        w.key("data"); pack_bin(w.bpk, m.data.data(), m.data.size());
        w.key("timings");
        w.bpk.pack_map(static_cast<std::uint32_t>(m.timings.size()));
        for (const auto& [k, v] : m.timings) { pack_str(w.bpk, k); pack_f64(w.body, v); }
        w.i64("superseded", m.superseded);
        if (m.slot) {
            w.i64("slot", *m.slot);
            if (m.slot_seq) w.i64("slot_seq", *m.slot_seq); else w.nil("slot_seq");
        }
    }
    void operator()(const Error& m) {
        w.i64("code", m.code); w.str("name", m.name); w.str("message", m.message);
        if (m.seq) w.i64("seq", *m.seq);
        if (m.ref) w.str("ref", *m.ref);
    }
    void operator()(const Ping& m) { w.f64("t_send", m.t_send); w.i64("seq", m.seq); }
    void operator()(const Pong& m) { w.f64("t_send", m.t_send); w.f64("t_server", m.t_server); w.i64("seq", m.seq); }
    void operator()(const StatsReport& m) { w.obj("daemon", m.daemon.get()); w.obj("session", m.session.get()); }
    void operator()(const CharacterList& m) {
        w.key("characters");
        w.bpk.pack_array(static_cast<std::uint32_t>(m.characters.size()));
        for (const auto& c : m.characters) pack_str(w.bpk, c);
    }
    void operator()(const Stats&) {}
    void operator()(const Characters&) {}
    void operator()(const Bye&) {}
    void operator()(const Goodbye&) {}
    void operator()(const Npc& m) {
        w.str("emotion", m.emotion); w.i64("seed", m.seed); w.i64("fps", m.fps); w.boolean("stop", m.stop);
    }
    void operator()(const NpcState& m) {
        w.boolean("active", m.active); w.str("emotion", m.emotion); w.i64("fps", m.fps);
        w.f64("audio_buffered_ms", m.audio_buffered_ms);
    }
    void operator()(const Audio& m) {
        w.i64("rate", m.rate); w.key("pcm"); pack_bin(w.bpk, m.pcm.data(), m.pcm.size()); w.i64("line", m.line);
    }
};

}  // namespace

const char* type_name(const Message& m) {
    static const char* const names[] = {"hello", "welcome", "bind", "bound", "pose", "frame", "error", "ping",
                                        "pong", "stats", "stats_report", "characters", "character_list", "bye", "goodbye",
                                        "npc", "npc_state", "audio"};
    return names[m.index()];
}

std::vector<std::uint8_t> encode(const Message& m) {
    Encoder e{{}, type_name(m)};
    std::visit(e, m);
    return e.w.finish(e.type);
}

PointArray make_array(std::vector<std::uint32_t> shape, std::vector<float> values, std::string format) {
    std::size_t count = 1;
    for (auto n : shape) count *= n;
    if (count != values.size()) throw std::invalid_argument("make_array: shape does not match the values");
    return PointArray{std::move(shape), std::move(values), std::move(format)};
}

// ------------------------------------------------------------------ decoding

namespace {

[[noreturn]] void fail(ErrorCode c, const std::string& why) { throw ProtocolError(c, why); }

std::size_t utf8_chars(const char* p, std::size_t n) {
    std::size_t c = 0;
    for (std::size_t i = 0; i < n; ++i) c += (static_cast<unsigned char>(p[i]) & 0xc0) != 0x80;
    return c;
}

struct Fields {
    const msgpack::object& m;
    const msgpack::object* get(const char* k) const { return map_find(m, k); }

    std::int64_t int_(const char* k, std::optional<std::int64_t> dflt = std::nullopt,
                      std::int64_t lo = INT64_MIN, std::int64_t hi = INT64_MAX) const {
        const auto* o = get(k);
        if (o == nullptr) {
            if (!dflt) fail(ErrorCode::InvalidField, std::string(k) + ": required");
            return *dflt;
        }
        auto v = as_int(o);
        if (!v) fail(ErrorCode::InvalidField, std::string(k) + ": must be an integer");
        if (*v < lo || *v > hi) fail(ErrorCode::InvalidField, std::string(k) + ": out of range");
        return *v;
    }
    std::optional<std::int64_t> opt_int(const char* k) const {
        if (get(k) == nullptr) return std::nullopt;
        return int_(k);
    }
    double float_(const char* k, std::optional<double> dflt = std::nullopt) const {
        const auto* o = get(k);
        if (o == nullptr) {
            if (!dflt) fail(ErrorCode::InvalidField, std::string(k) + ": required");
            return *dflt;
        }
        auto v = as_number(o);
        if (!v) fail(ErrorCode::InvalidField, std::string(k) + ": must be a number");
        if (!std::isfinite(*v)) fail(ErrorCode::NonFinite, std::string(k) + ": NaN or infinity");
        return *v;
    }
    bool bool_(const char* k, std::optional<bool> dflt = std::nullopt) const {
        const auto* o = get(k);
        if (o == nullptr) {
            if (!dflt) fail(ErrorCode::InvalidField, std::string(k) + ": required");
            return *dflt;
        }
        if (o->type != msgpack::type::BOOLEAN) fail(ErrorCode::InvalidField, std::string(k) + ": must be true or false");
        return o->via.boolean;
    }
    std::string str(const char* k, std::optional<std::string> dflt = std::nullopt) const {
        const auto* o = get(k);
        if (o == nullptr) {
            if (!dflt) fail(ErrorCode::InvalidField, std::string(k) + ": required");
            return *dflt;
        }
        if (o->type != msgpack::type::STR) fail(ErrorCode::InvalidField, std::string(k) + ": must be a string");
        if (utf8_chars(o->via.str.ptr, o->via.str.size) > kMaxString)
            fail(ErrorCode::InvalidField, std::string(k) + ": longer than 256 characters");
        return std::string(o->via.str.ptr, o->via.str.size);
    }
    std::optional<std::string> opt_str(const char* k) const {
        if (get(k) == nullptr) return std::nullopt;
        return str(k);
    }
    Generic map(const char* k, bool required) const {
        const auto* o = get(k);
        if (o == nullptr) {
            if (required) fail(ErrorCode::InvalidField, std::string(k) + ": required");
            return Generic();
        }
        if (o->type != msgpack::type::MAP) fail(ErrorCode::InvalidField, std::string(k) + ": must be a map");
        return Generic(*o);
    }
};

const char* const kPixelFormats[] = {"rgba8", "rgb8", "bgra8", "jpeg", "png"};
// facecast/protocol/formats.py: NPC_EMOTIONS, MIN/MAX_NPC_FPS, MIN/MAX_AUDIO_RATE, MAX_AUDIO_CHUNK_BYTES
const char* const kNpcEmotions[] = {"neutral", "happy", "angry", "sad", "surprised"};
constexpr std::int64_t kMinNpcFps = 1, kMaxNpcFps = 60, kMinAudioRate = 8000, kMaxAudioRate = 48000;
constexpr std::uint32_t kMaxAudioChunkBytes = 65536;

std::string pixel_format(const Fields& f, std::optional<std::string> dflt) {
    std::string v = f.str("pixel_format", std::move(dflt));
    for (const char* p : kPixelFormats)
        if (v == p) return v;
    fail(ErrorCode::Unsupported, "pixel_format '" + v + "' is not one of rgba8, rgb8, bgra8, jpeg, png");
}

PointArray read_array(const char* field, const msgpack::object* o, const std::vector<std::uint32_t>& expected,
                      const std::string& format = "") {
    const std::string f(field);
    if (o == nullptr || o->type != msgpack::type::MAP) fail(ErrorCode::BadArray, f + ": expected a map with dtype/shape/data");
    auto dtype = as_string(map_find(*o, "dtype"));
    if (!dtype || *dtype != "f32") fail(ErrorCode::BadArray, f + ": dtype must be 'f32'");
    const auto* shape = map_find(*o, "shape");
    if (shape == nullptr || shape->type != msgpack::type::ARRAY || shape->via.array.size == 0)
        fail(ErrorCode::BadArray, f + ": shape must be a non-empty list of non-negative ints");
    PointArray a;
    a.format = format;
    std::uint64_t count = 1;
    for (std::uint32_t i = 0; i < shape->via.array.size; ++i) {
        const auto& n = shape->via.array.ptr[i];
        if (n.type != msgpack::type::POSITIVE_INTEGER) fail(ErrorCode::BadArray, f + ": shape must be a non-empty list of non-negative ints");
        if (n.via.u64 > kMaxArrayElements) fail(ErrorCode::BadArray, f + ": too many elements");
        count *= n.via.u64;
        if (count > kMaxArrayElements) fail(ErrorCode::BadArray, f + ": too many elements");
        a.shape.push_back(static_cast<std::uint32_t>(n.via.u64));
    }
    const auto* data = map_find(*o, "data");
    if (data == nullptr || data->type != msgpack::type::BIN) fail(ErrorCode::BadArray, f + ": data must be raw bytes (msgpack bin)");
    if (data->via.bin.size != count * 4) fail(ErrorCode::BadArray, f + ": data length does not match the shape");
    if (a.shape != expected) fail(ErrorCode::BadArray, f + ": unexpected shape");
    a.values.resize(count);
    const auto* p = reinterpret_cast<const unsigned char*>(data->via.bin.ptr);
    for (std::size_t i = 0; i < count; ++i) {
        std::uint32_t bits = p[4 * i] | (p[4 * i + 1] << 8) | (p[4 * i + 2] << 16) | (static_cast<std::uint32_t>(p[4 * i + 3]) << 24);
        std::memcpy(&a.values[i], &bits, 4);
        if (!std::isfinite(a.values[i])) fail(ErrorCode::NonFinite, f + ": contains NaN or infinity");
    }
    return a;
}

const std::vector<std::uint32_t>* landmark_shape(const std::string& format) {
    static const std::vector<std::uint32_t> mp{478, 3}, ib{68, 3};
    if (format == "mediapipe478") return &mp;
    if (format == "ibug68") return &ib;
    return nullptr;
}

PointArray read_landmarks(const char* field, const msgpack::object* o, const char* only_format = nullptr) {
    auto fmt = o != nullptr && o->type == msgpack::type::MAP ? as_string(map_find(*o, "format")) : std::nullopt;
    const auto* shape = fmt ? landmark_shape(*fmt) : nullptr;
    if (shape == nullptr || (only_format != nullptr && *fmt != only_format))
        fail(ErrorCode::BadArray, std::string(field) + ".format unknown");
    return read_array(field, o, *shape, *fmt);
}

std::vector<std::int64_t> int_list(const msgpack::object* o, const char* field) {
    if (o->type != msgpack::type::ARRAY) fail(ErrorCode::InvalidField, std::string(field) + ": must be a list");
    std::vector<std::int64_t> out;
    for (std::uint32_t i = 0; i < o->via.array.size; ++i) {
        auto v = as_int(&o->via.array.ptr[i]);
        if (!v) fail(ErrorCode::InvalidField, std::string(field) + ": must hold integers");
        out.push_back(*v);
    }
    return out;
}

Message decode_body(const std::string& type, const Fields& f) {
    if (type == "hello") {
        Hello m;
        if (const auto* v = f.get("versions")) m.versions = int_list(v, "versions");
        m.client = f.str("client", "");
        bool speaks = false;
        for (auto v : m.versions) speaks |= v == kProtocolVersion;
        if (!speaks) fail(ErrorCode::UnsupportedVersion, "hello: versions lacks 1");
        return m;
    }
    if (type == "welcome") {
        return Welcome{f.str("server"), f.int_("version"), f.str("session"), f.map("capabilities", false), f.map("limits", false)};
    }
    if (type == "bind") {
        Bind m;
        m.character = f.str("character");
        m.width = f.int_("width", 256, 16, 2048);
        m.height = f.int_("height", 256, 16, 2048);
        m.pixel_format = pixel_format(f, "rgba8");
        m.output = f.str("output", "inline");
        m.jpeg_quality = f.int_("jpeg_quality", 90, 1, 100);
        if (m.output == "shm") m.slots = f.int_("slots", 3, 2, 16);
        return m;
    }
    if (type == "bound") {
        Bound m;
        m.character = f.str("character"); m.width = f.int_("width"); m.height = f.int_("height");
        m.pixel_format = f.str("pixel_format"); m.output = f.str("output");
        m.neutral = read_landmarks("neutral", f.get("neutral"), "mediapipe478");
        if (f.get("shm") != nullptr) m.shm = f.map("shm", true);
        return m;
    }
    if (type == "pose") {
        Pose m;
        m.seq = f.int_("seq", std::nullopt, 0);
        m.t_send = f.float_("t_send", 0.0);
        m.tracking = f.opt_str("tracking");
        const bool has_l = f.get("landmarks") != nullptr, has_b = f.get("blendshapes") != nullptr;
        if (has_l == has_b) fail(ErrorCode::InvalidField, "a pose carries exactly one of 'landmarks' or 'blendshapes'");
        if (has_l) {
            m.landmarks = read_landmarks("landmarks", f.get("landmarks"));
            for (float v : m.landmarks->values)
                if (std::fabs(v) > kMaxLandmarkValue) fail(ErrorCode::BadArray, "landmarks: coordinates must be normalized (|value| <= 100)");
        } else {
            m.blendshapes = read_array("blendshapes", f.get("blendshapes"), {52});
            if (f.get("head") != nullptr) m.head = read_array("head", f.get("head"), {3});
        }
        return m;
    }
    if (type == "frame") {
        Frame m;
        if (const auto* t = f.get("timings")) {
            if (t->type != msgpack::type::MAP) fail(ErrorCode::InvalidField, "timings: must be a map");
            for (std::uint32_t i = 0; i < t->via.map.size; ++i) {
                auto k = as_string(&t->via.map.ptr[i].key);
                auto v = as_number(&t->via.map.ptr[i].val);
                if (!k || !v) fail(ErrorCode::InvalidField, "timings: must map names to numbers");
                if (!std::isfinite(*v)) fail(ErrorCode::NonFinite, "timings: NaN or infinity");
                m.timings.emplace_back(*k, *v);
            }
        }
        m.seq = f.int_("seq"); m.character = f.str("character"); m.width = f.int_("width"); m.height = f.int_("height");
        m.pixel_format = pixel_format(f, std::nullopt);
        const auto* d = f.get("data");
        if (d == nullptr || d->type != msgpack::type::BIN) fail(ErrorCode::InvalidField, "data: must be bytes (msgpack bin)");
        m.data.assign(reinterpret_cast<const std::uint8_t*>(d->via.bin.ptr), reinterpret_cast<const std::uint8_t*>(d->via.bin.ptr) + d->via.bin.size);
        m.superseded = f.int_("superseded", 0);
        m.slot = f.opt_int("slot");
        if (m.slot) m.slot_seq = f.opt_int("slot_seq");
        return m;
    }
    if (type == "error") {
        return Error{f.int_("code"), f.str("name"), f.str("message", ""), f.opt_int("seq"), f.opt_str("ref")};
    }
    if (type == "ping") return Ping{f.float_("t_send", 0.0), f.int_("seq", 0)};
    if (type == "pong") return Pong{f.float_("t_send"), f.float_("t_server"), f.int_("seq", 0)};
    if (type == "stats") return Stats{};
    if (type == "stats_report") return StatsReport{f.map("daemon", true), f.map("session", false)};
    if (type == "characters") return Characters{};
    if (type == "character_list") {
        const auto* c = f.get("characters");
        if (c == nullptr || c->type != msgpack::type::ARRAY) fail(ErrorCode::InvalidField, "characters: required list");
        CharacterList m;
        for (std::uint32_t i = 0; i < c->via.array.size; ++i) {
            auto s = as_string(&c->via.array.ptr[i]);
            if (!s) fail(ErrorCode::InvalidField, "characters: must hold strings");
            m.characters.push_back(*s);
        }
        return m;
    }
    if (type == "bye") return Bye{};
    if (type == "goodbye") return Goodbye{};
    if (type == "npc") {
        Npc m;
        m.emotion = f.str("emotion", "neutral");
        bool known = false;
        for (const char* e : kNpcEmotions) known |= m.emotion == e;
        if (!known) fail(ErrorCode::Unsupported, "emotion '" + m.emotion + "' is not one of neutral, happy, angry, sad, surprised");
        m.seed = f.int_("seed", 0, 0, 4294967295LL);
        m.fps = f.int_("fps", 30, kMinNpcFps, kMaxNpcFps);
        m.stop = f.bool_("stop", false);
        return m;
    }
    if (type == "npc_state") {
        return NpcState{f.bool_("active"), f.str("emotion"), f.int_("fps"), f.float_("audio_buffered_ms", 0.0)};
    }
    if (type == "audio") {
        Audio m;
        m.rate = f.int_("rate", std::nullopt, kMinAudioRate, kMaxAudioRate);
        const auto* p = f.get("pcm");
        if (p == nullptr || p->type != msgpack::type::BIN) fail(ErrorCode::InvalidField, "pcm: must be bytes (msgpack bin)");
        if (p->via.bin.size > kMaxAudioChunkBytes) fail(ErrorCode::TooLarge, "pcm: audio chunk over 65536 bytes");
        if (p->via.bin.size % 2) fail(ErrorCode::InvalidField, "pcm: must be whole 16-bit samples (an even byte count)");
        m.pcm.assign(reinterpret_cast<const std::uint8_t*>(p->via.bin.ptr), reinterpret_cast<const std::uint8_t*>(p->via.bin.ptr) + p->via.bin.size);
        m.line = f.int_("line", 0, 0, 4294967295LL);
        return m;
    }
    fail(ErrorCode::UnknownType, "unknown message type '" + type + "'");
}

}  // namespace

Message decode(const std::uint8_t* data, std::size_t size, const DecodeBounds& bounds, std::size_t max_bytes) {
    if (size > max_bytes) fail(ErrorCode::TooLarge, "message of " + std::to_string(size) + " bytes exceeds the limit");
    check_bounds(data, size, bounds);  // nothing is built before this passed
    msgpack::object_handle oh;
    try {
        oh = msgpack::unpack(reinterpret_cast<const char*>(data), size);
    } catch (const std::exception& e) {
        fail(ErrorCode::Malformed, std::string("not a msgpack message: ") + e.what());
    }
    const msgpack::object& obj = oh.get();
    if (obj.type != msgpack::type::MAP) fail(ErrorCode::Malformed, "top level must be a map");
    for (std::uint32_t i = 0; i < obj.via.map.size; ++i)
        if (obj.via.map.ptr[i].key.type != msgpack::type::STR) fail(ErrorCode::Malformed, "map keys must be strings");
    const Fields f{obj};
    std::optional<std::string> type;
    std::optional<std::int64_t> seq;
    if (const auto* t = f.get("type"); t != nullptr && t->type == msgpack::type::STR && utf8_chars(t->via.str.ptr, t->via.str.size) <= kMaxString)
        type = std::string(t->via.str.ptr, t->via.str.size);
    if (const auto* s = f.get("seq"); s != nullptr && s->type == msgpack::type::POSITIVE_INTEGER && s->via.u64 <= static_cast<std::uint64_t>(INT64_MAX))
        seq = static_cast<std::int64_t>(s->via.u64);
    try {
        auto v = as_int(f.get("v"));
        if (!v || *v != kProtocolVersion || f.get("v")->type == msgpack::type::BOOLEAN)
            fail(ErrorCode::UnsupportedVersion, "protocol version not supported; supported: [1]");
        if (!type) fail(ErrorCode::UnknownType, "message without a type");
        return decode_body(*type, f);
    } catch (ProtocolError& e) {
        e.seq = seq;
        e.ref = type;
        throw;
    }
}

const char* error_name(int code) {
    switch (code) {
        case 100: return "MALFORMED";
        case 101: return "UNSUPPORTED_VERSION";
        case 102: return "UNKNOWN_TYPE";
        case 103: return "INVALID_FIELD";
        case 104: return "BAD_ARRAY";
        case 105: return "NON_FINITE";
        case 106: return "TOO_LARGE";
        case 200: return "NOT_BOUND";
        case 201: return "UNKNOWN_CHARACTER";
        case 202: return "UNSUPPORTED";
        case 203: return "SESSION_LIMIT";
        case 204: return "RATE_LIMITED";
        case 205: return "KEY_REVOKED";
        case 500: return "RENDER_FAILED";
        case 501: return "INTERNAL";
        default: return "";
    }
}

}  // namespace facecast
