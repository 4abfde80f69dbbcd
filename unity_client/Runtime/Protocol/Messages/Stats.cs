namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: ask for counters; answered by stats_report.</summary>
    public sealed class Stats : Message
    {
        public const string TypeName = "stats";
        public override string Type { get { return TypeName; } }
        public override MpMap Body() { return new MpMap(); }
    }

    /// <summary>Daemon -> client: daemon counters and this client's session counters, kept as
    /// generic maps (their contents are informational and may gain keys).</summary>
    public sealed class StatsReport : Message
    {
        public const string TypeName = "stats_report";
        public override string Type { get { return TypeName; } }

        public MpMap Daemon = new MpMap();
        public MpMap Session = new MpMap();

        public override MpMap Body()
        {
            return new MpMap().Set("daemon", MpValue.Of(Daemon)).Set("session", MpValue.Of(Session));
        }

        public static Message FromBody(MpMap d)
        {
            var m = new StatsReport();
            m.Daemon = Fields.ReadMap(d, "daemon", true);
            m.Session = Fields.ReadMap(d, "session");
            return m;
        }
    }
}
