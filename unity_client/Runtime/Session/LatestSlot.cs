using System.Threading;

namespace Facecast.Session
{
    /// <summary>A one-item, latest-wins hand-over between threads: the receive thread
    /// <see cref="Put"/>s every new item, the consumer (Unity's main thread) <see cref="TryTake"/>s
    /// only the newest. Lock-free; an item replaced before it was taken is counted.</summary>
    public sealed class LatestSlot<T> where T : class
    {
        private T _value;
        private long _overwritten;

        /// <summary>Items replaced before anyone took them (the consumer was slower).</summary>
        public long Overwritten { get { return Interlocked.Read(ref _overwritten); } }

        public void Put(T value)
        {
            if (Interlocked.Exchange(ref _value, value) != null) Interlocked.Increment(ref _overwritten);
        }

        /// <summary>Take the newest item, leaving the slot empty; false when nothing new came.</summary>
        public bool TryTake(out T value)
        {
            value = Interlocked.Exchange(ref _value, null);
            return value != null;
        }

        public void Clear() { Interlocked.Exchange(ref _value, null); }
    }
}
