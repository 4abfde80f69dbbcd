namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: choose the character, output size, pixel format and output mode.</summary>
    public sealed class Bind : Message
    {
        public const string TypeName = "bind";
        public override string Type { get { return TypeName; } }

        public string Character;
        public long Width = 256;
        public long Height = 256;
        public string PixelFormat = "rgba8";
        public string Output = "inline";
        public long JpegQuality = 90;
        public long Slots = Formats.DefaultSlots;  // ring slots, sent only with output "shm"

        public override MpMap Body()
        {
            var m = new MpMap()
                .Set("character", MpValue.Of(Character))
                .Set("width", MpValue.Of(Width))
                .Set("height", MpValue.Of(Height))
                .Set("pixel_format", MpValue.Of(PixelFormat))
                .Set("output", MpValue.Of(Output))
                .Set("jpeg_quality", MpValue.Of(JpegQuality));
            if (Output == "shm") m.Set("slots", MpValue.Of(Slots));
            return m;
        }

        public static Message FromBody(MpMap d)
        {
            var m = new Bind();
            m.Character = Fields.ReadStr(d, "character");
            m.Width = Fields.ReadInt(d, "width", 256, Formats.MinFrameSide, Formats.MaxFrameSide);
            m.Height = Fields.ReadInt(d, "height", 256, Formats.MinFrameSide, Formats.MaxFrameSide);
            m.PixelFormat = Fields.ReadStr(d, "pixel_format", "rgba8", Formats.PixelFormats);
            m.Output = Fields.ReadStr(d, "output", "inline");  // checked by the daemon (UNSUPPORTED), as in Python
            m.JpegQuality = Fields.ReadInt(d, "jpeg_quality", 90, 1, 100);
            m.Slots = Fields.ReadInt(d, "slots", Formats.DefaultSlots, Formats.MinSlots, Formats.MaxSlots);
            return m;
        }
    }
}
