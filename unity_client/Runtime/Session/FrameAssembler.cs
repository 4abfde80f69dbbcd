using System.Collections.Generic;
using Facecast.Protocol;

namespace Facecast.Session
{
    /// <summary>Matches frames to the poses that were sent (docs/protocol.md §5): frames come
    /// back in send order, at most one per pose; a frame for seq N means every earlier pose
    /// still without a frame or error was superseded. Counts what the daemon reports
    /// (frame.superseded) and what the seqs show, and flags frames out of order.
    /// Thread-safe (the sender and the receive thread both call it).</summary>
    public sealed class FrameAssembler
    {
        private readonly object _lock = new object();
        private readonly SortedSet<long> _outstanding = new SortedSet<long>();
        private long _lastFrameSeq = -1;

        public long PosesSent { get; private set; }
        public long FramesReceived { get; private set; }
        public long PoseErrors { get; private set; }
        /// <summary>Sum of frame.superseded: poses the daemon dropped (latest-wins).</summary>
        public long SupersededReported { get; private set; }
        /// <summary>Poses left without frame or error when a later frame arrived.</summary>
        public long SupersededBySeq { get; private set; }
        /// <summary>Frames whose seq was not above the previous frame's (must stay 0).</summary>
        public long OutOfOrder { get; private set; }
        /// <summary>Frames for a seq this session never sent or already settled (must stay 0).</summary>
        public long Unexpected { get; private set; }

        public int Outstanding { get { lock (_lock) return _outstanding.Count; } }

        public void PoseSent(long seq)
        {
            lock (_lock)
            {
                _outstanding.Add(seq);
                PosesSent++;
            }
        }

        /// <summary>Record a frame; returns how many earlier poses it showed to be superseded.</summary>
        public long FrameArrived(Frame frame)
        {
            lock (_lock)
            {
                FramesReceived++;
                SupersededReported += frame.Superseded;
                if (frame.Seq <= _lastFrameSeq) OutOfOrder++;
                _lastFrameSeq = frame.Seq;
                if (!_outstanding.Contains(frame.Seq)) Unexpected++;
                long dropped = 0;
                while (_outstanding.Count > 0 && _outstanding.Min <= frame.Seq)
                {
                    long seq = _outstanding.Min;
                    _outstanding.Remove(seq);
                    if (seq < frame.Seq) dropped++;
                }
                SupersededBySeq += dropped;
                return dropped;
            }
        }

        /// <summary>An error about a pose settles that pose (no frame will come for it).</summary>
        public void PoseFailed(long seq)
        {
            lock (_lock)
            {
                PoseErrors++;
                _outstanding.Remove(seq);
            }
        }
    }
}
