namespace Facecast.Protocol
{
    /// <summary>msgpack encoding and strict decoding of protocol v1 messages
    /// (src/facecast/protocol/codec.py).</summary>
    public static class Codec
    {
        /// <summary>Message -> msgpack bytes: the message's fields, then v and type
        /// (byte for byte what Python's facecast.protocol.encode writes).</summary>
        public static byte[] Encode(Message message)
        {
            MpMap body = message.Body();
            body.Set("v", MpValue.Of((long)Formats.ProtocolVersion));
            body.Set("type", MpValue.Of(message.Type));
            return MsgPackWriter.Encode(MpValue.Of(body));
        }

        /// <summary>msgpack bytes -> Message. Throws DecodeException with the code and, where
        /// readable, the message's type and seq. Check order as Python: size (TOO_LARGE),
        /// msgpack (MALFORMED), top-level map, version, type, then the type's own fields.</summary>
        public static Message Decode(byte[] raw, long maxBytes = Formats.DefaultMaxMessageBytes)
        {
            string msgType = null;
            long? seq = null;
            try
            {
                if (raw.Length > maxBytes)
                    throw new ProtocolException(ErrorCode.TooLarge,
                        "message of " + raw.Length + " bytes exceeds the limit of " + maxBytes);
                MpValue top = MsgPackReader.ReadOne(raw);
                if (top.Type != MpType.Map)
                    throw new ProtocolException(ErrorCode.Malformed, "top level must be a map, got " + top.Type);
                MpMap obj = top.Map;
                MpValue t = obj.Get("type"), s = obj.Get("seq"), v = obj.Get("v");
                if (t != null && t.Type == MpType.Str && Fields.CodePoints(t.Str) <= Formats.MaxString) msgType = t.Str;
                if (s != null && s.IsNonNegativeInt) seq = s.Int;
                if (v == null || v.Type != MpType.Int || v.IsBigUInt || v.Int != Formats.ProtocolVersion)
                    throw new ProtocolException(ErrorCode.UnsupportedVersion,
                        "protocol version " + (v == null ? "None" : v.ToString()) + " not supported; supported: [1]");
                var decoder = Message.DecoderFor(msgType);
                if (decoder == null)
                    throw new ProtocolException(ErrorCode.UnknownType,
                        "unknown message type " + (t == null ? "None" : t.ToString()));
                return decoder(obj);
            }
            catch (DecodeException)
            {
                throw;
            }
            catch (ProtocolException err)
            {
                throw new DecodeException(err, msgType, seq);
            }
        }
    }
}
