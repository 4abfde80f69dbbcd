using System.Collections.Generic;

namespace Facecast.Protocol
{
    /// <summary>Client -> daemon, first message: who the client is and which versions it speaks.</summary>
    public sealed class Hello : Message
    {
        public const string TypeName = "hello";
        public override string Type { get { return TypeName; } }

        public string Client = "";
        public List<long> Versions = new List<long> { Formats.ProtocolVersion };

        public override MpMap Body()
        {
            var versions = new List<MpValue>();
            foreach (long v in Versions) versions.Add(MpValue.Of(v));
            return new MpMap().Set("client", MpValue.Of(Client)).Set("versions", MpValue.Of(versions));
        }

        public static Message FromBody(MpMap d)
        {
            List<MpValue> raw = Fields.ReadList(d, "versions");
            var versions = new List<long>();
            if (raw == null) versions.Add(Formats.ProtocolVersion);
            else
                foreach (MpValue x in raw)
                {
                    // Python keeps any int; a uint64 beyond 2^63 cannot be one of our versions.
                    if (x.Type != MpType.Int)
                        throw new ProtocolException(ErrorCode.InvalidField, "'versions' must be a list of integers");
                    versions.Add(x.IsBigUInt ? -1 : x.Int);
                }
            return new Hello { Versions = versions, Client = Fields.ReadStr(d, "client", "") };
        }
    }
}
