using System;

namespace Facecast.Protocol
{
    /// <summary>A message was rejected; <see cref="Code"/> is what goes into an error reply.</summary>
    public class ProtocolException : Exception
    {
        public ErrorCode Code { get; private set; }
        public string Detail { get; private set; }

        public ProtocolException(ErrorCode code, string detail)
            : base(ErrorCodes.WireName(code) + " (" + (int)code + "): " + detail)
        {
            Code = code;
            Detail = detail;
        }
    }

    /// <summary>A ProtocolException from <see cref="Codec.Decode"/> that also says what could be
    /// read of the offending message: its type (null if unreadable) and seq (null if unreadable),
    /// exactly as Python's facecast.protocol.DecodeError.</summary>
    public sealed class DecodeException : ProtocolException
    {
        public string MsgType { get; private set; }
        public long? Seq { get; private set; }

        public DecodeException(ProtocolException inner, string msgType, long? seq)
            : base(inner.Code, inner.Detail)
        {
            MsgType = msgType;
            Seq = seq;
        }
    }
}
