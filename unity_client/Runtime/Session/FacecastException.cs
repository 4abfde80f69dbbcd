using System;
using Facecast.Protocol;

namespace Facecast.Session
{
    /// <summary>A request failed: the daemon answered with an error, or no reply came in time.</summary>
    public sealed class FacecastException : Exception
    {
        /// <summary>The daemon's error reply, or null for a timeout or local failure.</summary>
        public ErrorMessage Reply { get; private set; }

        public FacecastException(string message, ErrorMessage reply = null) : base(message) { Reply = reply; }
    }
}
