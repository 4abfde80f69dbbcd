using System;
using System.Runtime.InteropServices;

namespace Facecast.Transport
{
    /// <summary>The daemon connection over native libzmq (desktop: Windows, macOS, Linux).
    /// A DEALER socket with linger 0 and high-water marks of 1000 (as the Python client);
    /// receives through zmq_msg_t so frames of any size (several MB) arrive whole.</summary>
    public sealed class LibZmqTransport : IFacecastTransport
    {
        public const int HighWaterMark = 1000;

        private IntPtr _ctx;
        private IntPtr _socket;
        private IntPtr _msg;             // one zmq_msg_t (64 bytes), reused
        private int _receiveTimeout = int.MinValue;

        public static string LibraryVersion { get { return LibZmqNative.Version(); } }

        public void Connect(string endpoint)
        {
            if (_socket != IntPtr.Zero) throw new InvalidOperationException("already connected");
            _ctx = LibZmqNative.CtxNew();
            if (_ctx == IntPtr.Zero) Fail("zmq_ctx_new");
            _socket = LibZmqNative.Socket(_ctx, LibZmqNative.ZMQ_DEALER);
            if (_socket == IntPtr.Zero) Fail("zmq_socket");
            Check(LibZmqNative.SetIntOption(_socket, LibZmqNative.ZMQ_LINGER, 0), "ZMQ_LINGER");
            Check(LibZmqNative.SetIntOption(_socket, LibZmqNative.ZMQ_RCVHWM, HighWaterMark), "ZMQ_RCVHWM");
            Check(LibZmqNative.SetIntOption(_socket, LibZmqNative.ZMQ_SNDHWM, HighWaterMark), "ZMQ_SNDHWM");
            Check(LibZmqNative.Connect(_socket, endpoint), "zmq_connect " + endpoint);
            _msg = Marshal.AllocHGlobal(LibZmqNative.MsgTBytes);
        }

        public bool Send(byte[] payload)
        {
            EnsureOpen();
            if (LibZmqNative.Send(_socket, payload, payload.Length, LibZmqNative.ZMQ_DONTWAIT) >= 0) return true;
            int errno = LibZmqNative.Errno();
            if (LibZmqNative.IsTryAgain(errno)) return false;
            throw Error("zmq_send", errno);
        }

        public bool TryReceive(int timeoutMs, out byte[] payload)
        {
            EnsureOpen();
            payload = null;
            if (timeoutMs != _receiveTimeout)
            {
                Check(LibZmqNative.SetIntOption(_socket, LibZmqNative.ZMQ_RCVTIMEO, timeoutMs), "ZMQ_RCVTIMEO");
                _receiveTimeout = timeoutMs;
            }
            while (true)  // a multi-part message: keep its last part (the payload)
            {
                Check(LibZmqNative.MsgInit(_msg), "zmq_msg_init");
                try
                {
                    if (LibZmqNative.MsgRecv(_msg, _socket, 0) < 0)
                    {
                        int errno = LibZmqNative.Errno();
                        if (LibZmqNative.IsTryAgain(errno) && payload == null) return false;
                        throw Error("zmq_msg_recv", errno);
                    }
                    long size = LibZmqNative.MsgSize(_msg);
                    payload = new byte[size];
                    if (size > 0) Marshal.Copy(LibZmqNative.MsgData(_msg), payload, 0, (int)size);
                    if (LibZmqNative.MsgMore(_msg) == 0) return true;
                }
                finally
                {
                    LibZmqNative.MsgClose(_msg);
                }
            }
        }

        public void Close()
        {
            if (_socket != IntPtr.Zero) { LibZmqNative.Close(_socket); _socket = IntPtr.Zero; }
            if (_ctx != IntPtr.Zero) { LibZmqNative.CtxTerm(_ctx); _ctx = IntPtr.Zero; }
            if (_msg != IntPtr.Zero) { Marshal.FreeHGlobal(_msg); _msg = IntPtr.Zero; }
        }

        public void Dispose() { Close(); }

        private void EnsureOpen()
        {
            if (_socket == IntPtr.Zero) throw new InvalidOperationException("transport is not connected");
        }

        private static void Check(int rc, string what) { if (rc < 0) Fail(what); }

        private static void Fail(string what) { throw Error(what, LibZmqNative.Errno()); }

        private static Exception Error(string what, int errno)
        {
            return new System.IO.IOException(what + " failed: " + LibZmqNative.StrError(errno) + " (errno " + errno + ")");
        }
    }
}
