#if UNITY_5_3_OR_NEWER
using System;
using System.Threading;
using Facecast.Protocol;
using Facecast.Session;
using Facecast.Transport;
using UnityEngine;

namespace Facecast.Unity
{
    public enum FacecastPixelFormat { Rgba8, Bgra8, Rgb8, Jpeg, Png }
    public enum FacecastOutput { Inline, Shm }
    public enum FacecastTransportKind { LibZmq, NetMq }

    /// <summary>The connection to the facecast daemon: hello, bind, reconnect. Connecting and
    /// binding run on a worker thread (never on the main thread); frames arrive on the
    /// session's I/O thread into a latest-wins slot that <see cref="FacecastTexture"/> reads.</summary>
    [DisallowMultipleComponent]
    [AddComponentMenu("Facecast/Facecast Client")]
    public sealed class FacecastClient : MonoBehaviour
    {
        [Tooltip("The daemon's ZeroMQ endpoint (facecast serve --bind). Shared memory needs the daemon on this machine.")]
        public string endpoint = "tcp://127.0.0.1:5555";
        [Tooltip("Character to bind: a name from the daemon's store (see `facecast characters`).")]
        public string character = "default";
        [Tooltip("Frame width in pixels (16..2048).")]
        public int width = 256;
        [Tooltip("Frame height in pixels (16..2048).")]
        public int height = 256;
        [Tooltip("Pixel format of the frames. Rgba8/Bgra8 upload fastest; Jpeg/Png are decoded on the main thread (inline only).")]
        public FacecastPixelFormat pixelFormat = FacecastPixelFormat.Rgba8;
        [Tooltip("Inline: pixels travel in each frame message. Shm: pixels are read from a shared-memory ring (same machine only, raw formats only).")]
        public FacecastOutput output = FacecastOutput.Inline;
        [Tooltip("Ring slots for Shm output (2..16).")]
        [Range(2, 16)] public int slots = 3;
        [Tooltip("LibZmq: native libzmq (desktop). NetMq: pure C# (needs the NetMQ package; sets FACECAST_NETMQ).")]
        public FacecastTransportKind transport = FacecastTransportKind.LibZmq;
        [Tooltip("Reconnect and re-bind after a failure or a daemon restart.")]
        public bool reconnect = true;
        [Tooltip("Seconds between reconnect attempts.")]
        public float reconnectDelay = 2f;
        [Tooltip("Seconds to wait for the daemon's reply to hello and bind.")]
        public float timeout = 5f;
        [Tooltip("Connect when this component is enabled.")]
        public bool connectOnEnable = true;

        private volatile FacecastSession _session;  // set by the worker thread once bound
        private Thread _worker;
        private volatile string _status = "idle";
        private float _retryAt;

        /// <summary>The bound session, or null while connecting. Safe to read from the main thread.</summary>
        public FacecastSession Session { get { return _session; } }
        public bool IsBound { get { return _session != null && _session.Bound != null; } }
        public string Status { get { return _status; } }

        private void OnEnable()
        {
            if (connectOnEnable) Connect();
        }

        private void OnDisable() { Disconnect(); }

        private void OnApplicationQuit()
        {
            Disconnect();
#if FACECAST_NETMQ
            NetMqTransport.Shutdown();
#endif
        }

        /// <summary>(Re)connect and bind with the current settings, off the main thread.</summary>
        public void Connect()
        {
            Disconnect();
            var bind = new Bind
            {
                Character = character, Width = width, Height = height,
                PixelFormat = WireName(pixelFormat), Output = output == FacecastOutput.Shm ? "shm" : "inline", Slots = slots,
            };
            string ep = endpoint;
            int timeoutMs = Mathf.Max(100, Mathf.RoundToInt(timeout * 1000f));
            FacecastTransportKind kind = transport;
            _status = "connecting to " + ep;
            _worker = new Thread(() => ConnectWorker(ep, bind, kind, timeoutMs)) { IsBackground = true, Name = "facecast-connect" };
            _worker.Start();
        }

        public void Disconnect()
        {
            FacecastSession s = _session;
            _session = null;
            if (s != null) s.Dispose();
            _status = "idle";
        }

        private void ConnectWorker(string ep, Bind bind, FacecastTransportKind kind, int timeoutMs)
        {
            var session = new FacecastSession(CreateTransport(kind));
            try
            {
                session.Connect(ep);
                session.Hello(timeoutMs);
                Bound bound = session.Bind(bind, timeoutMs);
                _session = session;
                _status = "bound " + bound.Character + " " + bound.Width + "x" + bound.Height + " " + bound.PixelFormat + " " + bound.Output;
            }
            catch (Exception e)
            {
                session.Dispose();
                _status = "failed: " + e.Message;
            }
        }

        private static IFacecastTransport CreateTransport(FacecastTransportKind kind)
        {
#if FACECAST_NETMQ
            if (kind == FacecastTransportKind.NetMq) return new NetMqTransport();
#else
            if (kind == FacecastTransportKind.NetMq)
                throw new NotSupportedException("NetMQ transport needs the NetMQ package (FACECAST_NETMQ is not defined)");
#endif
            return new LibZmqTransport();
        }

        private void Update()
        {
            FacecastSession s = _session;
            if (s != null)
            {
                ErrorMessage err;
                bool lostBinding = false;
                while (s.PoseErrors.TryDequeue(out err))
                    if (err.Code == (int)ErrorCode.NotBound) lostBinding = true;  // the daemon restarted or timed us out
                if (!s.IsRunning || lostBinding)
                {
                    Debug.LogWarning("[facecast] connection lost (" + (s.LastError ?? "session not bound") + ")");
                    Disconnect();
                    _status = "failed: connection lost";
                    _retryAt = Time.unscaledTime + reconnectDelay;
                }
                return;
            }
            if (reconnect && _status.StartsWith("failed") && (_worker == null || !_worker.IsAlive))
            {
                if (_retryAt <= 0f) _retryAt = Time.unscaledTime + reconnectDelay;
                else if (Time.unscaledTime >= _retryAt)
                {
                    _retryAt = 0f;
                    Connect();
                }
            }
        }

        public static string WireName(FacecastPixelFormat f)
        {
            switch (f)
            {
                case FacecastPixelFormat.Bgra8: return "bgra8";
                case FacecastPixelFormat.Rgb8: return "rgb8";
                case FacecastPixelFormat.Jpeg: return "jpeg";
                case FacecastPixelFormat.Png: return "png";
                default: return "rgba8";
            }
        }

#if UNITY_EDITOR && FACECAST_NETMQ
        [UnityEditor.InitializeOnLoadMethod]
        private static void CleanupNetMqOnPlayModeExit()
        {
            UnityEditor.EditorApplication.playModeStateChanged += state =>
            {
                if (state == UnityEditor.PlayModeStateChange.ExitingPlayMode) NetMqTransport.Shutdown();
            };
        }
#endif
    }
}
#endif
