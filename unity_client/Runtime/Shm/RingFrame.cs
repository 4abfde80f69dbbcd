namespace Facecast.Shm
{
    /// <summary>One frame copied out of the ring: its pixels (height rows of stride bytes, top
    /// row first, in the ring's pixel format) and its slot-table entry.</summary>
    public struct RingFrameInfo
    {
        public int Slot;
        public long SlotSeq;     // the slot's even lock value the copy was taken under
        public long FrameSeq;    // the seq of the pose this frame answers
        public double RenderEnd; // seconds since the Unix epoch
        public double Written;   // seconds since the Unix epoch
    }

    public sealed class RingFrame
    {
        public RingFrameInfo Info;
        public byte[] Pixels;
    }
}
