#include "facecast/bounds.hpp"

#include <string>
#include <vector>

#include "facecast/errors.hpp"

namespace facecast {
namespace {

[[noreturn]] void malformed(const std::string& why) { throw ProtocolError(ErrorCode::Malformed, why); }
[[noreturn]] void too_complex(const std::string& why) { throw ProtocolError(ErrorCode::Malformed, "too complex: " + why); }

struct Walker {
    const std::uint8_t* p;
    std::size_t size;
    const DecodeBounds& b;
    std::size_t pos = 0;
    std::uint64_t items = 0;

    std::uint64_t be(std::size_t n) {
        if (size - pos < n) malformed("truncated msgpack value");
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[pos + i];
        pos += n;
        return v;
    }
    void skip(std::uint64_t n) {
        if (size - pos < n) malformed("truncated msgpack value");
        pos += static_cast<std::size_t>(n);
    }
    void count(std::uint64_t n) {
        items += n;
        if (items > b.max_items) too_complex("more than " + std::to_string(b.max_items) + " items");
    }
    void str(std::uint64_t n) {
        if (n > b.max_str_bytes) too_complex("a string or bin of " + std::to_string(n) + " bytes");
        skip(n);
    }
    void bin(std::uint64_t n) { skip(n); }  // bin is bounded by the message size alone

    // An explicit stack of "values still to read" per open container: no recursion.
    void run() {
        std::vector<std::uint64_t> open;  // values left in each open container
        open.reserve(b.max_depth + 1);
        std::uint64_t pending_top = 1;
        for (;;) {
            std::uint64_t& left = open.empty() ? pending_top : open.back();
            if (left == 0) {
                if (open.empty()) break;
                open.pop_back();
                continue;
            }
            --left;
            count(1);
            if (pos >= size) malformed("truncated msgpack value");
            const std::uint8_t t = p[pos++];
            std::uint64_t children = 0;
            bool container = false;
            if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            } else if ((t & 0xf0) == 0x80 || t == 0xde || t == 0xdf) {
                std::uint64_t n = (t & 0xf0) == 0x80 ? (t & 0x0f) : be(t == 0xde ? 2 : 4);
                if (n > b.max_map_len) too_complex("a map of " + std::to_string(n) + " entries");
                children = 2 * n;
                container = true;
            } else if ((t & 0xf0) == 0x90 || t == 0xdc || t == 0xdd) {
                std::uint64_t n = (t & 0xf0) == 0x90 ? (t & 0x0f) : be(t == 0xdc ? 2 : 4);
                if (n > b.max_array_len) too_complex("an array of " + std::to_string(n) + " items");
                children = n;
                container = true;
            } else if ((t & 0xe0) == 0xa0) {
                str(t & 0x1f);
            } else {
                switch (t) {
                    case 0xd9: str(be(1)); break;
                    case 0xda: str(be(2)); break;
                    case 0xdb: str(be(4)); break;
                    case 0xc4: bin(be(1)); break;
                    case 0xc5: bin(be(2)); break;
                    case 0xc6: bin(be(4)); break;
                    case 0xca: skip(4); break;
                    case 0xcb: skip(8); break;
                    case 0xcc: case 0xd0: skip(1); break;
                    case 0xcd: case 0xd1: skip(2); break;
                    case 0xce: case 0xd2: skip(4); break;
                    case 0xcf: case 0xd3: skip(8); break;
                    case 0xc7: case 0xc8: case 0xc9:
                    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
                        too_complex("a msgpack ext value");
                    default:
                        malformed("not a msgpack message (byte 0x" + std::to_string(t) + " is never used)");
                }
            }
            if (container) {
                if (open.size() + 1 > b.max_depth) too_complex("nested more than " + std::to_string(b.max_depth) + " deep");
                count(0);
                open.push_back(children);
            }
        }
        if (pos != size) malformed("trailing bytes after the msgpack value");
    }
};

}  // namespace

void check_bounds(const std::uint8_t* data, std::size_t size, const DecodeBounds& bounds) {
    if (size == 0) malformed("an empty message");
    Walker{data, size, bounds}.run();
}

}  // namespace facecast
