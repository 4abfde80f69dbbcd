using System;

namespace Facecast.Shm
{
    /// <summary>A parsed, validated ring header (shm_layout.parse_header).</summary>
    public sealed class RingHeader
    {
        public RingLayout Layout;
        public ulong WriteCount;
        public uint LatestSlot;
        public uint State;

        /// <summary>Validate and parse the 64 header bytes; RingFormatException says what is
        /// wrong. Checks, in Python's order: length, magic, version, pixel format, the layout
        /// (slot count, size), data_offset/stride/slot_bytes consistency, the mapping size,
        /// latest_slot in range once something was written.</summary>
        public static RingHeader Parse(byte[] buf, long totalBytes = -1)
        {
            if (buf.Length < RingLayout.HeaderBytes)
                throw new RingFormatException("ring header needs " + RingLayout.HeaderBytes + " bytes, got " + buf.Length);
            uint magic = U32(buf, RingLayout.OffMagic), version = U32(buf, RingLayout.OffVersion);
            uint dataOffset = U32(buf, RingLayout.OffDataOffset);
            uint width = U32(buf, RingLayout.OffWidth), height = U32(buf, RingLayout.OffHeight);
            uint format = U32(buf, RingLayout.OffPixelFormat), stride = U32(buf, RingLayout.OffStride);
            uint slots = U32(buf, RingLayout.OffSlotCount);
            ulong slotBytes = U64(buf, RingLayout.OffSlotBytes), writeCount = U64(buf, RingLayout.OffWriteCount);
            uint latest = U32(buf, RingLayout.OffLatestSlot), state = U32(buf, RingLayout.OffState);
            if (magic != RingLayout.Magic) throw new RingFormatException("not a facecast ring (magic " + magic.ToString("x8") + ")");
            if (version != RingLayout.Version)
                throw new RingFormatException("ring version " + version + " not supported (this reader knows " + RingLayout.Version + ")");
            string pixelFormat = RingLayout.PixelFormatName(format);
            if (pixelFormat == null) throw new RingFormatException("unknown pixel format code " + format);
            if (width > int.MaxValue || height > int.MaxValue || slots > int.MaxValue)
                throw new RingFormatException("ring header fields are inconsistent with its size and format");
            var layout = new RingLayout((int)width, (int)height, pixelFormat, (int)slots);
            if ((long)layout.Width * layout.Channels * layout.Height > int.MaxValue ||
                dataOffset != layout.DataOffset || stride != layout.Stride || slotBytes != (ulong)layout.SlotBytes)
                throw new RingFormatException("ring header fields are inconsistent with its size and format");
            if (totalBytes >= 0 && totalBytes < layout.TotalBytes)
                throw new RingFormatException("ring needs " + layout.TotalBytes + " bytes but the mapping has " + totalBytes);
            if (writeCount != 0 && latest >= slots) throw new RingFormatException("latest_slot " + latest + " out of range");
            return new RingHeader { Layout = layout, WriteCount = writeCount, LatestSlot = latest, State = state };
        }

        private static uint U32(byte[] b, int at)
        {
            return (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24);
        }

        private static ulong U64(byte[] b, int at)
        {
            return U32(b, at) | (ulong)U32(b, at + 4) << 32;
        }
    }
}
