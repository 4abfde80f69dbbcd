using System;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using System.Threading;

namespace Facecast.Shm
{
    /// <summary>Reads a session's shared-memory texture ring (docs/protocol.md §12), the C#
    /// twin of facecast.client.ring_reader.RingReader. Maps the ring read-only: on Windows the named
    /// file mapping, on Linux the file /dev/shm/NAME. Same machine as the daemon only.
    /// Thread use: one reader per thread (the copy helpers are not synchronized).</summary>
    public sealed unsafe class RingReader : IDisposable
    {
        private MemoryMappedFile _file;
        private MemoryMappedViewAccessor _view;
        private byte* _base;
        private readonly long _mappedBytes;
        private readonly byte[] _headerBuf = new byte[RingLayout.HeaderBytes];

        public string Name { get; private set; }
        public RingLayout Layout { get; private set; }

        /// <summary>Open the ring the bound reply names (bound.shm name; path where given).</summary>
        public RingReader(string name, string path = null)
        {
            Name = name;
            try
            {
                if (Environment.OSVersion.Platform == PlatformID.Win32NT)
                {
                    _file = MemoryMappedFile.OpenExisting(name, MemoryMappedFileRights.Read);
                }
                else
                {
                    string file = path ?? "/dev/shm/" + name;
                    if (!File.Exists(file))
                        throw new FileNotFoundException(
                            "no shared-memory ring at " + file + " (the daemon must run on this machine; on macOS, " +
                            "POSIX shared memory has no file path: use output \"inline\")", file);
                    _file = MemoryMappedFile.CreateFromFile(file, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
                }
                _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                _mappedBytes = _view.Capacity;
                _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
                Layout = Header().Layout;
                RingHeader.Parse(_headerBuf, _mappedBytes);
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>The current header (write_count, latest_slot, state change as frames arrive).</summary>
        public RingHeader Header()
        {
            Marshal.Copy((IntPtr)_base, _headerBuf, 0, RingLayout.HeaderBytes);
            return RingHeader.Parse(_headerBuf);
        }

        private long Lock(long entry) { return Volatile.Read(ref *(long*)(_base + entry)); }

        /// <summary>Copy <paramref name="slot"/> into <paramref name="pixels"/> (at least
        /// Layout.FrameBytes long), seqlock-checked. With <paramref name="slotSeq"/> (a frame
        /// notice's slot_seq) only that exact frame: RingReadException if the slot was reused.</summary>
        public RingFrameInfo ReadInto(int slot, byte[] pixels, long? slotSeq = null, int retries = 3)
        {
            RingLayout lay = Layout;
            if (slot < 0 || slot >= lay.SlotCount)
                throw new RingReadException("slot " + slot + " out of range (ring has " + lay.SlotCount + ")");
            if (pixels.Length < lay.FrameBytes) throw new ArgumentException("pixel buffer too small");
            long entry = lay.SlotEntryOffset(slot);
            for (int attempt = 0; attempt <= retries; attempt++)
            {
                long before = Lock(entry);
                if ((before & 1) != 0)
                {
                    Thread.Sleep(0);  // the writer is in this slot right now
                    continue;
                }
                if (slotSeq.HasValue && before != slotSeq.Value)
                    throw new RingReadException("slot " + slot + " was reused (lock " + before + ", wanted " + slotSeq.Value + ")");
                Marshal.Copy((IntPtr)(_base + lay.PixelsOffset(slot)), pixels, 0, lay.FrameBytes);
                var info = new RingFrameInfo
                {
                    Slot = slot,
                    SlotSeq = before,
                    FrameSeq = *(long*)(_base + entry + RingLayout.SlotFrameSeq),
                    RenderEnd = *(double*)(_base + entry + RingLayout.SlotRenderEnd),
                    Written = *(double*)(_base + entry + RingLayout.SlotWritten),
                };
                Thread.MemoryBarrier();  // the copy above must complete before the lock is re-read
                if (Lock(entry) == before) return info;
            }
            if (*(uint*)(_base + RingLayout.OffState) == RingLayout.StateClosed)
                throw new RingReadException("the ring was closed by the daemon");
            throw new RingReadException("slot " + slot + " kept changing while being read");
        }

        public RingFrame Read(int slot, long? slotSeq = null)
        {
            var pixels = new byte[Layout.FrameBytes];
            RingFrameInfo info = ReadInto(slot, pixels, slotSeq);
            return new RingFrame { Info = info, Pixels = pixels };
        }

        /// <summary>The newest complete frame into <paramref name="pixels"/>; false before the
        /// first frame. What a game engine calls once per rendered frame.</summary>
        public bool TryReadLatest(byte[] pixels, out RingFrameInfo info)
        {
            for (int attempt = 0; attempt < Layout.SlotCount * 2; attempt++)
            {
                RingHeader header = Header();
                if (header.WriteCount == 0)
                {
                    info = default(RingFrameInfo);
                    return false;
                }
                try
                {
                    info = ReadInto((int)header.LatestSlot, pixels);
                    return true;
                }
                catch (RingReadException)
                {
                    // overwritten meanwhile: look at the header again
                }
            }
            throw new RingReadException("the writer outpaced every read attempt");
        }

        public RingFrame TryReadLatest()
        {
            var pixels = new byte[Layout.FrameBytes];
            RingFrameInfo info;
            return TryReadLatest(pixels, out info) ? new RingFrame { Info = info, Pixels = pixels } : null;
        }

        public void Dispose()
        {
            if (_base != null && _view != null) { _view.SafeMemoryMappedViewHandle.ReleasePointer(); _base = null; }
            if (_view != null) { _view.Dispose(); _view = null; }
            if (_file != null) { _file.Dispose(); _file = null; }
        }
    }
}
