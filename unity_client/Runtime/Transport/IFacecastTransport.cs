using System;

namespace Facecast.Transport
{
    /// <summary>One connection to the daemon: a ZeroMQ DEALER (single-part messages, each the
    /// msgpack payload of one protocol message; docs/protocol.md §1).
    /// Contract: an instance is used by ONE thread only (ZeroMQ sockets are not thread-safe);
    /// <see cref="Facecast.Session.FacecastSession"/> owns it on its I/O thread.</summary>
    public interface IFacecastTransport : IDisposable
    {
        /// <summary>Connect to an endpoint like "tcp://127.0.0.1:5555". Returns at once;
        /// messages sent before the TCP connection is up are queued.</summary>
        void Connect(string endpoint);

        /// <summary>Queue one message without blocking; false when the send queue is full
        /// (the high-water mark): the message was not sent.</summary>
        bool Send(byte[] payload);

        /// <summary>Wait up to <paramref name="timeoutMs"/> (0: poll) for one message; its last
        /// part is returned. False on timeout.</summary>
        bool TryReceive(int timeoutMs, out byte[] payload);

        /// <summary>Close the socket (unsent messages are dropped: linger 0).</summary>
        void Close();
    }
}
