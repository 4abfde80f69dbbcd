#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Diagnostics;
using Facecast.Protocol;
using Facecast.Session;
using Facecast.Shm;
using Facecast.Transport;

namespace Facecast.Tests
{
    /// <summary>The client against the real daemon over libzmq: hello, bind inline rgba8,
    /// a recorded landmark track in lockstep and pipelined, then a re-bind to the shared-memory
    /// ring (bgra8) whose frames must equal the inline ones with B and R swapped.</summary>
    internal sealed class DaemonTests
    {
        private const int Side = 256;
        private const int ReplyTimeoutMs = 30000;
        private readonly string _endpoint, _character;
        private readonly float[][] _track;
        private readonly Action<bool, string, string> _check;

        public DaemonTests(string endpoint, string character, float[][] track, Action<bool, string, string> check)
        {
            _endpoint = endpoint;
            _character = character;
            _track = track;
            _check = check;
        }

        public void Run()
        {
            Console.WriteLine("libzmq " + LibZmqTransport.LibraryVersion + ", daemon at " + _endpoint);
            using (var session = new FacecastSession(new LibZmqTransport()))
            {
                session.ClientName = "facecast-console-tests/0.1.0";
                session.Connect(_endpoint);
                Welcome welcome = session.Hello();
                _check(welcome.Version == 1 && welcome.Session.Length == 16, "welcome", welcome.ToString());
                var names = (CharacterList)session.Request(new Characters(), CharacterList.TypeName, ReplyTimeoutMs);
                _check(names.Names.Contains(_character), "character_list has " + _character, string.Join(",", names.Names.ToArray()));
                var pong = (Pong)session.Request(new Ping { TSend = 1234.5, Seq = 9 }, Pong.TypeName, ReplyTimeoutMs);
                _check(pong.TSend == 1234.5 && pong.Seq == 9 && pong.TServer > 1.6e9, "pong echoes the ping", pong.ToString());
                try
                {
                    session.Bind(new Bind { Character = "nobody-here" }, ReplyTimeoutMs);
                    _check(false, "bind unknown character refused", "accepted");
                }
                catch (FacecastException e)
                {
                    _check(e.Reply != null && e.Reply.Code == (int)ErrorCode.UnknownCharacter, "bind unknown character refused", e.Message);
                }

                Bound bound = session.Bind(new Bind { Character = _character, Width = Side, Height = Side, PixelFormat = "rgba8" }, ReplyTimeoutMs);
                _check(bound.Output == "inline" && bound.Width == Side && bound.Neutral.Values.Length == 478 * 3, "bound inline", bound.ToString());
                float[][] track = _track ?? new[] { bound.Neutral.Values };

                // Lockstep: one frame per pose, in order, of the right size; the performance moves the face.
                var inline = new Dictionary<int, byte[]>();
                int[] picks = Picks(track.Length);
                foreach (int t in picks)
                {
                    Frame f = Render(session, track[t]);
                    if (f == null) { _check(false, "inline frame for pose " + t, session.LastError ?? "timeout"); return; }
                    _check(f.Width == Side && f.Height == Side && f.PixelFormat == "rgba8" && f.Data.Length == Side * Side * 4,
                           "inline frame size", f.Width + "x" + f.Height + " " + f.PixelFormat + " " + f.Data.Length);
                    _check(f.Slot == null && f.Superseded == 0, "lockstep frame not superseded", f.ToString());
                    inline[t] = f.Data;
                }
                var distinct = new HashSet<string>();
                foreach (byte[] d in inline.Values) distinct.Add(FacecastConsoleTests.Sha256Hex(d));
                _check(distinct.Count >= picks.Length - 1 && distinct.Count >= 2, "frames differ over the performance",
                       distinct.Count + " distinct of " + picks.Length);

                // Pipelined: the whole track without waiting; frames in order, drops accounted for.
                long last = 0;
                var sw = Stopwatch.StartNew();
                foreach (float[] pose in track) last = session.SendLandmarks(pose);
                Frame lastFrame = WaitFor(session, last);
                _check(lastFrame != null, "pipelined track: frame for the last pose", session.LastError ?? "timeout");
                FrameAssembler fa = session.Frames;
                _check(fa.OutOfOrder == 0 && fa.Unexpected == 0, "frames arrive in seq order",
                       "out of order " + fa.OutOfOrder + ", unexpected " + fa.Unexpected);
                _check(fa.SupersededReported == fa.SupersededBySeq, "superseded: daemon count equals seq gaps",
                       fa.SupersededReported + " vs " + fa.SupersededBySeq);
                _check(fa.FramesReceived + fa.SupersededBySeq + fa.PoseErrors == fa.PosesSent && fa.Outstanding == 0,
                       "every pose answered or superseded", "sent " + fa.PosesSent + ", frames " + fa.FramesReceived +
                       ", superseded " + fa.SupersededBySeq + ", errors " + fa.PoseErrors + ", outstanding " + fa.Outstanding);
                Console.WriteLine("pipelined " + track.Length + " poses in " + sw.ElapsedMilliseconds + " ms: " +
                                  fa.FramesReceived + " frames so far, " + fa.SupersededBySeq + " superseded");

                ShmTests(session, track, picks, inline);

                var stats = (StatsReport)session.Request(new Stats(), StatsReport.TypeName, ReplyTimeoutMs);
                MpMap counters = stats.Session.GetMap("counters");
                _check(counters != null && counters.GetLong("frames") == fa.FramesReceived, "stats_report session frames",
                       stats.Session.ToString());
                NpcTests(session);
                Message bye = session.Request(new Bye(), Goodbye.TypeName, ReplyTimeoutMs);
                _check(bye is Goodbye, "goodbye", bye.ToString());
            }
        }

        /// <summary>An NPC session: the daemon sends frames without poses, lip-syncing audio
        /// streamed through NpcAudio (what the FacecastNpc component uses).</summary>
        private void NpcTests(FacecastSession session)
        {
            session.Bind(new Bind { Character = _character, Width = 64, Height = 64, PixelFormat = "rgb8" }, ReplyTimeoutMs);
            int frames = 0;
            long lastSeq = 0, outOfOrder = 0;
            Action<Frame> onFrame = f =>
            {
                if (f.Seq <= System.Threading.Interlocked.Read(ref lastSeq)) System.Threading.Interlocked.Increment(ref outOfOrder);
                System.Threading.Interlocked.Exchange(ref lastSeq, f.Seq);
                System.Threading.Interlocked.Increment(ref frames);
            };
            session.FrameReceived += onFrame;
            try
            {
                NpcState state = session.Npc(new Npc { Emotion = "happy", Seed = 3, Fps = 30 });
                _check(state.Active && state.Emotion == "happy" && state.Fps == 30, "npc started", state.ToString());
                var audio = new NpcAudio(session);
                audio.NewLine(16000);
                var rng = new Random(1);
                var stereo = new float[2 * 16000];  // 1 s of syllable-like bursts, 2 channels
                for (int i = 0; i < 16000; i++)
                {
                    float x = (i % 4000) < 1920 ? (float)(rng.NextDouble() * 0.6 - 0.3) : 0f;
                    stereo[2 * i] = x;
                    stereo[2 * i + 1] = x;
                }
                audio.Send(stereo, 2, 0, 16000);
                _check(audio.SamplesSent == 16000 && audio.Line == 1, "npc audio sent as one line", audio.SamplesSent + " samples");
                var sw = Stopwatch.StartNew();
                while (System.Threading.Volatile.Read(ref frames) < 30 && sw.ElapsedMilliseconds < ReplyTimeoutMs)
                    System.Threading.Thread.Sleep(10);
                _check(frames >= 30 && outOfOrder == 0, "npc frames arrive without poses, in seq order",
                       frames + " frames, " + outOfOrder + " out of order");
                state = session.Npc(new Npc { Emotion = "sad" });
                _check(state.Active && state.Emotion == "sad", "npc emotion changed", state.ToString());
                var stats = (StatsReport)session.Request(new Stats(), StatsReport.TypeName, ReplyTimeoutMs);
                MpMap counters = stats.Session.GetMap("counters");
                _check(counters != null && counters.GetLong("audio_chunks") == 1 && counters.GetLong("npc_frames") >= 30,
                       "stats_report counts npc frames and audio", stats.Session.ToString());
                state = session.Npc(new Npc { Stop = true });
                _check(!state.Active, "npc stopped", state.ToString());
            }
            finally
            {
                session.FrameReceived -= onFrame;
            }
        }

        private void ShmTests(FacecastSession session, float[][] track, int[] picks, Dictionary<int, byte[]> inline)
        {
            Bound bound = session.Bind(new Bind
            {
                Character = _character, Width = Side, Height = Side, PixelFormat = "bgra8", Output = "shm", Slots = 3,
            }, ReplyTimeoutMs);
            _check(bound.Output == "shm" && bound.ShmName != null && bound.ShmSize > 0 && session.Ring != null,
                   "bound shm names a ring", bound.Shm == null ? "no shm" : bound.Shm.ToString());
            if (session.Ring == null) return;
            RingReader ring = session.Ring;
            _check(ring.Layout.Width == Side && ring.Layout.PixelFormat == "bgra8" && ring.Layout.SlotCount == 3 &&
                   ring.Layout.TotalBytes == bound.ShmSize, "ring header matches the binding", ring.Layout.TotalBytes + " bytes");
            RingFrame latest = null;
            Frame notice = null, first = null;
            foreach (int t in picks)
            {
                notice = Render(session, track[t]);
                if (notice == null) { _check(false, "shm frame notice for pose " + t, session.LastError ?? "timeout"); return; }
                if (first == null) first = notice;
                _check(notice.Data.Length == 0 && notice.Slot.HasValue && notice.SlotSeq.HasValue && notice.PixelFormat == "bgra8",
                       "shm frame notice", notice.ToString());
                RingFrame viaSlot = ring.Read((int)notice.Slot.Value, notice.SlotSeq);
                _check(viaSlot.Info.FrameSeq == notice.Seq, "ring slot holds the noticed seq", viaSlot.Info.FrameSeq + " vs " + notice.Seq);
                _check(SameSwapped(viaSlot.Pixels, inline[t]), "shm frame equals inline frame (B<->R) for pose " + t, "");
                latest = ring.TryReadLatest();
                _check(latest != null && latest.Info.FrameSeq == notice.Seq && SameSwapped(latest.Pixels, inline[t]),
                       "TryReadLatest gives the newest frame", latest == null ? "none" : latest.Info.FrameSeq.ToString());
            }
            // Once the ring wraps, a stale notice is detected instead of returning the wrong frame.
            for (int i = 0; i < 3; i++) Render(session, track[picks[0]]);
            try
            {
                ring.Read((int)first.Slot.Value, first.SlotSeq);
                _check(false, "stale slot_seq detected after the ring wrapped", "read succeeded");
            }
            catch (RingReadException e)
            {
                _check(e.Message.Contains("reused"), "stale slot_seq detected after the ring wrapped", e.Message);
            }
        }

        /// <summary>Up to 8 poses spread over the track (first, last and between).</summary>
        private static int[] Picks(int n)
        {
            int k = Math.Min(8, n);
            var picks = new int[k];
            for (int i = 0; i < k; i++) picks[i] = k == 1 ? 0 : (int)((long)i * (n - 1) / (k - 1));
            return picks;
        }

        private static Frame Render(FacecastSession session, float[] pose)
        {
            return WaitFor(session, session.SendLandmarks(pose));
        }

        /// <summary>Wait for the frame of <paramref name="seq"/> through the latest-wins slot
        /// (as a game's main thread would); null on timeout or an error for it.</summary>
        private static Frame WaitFor(FacecastSession session, long seq)
        {
            var sw = Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < ReplyTimeoutMs)
            {
                Frame f;
                if (session.LatestFrame.TryTake(out f) && f.Seq >= seq) return f.Seq == seq ? f : null;
                ErrorMessage err;
                if (session.PoseErrors.TryDequeue(out err) && err.Seq == seq) return null;
                System.Threading.Thread.Sleep(1);
            }
            return null;
        }

        private static bool SameSwapped(byte[] bgra, byte[] rgba)
        {
            if (bgra.Length != rgba.Length) return false;
            for (int i = 0; i < bgra.Length; i += 4)
                if (bgra[i] != rgba[i + 2] || bgra[i + 1] != rgba[i + 1] || bgra[i + 2] != rgba[i] || bgra[i + 3] != rgba[i + 3])
                    return false;
            return true;
        }
    }
}
#endif
