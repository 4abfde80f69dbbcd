using System;

namespace Facecast.Shm
{
    /// <summary>The shared-memory texture ring's byte layout, as src/facecast/protocol/shm_layout.py
    /// (docs/protocol.md §12). All integers little-endian.</summary>
    public sealed class RingLayout
    {
        public const uint Magic = 0x47524346;  // "FCRG" read as a little-endian u32
        public const uint Version = 1;
        public const int HeaderBytes = 64;
        public const int SlotEntryBytes = 32;
        public const int Align = 64;
        public const int MinSlots = 2, MaxSlots = 16;
        public const uint StateLive = 1, StateClosed = 2;

        // Header offsets.
        public const int OffMagic = 0, OffVersion = 4, OffDataOffset = 8, OffWidth = 12, OffHeight = 16,
            OffPixelFormat = 20, OffStride = 24, OffSlotCount = 28, OffSlotBytes = 32, OffWriteCount = 40,
            OffLatestSlot = 48, OffState = 52;

        // Slot-table entry offsets.
        public const int SlotLock = 0, SlotFrameSeq = 8, SlotRenderEnd = 16, SlotWritten = 24;

        public readonly int Width;
        public readonly int Height;
        public readonly string PixelFormat;
        public readonly int SlotCount;

        public RingLayout(int width, int height, string pixelFormat, int slotCount)
        {
            if (PixelFormatCode(pixelFormat) == 0)
                throw new RingFormatException("ring pixel format must be one of rgba8, rgb8, bgra8, not " + pixelFormat);
            if (slotCount < MinSlots || slotCount > MaxSlots)
                throw new RingFormatException("slot_count must be in [" + MinSlots + ", " + MaxSlots + "]");
            if (width < 1 || height < 1) throw new RingFormatException("width and height must be positive");
            Width = width;
            Height = height;
            PixelFormat = pixelFormat;
            SlotCount = slotCount;
        }

        public int Channels { get { return PixelFormat == "rgb8" ? 3 : 4; } }
        public int Stride { get { return Width * Channels; } }
        public int FrameBytes { get { return Stride * Height; } }
        public long SlotBytes { get { return AlignUp(FrameBytes); } }
        public long DataOffset { get { return AlignUp(HeaderBytes + SlotEntryBytes * SlotCount); } }
        public long TotalBytes { get { return DataOffset + SlotBytes * SlotCount; } }

        public long SlotEntryOffset(int slot) { return HeaderBytes + SlotEntryBytes * (long)slot; }
        public long PixelsOffset(int slot) { return DataOffset + SlotBytes * slot; }

        public static long AlignUp(long n) { return (n + Align - 1) / Align * Align; }

        public static uint PixelFormatCode(string name)
        {
            switch (name)
            {
                case "rgba8": return 1;
                case "rgb8": return 2;
                case "bgra8": return 3;
                default: return 0;
            }
        }

        public static string PixelFormatName(uint code)
        {
            switch (code)
            {
                case 1: return "rgba8";
                case 2: return "rgb8";
                case 3: return "bgra8";
                default: return null;
            }
        }
    }

    /// <summary>The bytes are not a facecast ring header this code understands.</summary>
    public sealed class RingFormatException : Exception
    {
        public RingFormatException(string message) : base(message) { }
    }

    /// <summary>A slot could not be read consistently (reused, kept changing, or the ring closed).</summary>
    public sealed class RingReadException : Exception
    {
        public RingReadException(string message) : base(message) { }
    }
}
