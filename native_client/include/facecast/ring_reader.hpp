// Reader of the daemon's shared-memory frame ring (docs/protocol.md section 12; the one
// definition of the layout is src/facecast/protocol/shm_layout.py). POSIX shared memory
// (shm_open) on Linux/macOS, a named file mapping on Windows. Read-only.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace facecast {

struct RingLayout {
    static constexpr std::uint32_t kHeaderBytes = 64, kSlotEntryBytes = 32, kAlign = 64, kVersion = 1;
    std::uint32_t width = 0, height = 0, pixel_format = 0, slot_count = 0;  // pixel_format: 1 rgba8, 2 rgb8, 3 bgra8
    std::uint32_t channels() const { return pixel_format == 2 ? 3 : 4; }
    std::uint32_t stride() const { return width * channels(); }
    std::uint64_t slot_bytes() const { return align(std::uint64_t(stride()) * height); }
    std::uint64_t data_offset() const { return align(kHeaderBytes + std::uint64_t(kSlotEntryBytes) * slot_count); }
    std::uint64_t total_bytes() const { return data_offset() + slot_bytes() * slot_count; }
    std::uint64_t slot_entry_offset(std::uint32_t slot) const { return kHeaderBytes + std::uint64_t(kSlotEntryBytes) * slot; }
    std::uint64_t pixels_offset(std::uint32_t slot) const { return data_offset() + slot_bytes() * slot; }
    static std::uint64_t align(std::uint64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
};

// 1 for "rgba8", 2 "rgb8", 3 "bgra8"; 0 for a format a ring cannot carry.
std::uint32_t ring_pixel_format_code(const std::string& name);

class RingError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RingFrame {
    std::uint32_t slot = 0;
    std::uint64_t slot_seq = 0;   // the even lock value the copy was taken under
    std::uint64_t frame_seq = 0;  // the seq of the pose this frame answers
    double render_end = 0.0, written = 0.0;
};

class RingReader {
public:
    // Opens and validates the ring `name` (as in bound.shm.name). Throws RingError.
    explicit RingReader(const std::string& name);
    ~RingReader();
    RingReader(const RingReader&) = delete;
    RingReader& operator=(const RingReader&) = delete;

    const RingLayout& layout() const { return layout_; }
    const std::string& name() const { return name_; }
    std::uint64_t write_count() const;
    bool closed() const;  // the daemon marked the ring closed (about to unlink it)

    // Copies slot `slot` into `pixels` (resized to stride*height) under the seqlock. With
    // `slot_seq`, only the frame written with that lock value (RingError if since reused).
    RingFrame read(std::uint32_t slot, std::optional<std::uint64_t> slot_seq, std::vector<std::uint8_t>& pixels,
                   int retries = 3) const;
    // The newest complete frame, nullopt before the first one.
    std::optional<RingFrame> read_latest(std::vector<std::uint8_t>& pixels) const;

private:
    std::uint64_t load_u64(std::uint64_t offset) const;
    std::uint32_t load_u32(std::uint64_t offset) const;
    std::string name_;
    const std::uint8_t* base_ = nullptr;
    std::size_t size_ = 0;
    RingLayout layout_;
#ifdef _WIN32
    void* mapping_ = nullptr;
#endif
};

}  // namespace facecast
