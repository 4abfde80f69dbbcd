namespace Facecast.Protocol
{
    /// <summary>Daemon -> client, reply to bind: what was bound, the character's neutral
    /// landmarks (478 x 3 mediapipe478) and, for output "shm", the ring (name, path, size,
    /// slots, layout_version).</summary>
    public sealed class Bound : Message
    {
        public const string TypeName = "bound";
        public override string Type { get { return TypeName; } }
        private static readonly int[] NeutralShape = { 478, 3 };

        public string Character;
        public long Width;
        public long Height;
        public string PixelFormat;
        public string Output;
        public PointArray Neutral;
        public MpMap Shm;  // null unless output "shm"

        public string ShmName { get { return Shm == null ? null : Shm.GetString("name"); } }
        public string ShmPath { get { return Shm == null ? null : Shm.GetString("path"); } }
        public long ShmSize { get { return Shm == null ? 0 : Shm.GetLong("size"); } }

        public override MpMap Body()
        {
            var neutral = new PointArray(Neutral.Values, Neutral.Shape, Formats.Mediapipe478);
            var m = new MpMap()
                .Set("character", MpValue.Of(Character))
                .Set("width", MpValue.Of(Width))
                .Set("height", MpValue.Of(Height))
                .Set("pixel_format", MpValue.Of(PixelFormat))
                .Set("output", MpValue.Of(Output))
                .Set("neutral", MpValue.Of(neutral.ToWire()));
            if (Shm != null) m.Set("shm", MpValue.Of(Shm));
            return m;
        }

        public override PointArray GetArray(string field) { return field == "neutral" ? Neutral : null; }

        public static Message FromBody(MpMap d)
        {
            var m = new Bound();
            m.Character = Fields.ReadStr(d, "character");
            m.Width = Fields.ReadInt(d, "width");
            m.Height = Fields.ReadInt(d, "height");
            m.PixelFormat = Fields.ReadStr(d, "pixel_format");
            m.Output = Fields.ReadStr(d, "output");
            m.Neutral = PointArray.Unpack("neutral", d.Get("neutral"), NeutralShape, Formats.Mediapipe478);
            m.Shm = d.Has("shm") ? Fields.ReadMap(d, "shm") : null;
            return m;
        }
    }
}
