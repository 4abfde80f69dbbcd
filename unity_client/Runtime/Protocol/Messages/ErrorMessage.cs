namespace Facecast.Protocol
{
    /// <summary>Daemon -> client ("error"): a request was rejected. <see cref="Seq"/> and
    /// <see cref="Ref"/> (the offending message's type) are set when the daemon could read them.</summary>
    public sealed class ErrorMessage : Message
    {
        public const string TypeName = "error";
        public override string Type { get { return TypeName; } }

        public long Code;
        public string Name;
        public string Text = "";  // wire field "message"
        public long? Seq;
        public string Ref;

        public override MpMap Body()
        {
            var m = new MpMap()
                .Set("code", MpValue.Of(Code))
                .Set("name", MpValue.Of(Name))
                .Set("message", MpValue.Of(Text));
            if (Seq.HasValue) m.Set("seq", MpValue.Of(Seq.Value));
            if (Ref != null) m.Set("ref", MpValue.Of(Ref));
            return m;
        }

        public static Message FromBody(MpMap d)
        {
            var m = new ErrorMessage();
            m.Code = Fields.ReadInt(d, "code");
            m.Name = Fields.ReadStr(d, "name");
            m.Text = Fields.ReadStr(d, "message", "");
            m.Seq = Fields.ReadOptInt(d, "seq");
            m.Ref = Fields.ReadOptStr(d, "ref");
            return m;
        }

        public override string ToString()
        {
            return Name + " (" + Code + ")" + (Ref != null ? " for " + Ref : "") + (Seq.HasValue ? " seq " + Seq : "") + ": " + Text;
        }
    }
}
