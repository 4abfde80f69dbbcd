namespace Facecast.Protocol
{
    /// <summary>Daemon -> client: the rendered frame for pose <see cref="Seq"/>.
    /// <see cref="Superseded"/> counts this session's poses dropped (latest-wins) since the
    /// previous frame. For output "shm", <see cref="Data"/> is empty and <see cref="Slot"/> /
    /// <see cref="SlotSeq"/> name where the pixels are in the ring.</summary>
    public sealed class Frame : Message
    {
        public const string TypeName = "frame";
        public override string Type { get { return TypeName; } }

        public long Seq;
        public string Character;
        public long Width;
        public long Height;
        public string PixelFormat;
        public byte[] Data;
        public MpMap Timings = new MpMap();  // str -> float: client_send, receive, render_start, render_end, reply
        public long Superseded;
        public long? Slot;
        public long? SlotSeq;

        public double Timing(string key, double fallback = 0.0) { return Timings.GetDouble(key, fallback); }

        public override MpMap Body()
        {
            var m = new MpMap()
                .Set("seq", MpValue.Of(Seq))
                .Set("character", MpValue.Of(Character))
                .Set("width", MpValue.Of(Width))
                .Set("height", MpValue.Of(Height))
                .Set("pixel_format", MpValue.Of(PixelFormat))
                .Set("data", MpValue.Of(Data))
                .Set("timings", MpValue.Of(Timings))
                .Set("superseded", MpValue.Of(Superseded));
            if (Slot.HasValue)
            {
                m.Set("slot", MpValue.Of(Slot.Value));
                m.Set("slot_seq", SlotSeq.HasValue ? MpValue.Of(SlotSeq.Value) : MpValue.Nil);
            }
            return m;
        }

        public override byte[] GetBytes(string field) { return field == "data" ? Data : null; }

        public static Message FromBody(MpMap d)
        {
            MpMap raw = Fields.ReadMap(d, "timings");
            var timings = new MpMap();
            for (int i = 0; i < raw.Count; i++)
            {
                MpValue v = raw.ValueAt(i);
                // Python: isinstance(v, (int, float)) and math.isfinite(v) -- a bool is an int there.
                bool number = v.Type == MpType.Int || v.Type == MpType.Float || v.Type == MpType.Bool;
                double x = number ? v.AsDouble() : double.NaN;
                if (double.IsNaN(x) || double.IsInfinity(x))
                    throw new ProtocolException(ErrorCode.InvalidField, "'timings' values must be finite numbers");
                timings.SetKey(raw.KeyAt(i), MpValue.Of(x));
            }
            var m = new Frame();
            m.Timings = timings;
            m.Seq = Fields.ReadInt(d, "seq");
            m.Character = Fields.ReadStr(d, "character");
            m.Width = Fields.ReadInt(d, "width");
            m.Height = Fields.ReadInt(d, "height");
            m.PixelFormat = Fields.ReadStr(d, "pixel_format", null, Formats.PixelFormats);
            m.Data = Fields.ReadBytes(d, "data");
            m.Superseded = Fields.ReadInt(d, "superseded", 0);
            m.Slot = Fields.ReadOptInt(d, "slot");
            m.SlotSeq = Fields.ReadOptInt(d, "slot_seq");
            return m;
        }
    }
}
