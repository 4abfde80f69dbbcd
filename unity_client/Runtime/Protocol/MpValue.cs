using System;
using System.Collections.Generic;

namespace Facecast.Protocol
{
    public enum MpType { Nil, Bool, Int, Float, Str, Bin, Array, Map, Ext }

    /// <summary>One decoded msgpack value of the subset the protocol uses. Integers keep
    /// their full range: <see cref="Int"/> for -2^63..2^63-1, <see cref="BigUInt"/> with
    /// <see cref="IsBigUInt"/> for 2^63..2^64-1 (a uint64 on the wire).</summary>
    public sealed class MpValue
    {
        public static readonly MpValue Nil = new MpValue(MpType.Nil);

        public readonly MpType Type;
        public bool Bool;
        public long Int;
        public ulong BigUInt;
        public bool IsBigUInt;
        public double Float;
        public string Str;
        public byte[] Bin;         // bin data, or ext data
        public sbyte ExtType;
        public List<MpValue> Array;
        public MpMap Map;

        private MpValue(MpType type) { Type = type; }

        public static MpValue Of(bool b) { var v = new MpValue(MpType.Bool); v.Bool = b; return v; }
        public static MpValue Of(long i) { var v = new MpValue(MpType.Int); v.Int = i; return v; }
        public static MpValue Of(double d) { var v = new MpValue(MpType.Float); v.Float = d; return v; }
        public static MpValue Of(string s) { if (s == null) return Nil; var v = new MpValue(MpType.Str); v.Str = s; return v; }
        public static MpValue Of(byte[] b) { if (b == null) return Nil; var v = new MpValue(MpType.Bin); v.Bin = b; return v; }
        public static MpValue Of(MpMap m) { if (m == null) return Nil; var v = new MpValue(MpType.Map); v.Map = m; return v; }
        public static MpValue Of(List<MpValue> a) { if (a == null) return Nil; var v = new MpValue(MpType.Array); v.Array = a; return v; }

        public static MpValue OfUInt64(ulong u)
        {
            if (u <= long.MaxValue) return Of((long)u);
            var v = new MpValue(MpType.Int);
            v.IsBigUInt = true;
            v.BigUInt = u;
            return v;
        }

        public static MpValue OfExt(sbyte type, byte[] data)
        {
            var v = new MpValue(MpType.Ext);
            v.ExtType = type;
            v.Bin = data;
            return v;
        }

        public static MpValue OfStrings(IEnumerable<string> items)
        {
            var list = new List<MpValue>();
            foreach (var s in items) list.Add(Of(s));
            return Of(list);
        }

        public bool IsNil { get { return Type == MpType.Nil; } }

        /// <summary>An integer in 0..2^63-1 (the protocol's default int range).</summary>
        public bool IsNonNegativeInt { get { return Type == MpType.Int && !IsBigUInt && Int >= 0; } }

        /// <summary>A number as double (int or float), as Python's float(value).</summary>
        public double AsDouble()
        {
            if (Type == MpType.Float) return Float;
            if (Type == MpType.Int) return IsBigUInt ? (double)BigUInt : (double)Int;
            if (Type == MpType.Bool) return Bool ? 1.0 : 0.0;
            throw new InvalidOperationException("not a number: " + Type);
        }

        public override string ToString()
        {
            switch (Type)
            {
                case MpType.Nil: return "nil";
                case MpType.Bool: return Bool ? "true" : "false";
                case MpType.Int: return IsBigUInt ? BigUInt.ToString() : Int.ToString();
                case MpType.Float: return Float.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                case MpType.Str: return "\"" + Str + "\"";
                case MpType.Bin: return "<bin " + Bin.Length + " bytes>";
                case MpType.Ext: return "<ext " + ExtType + ", " + Bin.Length + " bytes>";
                case MpType.Array: return "[" + string.Join(", ", Array.ConvertAll(x => x.ToString()).ToArray()) + "]";
                default: return Map.ToString();
            }
        }
    }
}
