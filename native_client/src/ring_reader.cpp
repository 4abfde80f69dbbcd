#include "facecast/ring_reader.hpp"

#include <atomic>
#include <cstring>
#include <thread>

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace facecast {

namespace {
constexpr std::uint64_t kOffVersion = 4, kOffDataOffset = 8, kOffWidth = 12, kOffHeight = 16, kOffFormat = 20,
                        kOffStride = 24, kOffSlots = 28, kOffSlotBytes = 32, kOffWriteCount = 40, kOffLatest = 48,
                        kOffState = 52;
constexpr std::uint32_t kStateClosed = 2;

bool host_is_little_endian() {
    const std::uint16_t one = 1;
    unsigned char b;
    std::memcpy(&b, &one, 1);
    return b == 1;
}
}  // namespace

std::uint32_t ring_pixel_format_code(const std::string& name) {
    if (name == "rgba8") return 1;
    if (name == "rgb8") return 2;
    if (name == "bgra8") return 3;
    return 0;
}

// The ring's words are written by another process: read them with acquire loads (the
// mapping is page aligned and every word is naturally aligned).
std::uint64_t RingReader::load_u64(std::uint64_t offset) const {
    const auto* p = reinterpret_cast<const std::uint64_t*>(base_ + offset);
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    std::uint64_t v = *reinterpret_cast<const volatile std::uint64_t*>(p);
    std::atomic_thread_fence(std::memory_order_acquire);
    return v;
#endif
}

std::uint32_t RingReader::load_u32(std::uint64_t offset) const {
    const auto* p = reinterpret_cast<const std::uint32_t*>(base_ + offset);
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    std::uint32_t v = *reinterpret_cast<const volatile std::uint32_t*>(p);
    std::atomic_thread_fence(std::memory_order_acquire);
    return v;
#endif
}

RingReader::RingReader(const std::string& name) : name_(name) {
    if (!host_is_little_endian()) throw RingError("the ring is little-endian; this host is not");
    if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos)
        throw RingError("not a ring name: '" + name + "'");
#ifdef _WIN32
    mapping_ = OpenFileMappingA(FILE_MAP_READ, FALSE, name.c_str());
    if (mapping_ == nullptr) throw RingError("cannot open the ring mapping '" + name + "'");
    base_ = static_cast<const std::uint8_t*>(MapViewOfFile(mapping_, FILE_MAP_READ, 0, 0, 0));
    if (base_ == nullptr) { CloseHandle(mapping_); throw RingError("cannot map the ring '" + name + "'"); }
    MEMORY_BASIC_INFORMATION info{};
    VirtualQuery(base_, &info, sizeof(info));
    size_ = info.RegionSize;
#else
    const int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) throw RingError("cannot open the ring '/" + name + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(RingLayout::kHeaderBytes)) {
        ::close(fd);
        throw RingError("the ring '" + name + "' is smaller than its header");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    void* p = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) throw RingError("cannot map the ring '" + name + "': " + std::strerror(errno));
    base_ = static_cast<const std::uint8_t*>(p);
#endif
    try {
        if (size_ < RingLayout::kHeaderBytes || std::memcmp(base_, "FCRG", 4) != 0) throw RingError("not a facecast ring (magic)");
        if (load_u32(kOffVersion) != RingLayout::kVersion) throw RingError("ring version not supported (this reader knows 1)");
        layout_.width = load_u32(kOffWidth);
        layout_.height = load_u32(kOffHeight);
        layout_.pixel_format = load_u32(kOffFormat);
        layout_.slot_count = load_u32(kOffSlots);
        if (layout_.pixel_format < 1 || layout_.pixel_format > 3) throw RingError("unknown ring pixel format code");
        if (layout_.slot_count < 2 || layout_.slot_count > 16) throw RingError("ring slot_count outside 2..16");
        if (layout_.width < 1 || layout_.height < 1 || layout_.width > 65536 || layout_.height > 65536)
            throw RingError("ring width/height out of range");
        if (load_u32(kOffDataOffset) != layout_.data_offset() || load_u32(kOffStride) != layout_.stride() ||
            load_u64(kOffSlotBytes) != layout_.slot_bytes())
            throw RingError("ring header fields are inconsistent with its size and format");
        if (size_ < layout_.total_bytes()) throw RingError("the ring mapping is smaller than its layout needs");
    } catch (...) {
#ifdef _WIN32
        UnmapViewOfFile(base_);
        CloseHandle(mapping_);
#else
        munmap(const_cast<std::uint8_t*>(base_), size_);
#endif
        throw;
    }
}

RingReader::~RingReader() {
#ifdef _WIN32
    UnmapViewOfFile(base_);
    CloseHandle(mapping_);
#else
    munmap(const_cast<std::uint8_t*>(base_), size_);
#endif
}

std::uint64_t RingReader::write_count() const { return load_u64(kOffWriteCount); }
bool RingReader::closed() const { return load_u32(kOffState) == kStateClosed; }

RingFrame RingReader::read(std::uint32_t slot, std::optional<std::uint64_t> slot_seq, std::vector<std::uint8_t>& pixels,
                           int retries) const {
    if (slot >= layout_.slot_count) throw RingError("slot " + std::to_string(slot) + " out of range");
    const std::uint64_t entry = layout_.slot_entry_offset(slot);
    const std::size_t bytes = std::size_t(layout_.stride()) * layout_.height;
    pixels.resize(bytes);
    for (int attempt = 0; attempt <= retries; ++attempt) {
        const std::uint64_t before = load_u64(entry);
        if (before % 2 != 0) {
            std::this_thread::yield();  // the writer is in this slot right now
            continue;
        }
        if (slot_seq && before != *slot_seq)
            throw RingError("slot " + std::to_string(slot) + " was reused (lock " + std::to_string(before) + ", wanted " +
                            std::to_string(*slot_seq) + ")");
        std::atomic_thread_fence(std::memory_order_seq_cst);  // order the copy after the lock read
        std::memcpy(pixels.data(), base_ + layout_.pixels_offset(slot), bytes);
        RingFrame f;
        f.slot = slot;
        f.slot_seq = before;
        f.frame_seq = load_u64(entry + 8);
        std::uint64_t bits = load_u64(entry + 16);
        std::memcpy(&f.render_end, &bits, 8);
        bits = load_u64(entry + 24);
        std::memcpy(&f.written, &bits, 8);
        std::atomic_thread_fence(std::memory_order_seq_cst);  // and before the second lock read
        if (load_u64(entry) == before) return f;
    }
    if (closed()) throw RingError("the ring was closed by the daemon");
    throw RingError("slot " + std::to_string(slot) + " kept changing while being read");
}

std::optional<RingFrame> RingReader::read_latest(std::vector<std::uint8_t>& pixels) const {
    for (std::uint32_t attempt = 0; attempt < layout_.slot_count * 2; ++attempt) {
        if (load_u64(kOffWriteCount) == 0) return std::nullopt;
        const std::uint32_t latest = load_u32(kOffLatest);
        if (latest >= layout_.slot_count) throw RingError("latest_slot out of range");
        try {
            return read(latest, std::nullopt, pixels);
        } catch (const RingError&) {
            if (closed()) throw;
        }
    }
    throw RingError("the writer outpaced every read attempt");
}

}  // namespace facecast
