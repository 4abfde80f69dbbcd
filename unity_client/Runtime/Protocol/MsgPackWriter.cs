using System;
using System.IO;
using System.Text;

namespace Facecast.Protocol
{
    /// <summary>msgpack encoder writing the same bytes as Python's msgpack.packb(use_bin_type=True):
    /// the smallest integer form (unsigned types for non-negative values), float64 for every
    /// float, str8/bin8 allowed, maps and arrays in their given order.</summary>
    public sealed class MsgPackWriter
    {
        private static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        private readonly MemoryStream _out;

        public MsgPackWriter(int capacity = 256) { _out = new MemoryStream(capacity); }

        public byte[] ToArray() { return _out.ToArray(); }

        public static byte[] Encode(MpValue value)
        {
            var w = new MsgPackWriter();
            w.Write(value);
            return w.ToArray();
        }

        private void B(int b) { _out.WriteByte((byte)b); }

        private void BE(ulong v, int n)
        {
            for (int i = n - 1; i >= 0; i--) _out.WriteByte((byte)(v >> (8 * i)));
        }

        public void Write(MpValue v)
        {
            switch (v.Type)
            {
                case MpType.Nil: B(0xc0); break;
                case MpType.Bool: B(v.Bool ? 0xc3 : 0xc2); break;
                case MpType.Int:
                    if (v.IsBigUInt) { B(0xcf); BE(v.BigUInt, 8); }
                    else WriteInt(v.Int);
                    break;
                case MpType.Float: WriteDouble(v.Float); break;
                case MpType.Str: WriteString(v.Str); break;
                case MpType.Bin: WriteBin(v.Bin, 0, v.Bin.Length); break;
                case MpType.Ext: WriteExt(v.ExtType, v.Bin); break;
                case MpType.Array:
                    WriteContainerHeader(v.Array.Count, 0x90, 0xdc, 0xdd);
                    foreach (MpValue item in v.Array) Write(item);
                    break;
                case MpType.Map:
                    WriteContainerHeader(v.Map.Count, 0x80, 0xde, 0xdf);
                    for (int i = 0; i < v.Map.Count; i++)
                    {
                        Write(v.Map.KeyAt(i));
                        Write(v.Map.ValueAt(i));
                    }
                    break;
            }
        }

        public void WriteInt(long i)
        {
            if (i >= 0)
            {
                if (i < 0x80) B((int)i);
                else if (i <= 0xff) { B(0xcc); BE((ulong)i, 1); }
                else if (i <= 0xffff) { B(0xcd); BE((ulong)i, 2); }
                else if (i <= 0xffffffffL) { B(0xce); BE((ulong)i, 4); }
                else { B(0xcf); BE((ulong)i, 8); }
            }
            else
            {
                if (i >= -32) B((int)(i & 0xff));
                else if (i >= sbyte.MinValue) { B(0xd0); BE((ulong)i, 1); }
                else if (i >= short.MinValue) { B(0xd1); BE((ulong)i, 2); }
                else if (i >= int.MinValue) { B(0xd2); BE((ulong)i, 4); }
                else { B(0xd3); BE((ulong)i, 8); }
            }
        }

        public void WriteDouble(double d)
        {
            B(0xcb);
            BE((ulong)BitConverter.DoubleToInt64Bits(d), 8);
        }

        public void WriteString(string s)
        {
            byte[] bytes = Utf8.GetBytes(s);
            int n = bytes.Length;
            if (n < 32) B(0xa0 | n);
            else if (n <= 0xff) { B(0xd9); BE((ulong)n, 1); }
            else if (n <= 0xffff) { B(0xda); BE((ulong)n, 2); }
            else { B(0xdb); BE((ulong)n, 4); }
            _out.Write(bytes, 0, n);
        }

        public void WriteBin(byte[] data, int offset, int count)
        {
            if (count <= 0xff) { B(0xc4); BE((ulong)count, 1); }
            else if (count <= 0xffff) { B(0xc5); BE((ulong)count, 2); }
            else { B(0xc6); BE((ulong)count, 4); }
            _out.Write(data, offset, count);
        }

        private void WriteExt(sbyte type, byte[] data)
        {
            int n = data.Length;
            if (n == 1) B(0xd4);
            else if (n == 2) B(0xd5);
            else if (n == 4) B(0xd6);
            else if (n == 8) B(0xd7);
            else if (n == 16) B(0xd8);
            else if (n <= 0xff) { B(0xc7); BE((ulong)n, 1); }
            else if (n <= 0xffff) { B(0xc8); BE((ulong)n, 2); }
            else { B(0xc9); BE((ulong)n, 4); }
            B((byte)type);
            _out.Write(data, 0, n);
        }

        private void WriteContainerHeader(int n, int fix, int c16, int c32)
        {
            if (n < 16) B(fix | n);
            else if (n <= 0xffff) { B(c16); BE((ulong)n, 2); }
            else { B(c32); BE((ulong)n, 4); }
        }
    }
}
