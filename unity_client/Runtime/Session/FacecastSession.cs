using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using Facecast.Protocol;
using Facecast.Shm;
using Facecast.Transport;

namespace Facecast.Session
{
    /// <summary>One client session with the daemon, engine-independent (no UnityEngine).
    /// Threading: an I/O thread owns the transport (ZeroMQ sockets are single-threaded): it
    /// sends what callers queued, receives, decodes, and puts the newest frame into
    /// <see cref="LatestFrame"/> (latest-wins). It never touches engine objects; the game's
    /// main thread takes frames from <see cref="LatestFrame"/> when it is ready to upload.
    /// Requests (hello, bind, ping, ...) block the calling thread until their reply arrives.</summary>
    public sealed class FacecastSession : IDisposable
    {
        public const string DefaultClientName = "facecast-unity/0.1.0";
        /// <summary>Replies are decoded with this size limit: frames can be far above the
        /// daemon's request limit (a 2048x2048 rgba8 frame is 16 MiB).</summary>
        public const long MaxReplyBytes = 1L << 30;
        private const int PollMs = 1;
        private const int MaxPendingReplies = 64;

        private readonly IFacecastTransport _transport;
        private readonly ConcurrentQueue<byte[]> _sendQueue = new ConcurrentQueue<byte[]>();
        private readonly List<Message> _replies = new List<Message>();
        private Thread _thread;
        private volatile bool _stop;
        private long _nextSeq = 1;
        private long _sendDropped, _decodeErrors;

        public readonly LatestSlot<Frame> LatestFrame = new LatestSlot<Frame>();
        public readonly FrameAssembler Frames = new FrameAssembler();
        public readonly ConcurrentQueue<ErrorMessage> PoseErrors = new ConcurrentQueue<ErrorMessage>();

        /// <summary>Raised on the I/O thread for every frame (before it goes to LatestFrame).
        /// Handlers must be quick and must not touch engine objects.</summary>
        public event Action<Frame> FrameReceived;

        public string ClientName = DefaultClientName;
        public Welcome Welcome { get; private set; }
        public Bound Bound { get; private set; }
        /// <summary>The shared-memory ring of an output "shm" binding (opened by Bind), else null.</summary>
        public RingReader Ring { get; private set; }
        public string LastError { get; private set; }
        public long SendDropped { get { return Interlocked.Read(ref _sendDropped); } }
        public long DecodeErrors { get { return Interlocked.Read(ref _decodeErrors); } }
        public bool IsRunning { get { return _thread != null && !_stop; } }

        public FacecastSession(IFacecastTransport transport) { _transport = transport; }

        /// <summary>Connect the transport and start the I/O thread.</summary>
        public void Connect(string endpoint)
        {
            if (_thread != null) throw new InvalidOperationException("already connected");
            _transport.Connect(endpoint);
            _stop = false;
            _thread = new Thread(Run) { IsBackground = true, Name = "facecast-io" };
            _thread.Start();
        }

        public Welcome Hello(int timeoutMs = 5000)
        {
            Welcome = (Welcome)Request(new Hello { Client = ClientName }, Protocol.Welcome.TypeName, timeoutMs);
            return Welcome;
        }

        /// <summary>Bind (or re-bind); for output "shm" also opens the ring when
        /// <paramref name="openRing"/> (same machine as the daemon only).</summary>
        public Bound Bind(Bind bind, int timeoutMs = 10000, bool openRing = true)
        {
            var bound = (Bound)Request(bind, Protocol.Bound.TypeName, timeoutMs);
            if (Ring != null) { Ring.Dispose(); Ring = null; }
            if (openRing && bound.Output == "shm" && bound.ShmName != null)
                Ring = new RingReader(bound.ShmName, bound.ShmPath);
            LatestFrame.Clear();
            Bound = bound;
            return bound;
        }

        /// <summary>Queue a pose with the next seq and the current time; returns its seq.
        /// Never blocks: poses are pipelined and the daemon renders the newest (latest-wins).</summary>
        public long SendLandmarks(float[] xyz, string format = Formats.Mediapipe478)
        {
            long seq = Interlocked.Increment(ref _nextSeq) - 1;
            SendPose(Pose.FromLandmarks(seq, xyz, format, UnixNow()));
            return seq;
        }

        public long SendBlendshapes(float[] weights, float[] headYawPitchRoll = null)
        {
            long seq = Interlocked.Increment(ref _nextSeq) - 1;
            SendPose(Pose.FromBlendshapes(seq, weights, headYawPitchRoll, UnixNow()));
            return seq;
        }

        /// <summary>Make the bound session an NPC, or change its emotion, or stop it (docs/npc.md):
        /// the daemon then generates its poses and sends a frame every 1/fps s (LatestFrame,
        /// FrameReceived; they are not poses of this client, so Frames counts them Unexpected).</summary>
        public NpcState Npc(Npc npc, int timeoutMs = 10000)
        {
            return (NpcState)Request(npc, NpcState.TypeName, timeoutMs);
        }

        /// <summary>Queue a pose whose seq the caller chose (keep seqs increasing).</summary>
        public void SendPose(Pose pose)
        {
            Frames.PoseSent(pose.Seq);
            Enqueue(pose);
        }

        /// <summary>Send a request and wait for its reply of <paramref name="replyType"/>; an
        /// error reply referring to the request's type becomes a FacecastException.</summary>
        public Message Request(Message request, string replyType, int timeoutMs)
        {
            if (_thread == null) throw new InvalidOperationException("not connected");
            Enqueue(request);
            DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            lock (_replies)
            {
                while (true)
                {
                    for (int i = 0; i < _replies.Count; i++)
                    {
                        Message m = _replies[i];
                        var err = m as ErrorMessage;
                        if (m.Type == replyType || (err != null && err.Ref == request.Type))
                        {
                            _replies.RemoveAt(i);
                            if (err != null) throw new FacecastException(request.Type + " refused: " + err, err);
                            return m;
                        }
                    }
                    int left = (int)(deadline - DateTime.UtcNow).TotalMilliseconds;
                    if (left <= 0 || _stop)
                        throw new FacecastException("no " + replyType + " reply to " + request.Type + " within " + timeoutMs +
                                                    " ms (is the daemon running at this endpoint?)" +
                                                    (LastError != null ? "; last error: " + LastError : "") +
                                                    (SendDropped > 0 ? "; " + SendDropped + " sends dropped" : ""));
                    Monitor.Wait(_replies, left);
                }
            }
        }

        public void Enqueue(Message message) { _sendQueue.Enqueue(Codec.Encode(message)); }

        public static double UnixNow()
        {
            return (DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
        }

        private void Run()
        {
            try
            {
                while (!_stop)
                {
                    byte[] outgoing;
                    while (_sendQueue.TryDequeue(out outgoing))
                        if (!_transport.Send(outgoing)) Interlocked.Increment(ref _sendDropped);
                    byte[] payload;
                    if (_transport.TryReceive(PollMs, out payload)) Handle(payload);
                }
            }
            catch (Exception e)
            {
                LastError = "I/O thread stopped: " + e.Message;
                _stop = true;
                lock (_replies) Monitor.PulseAll(_replies);
            }
        }

        private void Handle(byte[] payload)
        {
            Message message;
            try
            {
                message = Codec.Decode(payload, MaxReplyBytes);
            }
            catch (DecodeException e)
            {
                Interlocked.Increment(ref _decodeErrors);
                LastError = "undecodable reply: " + e.Message;
                return;
            }
            var frame = message as Frame;
            if (frame != null)
            {
                Frames.FrameArrived(frame);
                Action<Frame> handler = FrameReceived;
                if (handler != null) handler(frame);
                LatestFrame.Put(frame);
                return;
            }
            var error = message as ErrorMessage;
            if (error != null)
            {
                LastError = error.ToString();
                if (error.Ref == Pose.TypeName)
                {
                    if (error.Seq.HasValue) Frames.PoseFailed(error.Seq.Value);
                    PoseErrors.Enqueue(error);
                    while (PoseErrors.Count > MaxPendingReplies) { ErrorMessage old; PoseErrors.TryDequeue(out old); }
                    return;
                }
            }
            lock (_replies)
            {
                _replies.Add(message);
                if (_replies.Count > MaxPendingReplies) _replies.RemoveAt(0);
                Monitor.PulseAll(_replies);
            }
        }

        /// <summary>Say bye (best effort, without waiting), stop the I/O thread, close everything.</summary>
        public void Dispose()
        {
            if (_thread != null && !_stop)
            {
                Enqueue(new Bye());
                Thread.Sleep(20);  // let the I/O thread flush it (linger is 0)
            }
            _stop = true;
            if (_thread != null) { _thread.Join(1000); _thread = null; }
            if (Ring != null) { Ring.Dispose(); Ring = null; }
            _transport.Close();
            lock (_replies) Monitor.PulseAll(_replies);
        }
    }
}
