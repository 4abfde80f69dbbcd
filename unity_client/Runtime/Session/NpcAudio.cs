using System;
using Facecast.Protocol;

namespace Facecast.Session
{
    /// <summary>Streams an NPC's dialogue to the daemon (docs/npc.md): float samples as a game
    /// engine holds them (interleaved, any channel count, -1..1) become 16-bit mono PCM in
    /// `audio` messages of at most Formats.MaxAudioChunkBytes. Engine-independent, so the
    /// Unity component and the console tests share it.</summary>
    public sealed class NpcAudio
    {
        private readonly FacecastSession _session;
        public long Line { get; private set; }
        public int Rate { get; private set; }
        public long SamplesSent { get; private set; }

        public NpcAudio(FacecastSession session) { _session = session; }

        /// <summary>Start a new line at <paramref name="rate"/> Hz: the daemon drops what is
        /// left of the previous one when its first chunk arrives.</summary>
        public void NewLine(int rate)
        {
            if (rate < Formats.MinAudioRate || rate > Formats.MaxAudioRate)
                throw new ArgumentOutOfRangeException("rate", rate, "audio rate must be " + Formats.MinAudioRate + ".." + Formats.MaxAudioRate + " Hz");
            Line++;
            Rate = rate;
            SamplesSent = 0;
        }

        /// <summary>Send <paramref name="frames"/> frames of interleaved samples starting at
        /// frame <paramref name="offset"/> (a frame = one sample per channel), mixed to mono.</summary>
        public void Send(float[] interleaved, int channels, int offset, int frames)
        {
            if (Rate == 0) throw new InvalidOperationException("NewLine(rate) before Send");
            if (channels < 1) throw new ArgumentOutOfRangeException("channels");
            int perChunk = Formats.MaxAudioChunkBytes / 2;
            for (int start = 0; start < frames; start += perChunk)
            {
                int n = Math.Min(perChunk, frames - start);
                var pcm = new byte[2 * n];
                for (int i = 0; i < n; i++)
                {
                    float sum = 0f;
                    int at = (offset + start + i) * channels;
                    for (int c = 0; c < channels; c++) sum += interleaved[at + c];
                    float x = Math.Max(-1f, Math.Min(1f, sum / channels));
                    short s = (short)Math.Round(x * 32767f);
                    pcm[2 * i] = (byte)(s & 0xff);
                    pcm[2 * i + 1] = (byte)((s >> 8) & 0xff);
                }
                _session.Enqueue(new Audio { Rate = Rate, Pcm = pcm, Line = Line });
                SamplesSent += n;
            }
        }
    }
}
