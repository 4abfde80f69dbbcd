namespace Facecast.Protocol
{
    /// <summary>Client -> daemon, after bind: make the session an NPC (docs/npc.md). The daemon
    /// generates its poses (idle life, the emotion, lip flap from audio) at Fps and sends a frame
    /// for each; answered by npc_state. Sent again it changes the emotion; Stop ends NPC mode.</summary>
    public sealed class Npc : Message
    {
        public const string TypeName = "npc";
        public override string Type { get { return TypeName; } }

        public string Emotion = "neutral";
        public long Seed;
        public long Fps = 30;
        public bool Stop;

        public override MpMap Body()
        {
            return new MpMap().Set("emotion", MpValue.Of(Emotion)).Set("seed", MpValue.Of(Seed))
                .Set("fps", MpValue.Of(Fps)).Set("stop", MpValue.Of(Stop));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new Npc();
            m.Emotion = Fields.ReadStr(d, "emotion", "neutral", Formats.NpcEmotions);
            m.Seed = Fields.ReadInt(d, "seed", 0, 0, 4294967295L);
            m.Fps = Fields.ReadInt(d, "fps", 30, Formats.MinNpcFps, Formats.MaxNpcFps);
            m.Stop = Fields.ReadBool(d, "stop", false);
            return m;
        }
    }

    /// <summary>Daemon -> client, reply to npc: whether the session is an NPC, its emotion, frame
    /// rate and the dialogue audio buffered ahead of its lip sync.</summary>
    public sealed class NpcState : Message
    {
        public const string TypeName = "npc_state";
        public override string Type { get { return TypeName; } }

        public bool Active;
        public string Emotion;
        public long Fps;
        public double AudioBufferedMs;

        public override MpMap Body()
        {
            return new MpMap().Set("active", MpValue.Of(Active)).Set("emotion", MpValue.Of(Emotion))
                .Set("fps", MpValue.Of(Fps)).Set("audio_buffered_ms", MpValue.Of(AudioBufferedMs));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new NpcState();
            m.Active = Fields.ReadBool(d, "active");
            m.Emotion = Fields.ReadStr(d, "emotion");
            m.Fps = Fields.ReadInt(d, "fps");
            m.AudioBufferedMs = Fields.ReadFloat(d, "audio_buffered_ms", 0.0);
            return m;
        }
    }

    /// <summary>Client -> daemon: a chunk of an NPC's dialogue, 16-bit signed little-endian mono
    /// PCM at Rate Hz, at most Formats.MaxAudioChunkBytes. A new Line number starts a new line.
    /// No reply (errors only).</summary>
    public sealed class Audio : Message
    {
        public const string TypeName = "audio";
        public override string Type { get { return TypeName; } }

        public long Rate;
        public byte[] Pcm;
        public long Line;

        public override MpMap Body()
        {
            return new MpMap().Set("rate", MpValue.Of(Rate)).Set("pcm", MpValue.Of(Pcm)).Set("line", MpValue.Of(Line));
        }

        public override byte[] GetBytes(string field) { return field == "pcm" ? Pcm : null; }

        public static Message FromBody(MpMap d)
        {
            var m = new Audio();
            m.Rate = Fields.ReadInt(d, "rate", null, Formats.MinAudioRate, Formats.MaxAudioRate);
            m.Pcm = Fields.ReadBytes(d, "pcm");
            m.Line = Fields.ReadInt(d, "line", 0, 0, 4294967295L);
            if (m.Pcm.Length > Formats.MaxAudioChunkBytes)
                throw new ProtocolException(ErrorCode.TooLarge, "audio chunk of " + m.Pcm.Length
                    + " bytes; at most " + Formats.MaxAudioChunkBytes + " per message");
            if (m.Pcm.Length % 2 != 0)
                throw new ProtocolException(ErrorCode.InvalidField,
                    "'pcm' must be whole 16-bit samples (an even byte count)");
            return m;
        }
    }
}
