namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: end the session now; answered by goodbye.</summary>
    public sealed class Bye : Message
    {
        public const string TypeName = "bye";
        public override string Type { get { return TypeName; } }
        public override MpMap Body() { return new MpMap(); }
    }

    /// <summary>Daemon -> client, reply to bye.</summary>
    public sealed class Goodbye : Message
    {
        public const string TypeName = "goodbye";
        public override string Type { get { return TypeName; } }
        public override MpMap Body() { return new MpMap(); }
    }
}
