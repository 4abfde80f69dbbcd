// Decode bounds: how complex a msgpack message may be before anything is built from it
// (the C++ twin of src/facecast/protocol/bounded_unpack.py). The bytes are walked once,
// without allocating; only a message within every bound is handed to msgpack-cxx.
#pragma once
#include <cstddef>
#include <cstdint>

namespace facecast {

struct DecodeBounds {
    std::uint32_t max_array_len;
    std::uint32_t max_map_len;
    std::uint32_t max_str_bytes;
    std::uint32_t max_items;  // every value counts 1, a map entry 2
    std::uint32_t max_depth;  // the top-level container is depth 1
};

// What the daemon accepts in a request (REQUEST_BOUNDS); the client keeps its requests inside it.
inline constexpr DecodeBounds kRequestBounds{32, 16, 1024, 512, 8};
// What this client accepts in a reply (REPLY_BOUNDS): character lists and stats reports are larger.
inline constexpr DecodeBounds kReplyBounds{1u << 12, 1u << 10, 1u << 16, 1u << 16, 16};
// The largest reply read (a 2048^2 RGBA frame and room to spare); also the socket's ZMQ_MAXMSGSIZE.
inline constexpr std::size_t kMaxReplyBytes = 17u << 20;
// The daemon's default request size limit (max_message_bytes).
inline constexpr std::size_t kMaxRequestBytes = 4u << 20;

// Throws ProtocolError MALFORMED when the bytes are not exactly one msgpack value
// ("not msgpack", truncated, trailing bytes) or exceed a bound ("too complex: ...").
void check_bounds(const std::uint8_t* data, std::size_t size, const DecodeBounds& bounds);

}  // namespace facecast
