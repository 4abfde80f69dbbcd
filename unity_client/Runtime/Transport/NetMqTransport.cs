#if FACECAST_NETMQ
using System;
using System.Collections.Generic;
using NetMQ;
using NetMQ.Sockets;

namespace Facecast.Transport
{
    /// <summary>The daemon connection over NetMQ, the pure-C# ZeroMQ (every platform Unity
    /// runs on, IL2CPP included). Compiled only when the NetMQ package is in the project:
    /// the asmdef's versionDefines set FACECAST_NETMQ.
    /// NetMQ keeps background threads alive until <see cref="Shutdown"/> runs
    /// NetMQConfig.Cleanup; without it the Unity editor hangs on the next domain reload.
    /// FacecastClient calls Shutdown from OnApplicationQuit and on leaving play mode.</summary>
    public sealed class NetMqTransport : IFacecastTransport
    {
        private static bool _initialized;
        private DealerSocket _socket;
        private List<byte[]> _frames = new List<byte[]>();

        /// <summary>Use NetMQ's plain .NET sockets (what Unity's Mono needs), once per domain.</summary>
        public static void Initialize()
        {
            if (_initialized) return;
            AsyncIO.ForceDotNet.Force();
            _initialized = true;
        }

        /// <summary>Stop NetMQ's threads. Call after every NetMqTransport is closed, when play
        /// mode ends or the application quits; safe to call more than once.</summary>
        public static void Shutdown()
        {
            if (!_initialized) return;
            NetMQConfig.Cleanup(false);
            _initialized = false;
        }

        public void Connect(string endpoint)
        {
            Initialize();
            _socket = new DealerSocket();
            _socket.Options.Linger = TimeSpan.Zero;
            _socket.Options.ReceiveHighWatermark = LibZmqTransport.HighWaterMark;
            _socket.Options.SendHighWatermark = LibZmqTransport.HighWaterMark;
            _socket.Connect(endpoint);
        }

        public bool Send(byte[] payload)
        {
            return _socket.TrySendFrame(payload);
        }

        public bool TryReceive(int timeoutMs, out byte[] payload)
        {
            payload = null;
            if (!_socket.TryReceiveMultipartBytes(TimeSpan.FromMilliseconds(timeoutMs), ref _frames)) return false;
            if (_frames.Count == 0) return false;
            payload = _frames[_frames.Count - 1];
            return true;
        }

        public void Close()
        {
            if (_socket == null) return;
            _socket.Dispose();
            _socket = null;
        }

        public void Dispose() { Close(); }
    }
}
#endif
