namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: liveness and clock check; answered by pong.</summary>
    public sealed class Ping : Message
    {
        public const string TypeName = "ping";
        public override string Type { get { return TypeName; } }

        public double TSend;
        public long Seq;

        public override MpMap Body()
        {
            return new MpMap().Set("t_send", MpValue.Of(TSend)).Set("seq", MpValue.Of(Seq));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new Ping();
            m.TSend = Fields.ReadFloat(d, "t_send", 0.0);
            m.Seq = Fields.ReadInt(d, "seq", 0);
            return m;
        }
    }

    /// <summary>Daemon -> client, reply to ping: the ping's t_send and seq, and the daemon's clock.</summary>
    public sealed class Pong : Message
    {
        public const string TypeName = "pong";
        public override string Type { get { return TypeName; } }

        public double TSend;
        public double TServer;
        public long Seq;

        public override MpMap Body()
        {
            return new MpMap().Set("t_send", MpValue.Of(TSend)).Set("t_server", MpValue.Of(TServer)).Set("seq", MpValue.Of(Seq));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new Pong();
            m.TSend = Fields.ReadFloat(d, "t_send");
            m.TServer = Fields.ReadFloat(d, "t_server");
            m.Seq = Fields.ReadInt(d, "seq", 0);
            return m;
        }
    }
}
