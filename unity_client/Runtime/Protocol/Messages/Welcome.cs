namespace Facecast.Protocol
{
    /// <summary>Daemon -> client, reply to hello: chosen version, session id, capabilities, limits.</summary>
    public sealed class Welcome : Message
    {
        public const string TypeName = "welcome";
        public override string Type { get { return TypeName; } }

        public string Server;
        public long Version;
        public string Session;
        public MpMap Capabilities = new MpMap();  // renderer, inputs, landmark_formats, pixel_formats, outputs
        public MpMap Limits = new MpMap();        // max_message_bytes, max_batch, min/max_frame_side, session_timeout_s

        public override MpMap Body()
        {
            return new MpMap()
                .Set("server", MpValue.Of(Server))
                .Set("version", MpValue.Of(Version))
                .Set("session", MpValue.Of(Session))
                .Set("capabilities", MpValue.Of(Capabilities))
                .Set("limits", MpValue.Of(Limits));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new Welcome();
            m.Server = Fields.ReadStr(d, "server");
            m.Version = Fields.ReadInt(d, "version");
            m.Session = Fields.ReadStr(d, "session");
            m.Capabilities = Fields.ReadMap(d, "capabilities");
            m.Limits = Fields.ReadMap(d, "limits");
            return m;
        }
    }
}
