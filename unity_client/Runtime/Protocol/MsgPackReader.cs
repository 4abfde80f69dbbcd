using System;
using System.Collections.Generic;
using System.Text;

namespace Facecast.Protocol
{
    /// <summary>Strict msgpack decoder for the protocol's subset, with the limits Python's
    /// decoder sets (msgpack.unpackb(raw=False, strict_map_key=True, max_array_len=65536,
    /// max_map_len=4096)): arrays of at most 65536 items, maps of at most 4096 entries,
    /// map keys str or bin only, strings valid UTF-8, no trailing bytes. Every failure is
    /// a ProtocolException MALFORMED.</summary>
    public sealed class MsgPackReader
    {
        public const int MaxArrayLength = 1 << 16;
        public const int MaxMapLength = 1 << 12;
        public const int MaxDepth = 1024;

        private static readonly UTF8Encoding StrictUtf8 = new UTF8Encoding(false, true);

        private readonly byte[] _buf;
        private readonly int _end;
        private int _pos;

        private MsgPackReader(byte[] buf, int offset, int count)
        {
            _buf = buf;
            _pos = offset;
            _end = offset + count;
        }

        /// <summary>Decode exactly one value filling the whole buffer.</summary>
        public static MpValue ReadOne(byte[] buf) { return ReadOne(buf, 0, buf.Length); }

        public static MpValue ReadOne(byte[] buf, int offset, int count)
        {
            var r = new MsgPackReader(buf, offset, count);
            MpValue v = r.Read(0);
            if (r._pos != r._end) throw Malformed("ExtraData: " + (r._end - r._pos) + " bytes after the value");
            return v;
        }

        private static ProtocolException Malformed(string why)
        {
            return new ProtocolException(ErrorCode.Malformed, "not a msgpack message: " + why);
        }

        private void Need(long n)
        {
            if (n < 0 || n > _end - _pos) throw Malformed("incomplete input");
        }

        private byte U8() { Need(1); return _buf[_pos++]; }

        private ulong BigEndian(int n)
        {
            Need(n);
            ulong v = 0;
            for (int i = 0; i < n; i++) v = (v << 8) | _buf[_pos++];
            return v;
        }

        private byte[] Bytes(long n)
        {
            Need(n);
            var b = new byte[n];
            Buffer.BlockCopy(_buf, _pos, b, 0, (int)n);
            _pos += (int)n;
            return b;
        }

        private MpValue Read(int depth)
        {
            if (depth > MaxDepth) throw Malformed("nested too deeply");
            byte b = U8();
            if (b <= 0x7f) return MpValue.Of((long)b);
            if (b >= 0xe0) return MpValue.Of((long)(sbyte)b);
            if (b >= 0x80 && b <= 0x8f) return ReadMap(b & 0x0f, depth);
            if (b >= 0x90 && b <= 0x9f) return ReadArray(b & 0x0f, depth);
            if (b >= 0xa0 && b <= 0xbf) return ReadStr(b & 0x1f);
            switch (b)
            {
                case 0xc0: return MpValue.Nil;
                case 0xc2: return MpValue.Of(false);
                case 0xc3: return MpValue.Of(true);
                case 0xc4: return MpValue.Of(Bytes((long)BigEndian(1)));
                case 0xc5: return MpValue.Of(Bytes((long)BigEndian(2)));
                case 0xc6: return MpValue.Of(Bytes((long)BigEndian(4)));
                case 0xc7: return ReadExt((long)BigEndian(1));
                case 0xc8: return ReadExt((long)BigEndian(2));
                case 0xc9: return ReadExt((long)BigEndian(4));
                case 0xca:
                {
                    uint bits = (uint)BigEndian(4);
                    return MpValue.Of((double)BitConverter.ToSingle(BitConverter.GetBytes(bits), 0));
                }
                case 0xcb: return MpValue.Of(BitConverter.Int64BitsToDouble((long)BigEndian(8)));
                case 0xcc: return MpValue.Of((long)BigEndian(1));
                case 0xcd: return MpValue.Of((long)BigEndian(2));
                case 0xce: return MpValue.Of((long)BigEndian(4));
                case 0xcf: return MpValue.OfUInt64(BigEndian(8));
                case 0xd0: return MpValue.Of((long)(sbyte)BigEndian(1));
                case 0xd1: return MpValue.Of((long)(short)BigEndian(2));
                case 0xd2: return MpValue.Of((long)(int)BigEndian(4));
                case 0xd3: return MpValue.Of((long)BigEndian(8));
                case 0xd4: return ReadExt(1);
                case 0xd5: return ReadExt(2);
                case 0xd6: return ReadExt(4);
                case 0xd7: return ReadExt(8);
                case 0xd8: return ReadExt(16);
                case 0xd9: return ReadStr((long)BigEndian(1));
                case 0xda: return ReadStr((long)BigEndian(2));
                case 0xdb: return ReadStr((long)BigEndian(4));
                case 0xdc: return ReadArray((long)BigEndian(2), depth);
                case 0xdd: return ReadArray((long)BigEndian(4), depth);
                case 0xde: return ReadMap((long)BigEndian(2), depth);
                case 0xdf: return ReadMap((long)BigEndian(4), depth);
                default: throw Malformed("FormatError: byte 0x" + b.ToString("x2") + " is not a msgpack type");
            }
        }

        private MpValue ReadStr(long n)
        {
            Need(n);
            string s;
            try
            {
                s = StrictUtf8.GetString(_buf, _pos, (int)n);
            }
            catch (ArgumentException)
            {
                throw Malformed("UnicodeDecodeError");
            }
            _pos += (int)n;
            return MpValue.Of(s);
        }

        private MpValue ReadExt(long n)
        {
            sbyte type = (sbyte)U8();
            byte[] data = Bytes(n);
            // msgpack-python turns ext -1 into a Timestamp and rejects other lengths.
            if (type == -1 && n != 4 && n != 8 && n != 12) throw Malformed("timestamp of " + n + " bytes");
            return MpValue.OfExt(type, data);
        }

        private MpValue ReadArray(long n, int depth)
        {
            if (n > MaxArrayLength) throw Malformed("array of " + n + " items exceeds " + MaxArrayLength);
            var items = new List<MpValue>((int)Math.Min(n, _end - _pos));
            for (long i = 0; i < n; i++) items.Add(Read(depth + 1));
            return MpValue.Of(items);
        }

        private MpValue ReadMap(long n, int depth)
        {
            if (n > MaxMapLength) throw Malformed("map of " + n + " entries exceeds " + MaxMapLength);
            var map = new MpMap();
            for (long i = 0; i < n; i++)
            {
                MpValue key = Read(depth + 1);
                if (key.Type != MpType.Str && key.Type != MpType.Bin)
                    throw Malformed(key.Type + " is not allowed for map key when strict_map_key=True");
                map.SetKey(key, Read(depth + 1));
            }
            return MpValue.Of(map);
        }
    }
}
