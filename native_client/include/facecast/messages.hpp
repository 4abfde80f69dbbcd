// Protocol v1 messages (docs/protocol.md section 4), one struct per message type, and their
// msgpack encoding. Follows src/facecast/protocol/messages.py field for field: the same
// keys in the same order, floats always as float64, point arrays as little-endian float32.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <msgpack.hpp>

#include "facecast/bounds.hpp"
#include "facecast/errors.hpp"

namespace facecast {

inline constexpr int kProtocolVersion = 1;
inline constexpr std::size_t kMaxString = 256;          // characters in a string field
inline constexpr std::size_t kMaxArrayElements = 1u << 20;
inline constexpr float kMaxLandmarkValue = 100.0f;

// A free-form msgpack value kept as received (welcome capabilities, stats maps, ...).
class Generic {
public:
    Generic();
    explicit Generic(const msgpack::object& o);
    const msgpack::object& get() const { return handle_->get(); }
    // A map entry by key, nullptr when absent (or when this is not a map).
    const msgpack::object* find(const std::string& key) const;
private:
    std::shared_ptr<msgpack::object_handle> handle_;
};

// Raw float32 values plus a shape; `format` only for landmark arrays ("" otherwise).
struct PointArray {
    std::vector<std::uint32_t> shape;
    std::vector<float> values;  // row-major
    std::string format;
};

struct Hello { std::string client; std::vector<std::int64_t> versions{kProtocolVersion}; };
struct Welcome { std::string server; std::int64_t version = 0; std::string session; Generic capabilities; Generic limits; };
struct Bind {
    std::string character;
    std::int64_t width = 256, height = 256;
    std::string pixel_format = "rgba8";
    std::string output = "inline";
    std::int64_t jpeg_quality = 90;
    std::int64_t slots = 3;  // sent only with output "shm"
};
struct Bound {
    std::string character;
    std::int64_t width = 0, height = 0;
    std::string pixel_format, output;
    PointArray neutral;             // mediapipe478, [478, 3]
    std::optional<Generic> shm;     // output "shm": name, path, size, slots, layout_version
};
struct Pose {
    std::int64_t seq = 0;
    double t_send = 0.0;
    std::optional<std::string> tracking;
    std::optional<PointArray> landmarks;    // format mediapipe478 [478,3] or ibug68 [68,3]
    std::optional<PointArray> blendshapes;  // [52], ARKit order
    std::optional<PointArray> head;         // [3] yaw, pitch, roll (radians); only with blendshapes
};
struct Frame {
    std::int64_t seq = 0;
    std::string character;
    std::int64_t width = 0, height = 0;
    std::string pixel_format;
    std::vector<std::uint8_t> data;
    std::vector<std::pair<std::string, double>> timings;
    std::int64_t superseded = 0;
    std::optional<std::int64_t> slot;
    std::optional<std::int64_t> slot_seq;
    double timing(const std::string& key) const;  // 0.0 when absent
};
struct Error {
    std::int64_t code = 0;
    std::string name, message;
    std::optional<std::int64_t> seq;
    std::optional<std::string> ref;
};
struct Ping { double t_send = 0.0; std::int64_t seq = 0; };
struct Pong { double t_send = 0.0; double t_server = 0.0; std::int64_t seq = 0; };
struct Stats {};
struct StatsReport { Generic daemon; Generic session; };
struct Characters {};
struct CharacterList { std::vector<std::string> characters; };
struct Bye {};
struct Goodbye {};
// NPC sessions (docs/npc.md): the daemon generates the poses; audio chunks drive lip flap.
struct Npc { std::string emotion = "neutral"; std::int64_t seed = 0; std::int64_t fps = 30; bool stop = false; };
struct NpcState { bool active = false; std::string emotion; std::int64_t fps = 0; double audio_buffered_ms = 0.0; };
struct Audio { std::int64_t rate = 16000; std::vector<std::uint8_t> pcm; std::int64_t line = 0; };  // int16 LE mono

using Message = std::variant<Hello, Welcome, Bind, Bound, Pose, Frame, Error, Ping, Pong, Stats,
                             StatsReport, Characters, CharacterList, Bye, Goodbye, Npc, NpcState, Audio>;

const char* type_name(const Message& m);

// Message -> msgpack bytes: the same bytes facecast.protocol.encode writes.
std::vector<std::uint8_t> encode(const Message& m);

// msgpack bytes -> Message, strictly (every rule of docs/protocol.md sections 2-4), within
// `bounds` and `max_bytes`. Throws ProtocolError with the code the daemon would answer.
Message decode(const std::uint8_t* data, std::size_t size, const DecodeBounds& bounds = kReplyBounds,
               std::size_t max_bytes = kMaxReplyBytes);

// A point array from values (copied); shape's product must equal values.size().
PointArray make_array(std::vector<std::uint32_t> shape, std::vector<float> values, std::string format = "");

// Integer / number / string readers for Generic maps (nullopt when absent or of another type).
std::optional<std::int64_t> as_int(const msgpack::object* o);
std::optional<double> as_number(const msgpack::object* o);
std::optional<std::string> as_string(const msgpack::object* o);

}  // namespace facecast
