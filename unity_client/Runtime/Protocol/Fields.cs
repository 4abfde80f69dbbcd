using System.Collections.Generic;

namespace Facecast.Protocol
{
    /// <summary>Typed field readers for decoding wire maps, mirroring
    /// src/facecast/protocol/fields.py: each failure is a ProtocolException with the same
    /// code as Python's. A nil value counts as absent.</summary>
    public static class Fields
    {
        public const long MaxInt = long.MaxValue; // 2^63 - 1

        private static MpValue GetOrMissing(MpMap d, string key, bool required)
        {
            MpValue v = d.Get(key);
            if (v == null || v.IsNil)
            {
                if (required) throw new ProtocolException(ErrorCode.InvalidField, "missing field '" + key + "'");
                return null;
            }
            return v;
        }

        /// <summary>Python's len(str): code points, not UTF-16 units.</summary>
        public static int CodePoints(string s)
        {
            int n = 0;
            for (int i = 0; i < s.Length; i++)
                if (!char.IsLowSurrogate(s[i]) || i == 0 || !char.IsHighSurrogate(s[i - 1])) n++;
            return n;
        }

        /// <summary>A required string when <paramref name="fallback"/> is null.</summary>
        public static string ReadStr(MpMap d, string key, string fallback = null, string[] choices = null)
        {
            MpValue v = GetOrMissing(d, key, fallback == null);
            if (v == null) return fallback;
            if (v.Type != MpType.Str || CodePoints(v.Str) > Formats.MaxString)
                throw new ProtocolException(ErrorCode.InvalidField,
                    "'" + key + "' must be a string of at most " + Formats.MaxString + " chars");
            if (choices != null && !Formats.Contains(choices, v.Str))
                throw new ProtocolException(ErrorCode.Unsupported,
                    "'" + key + "'='" + v.Str + "' not supported; one of " + string.Join(", ", choices));
            return v.Str;
        }

        public static string ReadOptStr(MpMap d, string key)
        {
            return GetOrMissing(d, key, false) == null ? null : ReadStr(d, key);
        }

        /// <summary>A required int when <paramref name="fallback"/> is null; bools and floats are rejected.</summary>
        public static long ReadInt(MpMap d, string key, long? fallback = null, long lo = 0, long hi = MaxInt)
        {
            MpValue v = GetOrMissing(d, key, !fallback.HasValue);
            if (v == null) return fallback.Value;
            if (v.Type != MpType.Int || v.IsBigUInt || v.Int < lo || v.Int > hi)
                throw new ProtocolException(ErrorCode.InvalidField,
                    "'" + key + "' must be an integer in [" + lo + ", " + hi + "], got " + v);
            return v.Int;
        }

        public static long? ReadOptInt(MpMap d, string key)
        {
            return GetOrMissing(d, key, false) == null ? (long?)null : ReadInt(d, key);
        }

        /// <summary>A number (an int is accepted), finite; NON_FINITE for NaN/infinity.</summary>
        public static double ReadFloat(MpMap d, string key, double? fallback = null)
        {
            MpValue v = GetOrMissing(d, key, !fallback.HasValue);
            if (v == null) return fallback.Value;
            if (v.Type != MpType.Int && v.Type != MpType.Float)
                throw new ProtocolException(ErrorCode.InvalidField, "'" + key + "' must be a number, got " + v.Type);
            double x = v.AsDouble();
            if (double.IsNaN(x) || double.IsInfinity(x))
                throw new ProtocolException(ErrorCode.NonFinite, "'" + key + "' must be finite");
            return x;
        }

        /// <summary>A required bool when <paramref name="fallback"/> is null; ints are rejected.</summary>
        public static bool ReadBool(MpMap d, string key, bool? fallback = null)
        {
            MpValue v = GetOrMissing(d, key, !fallback.HasValue);
            if (v == null) return fallback.Value;
            if (v.Type != MpType.Bool)
                throw new ProtocolException(ErrorCode.InvalidField, "'" + key + "' must be true or false, got " + v);
            return v.Bool;
        }

        public static byte[] ReadBytes(MpMap d, string key)
        {
            MpValue v = GetOrMissing(d, key, true);
            if (v.Type != MpType.Bin)
                throw new ProtocolException(ErrorCode.InvalidField, "'" + key + "' must be raw bytes (msgpack bin)");
            return v.Bin;
        }

        /// <summary>A map; an absent one is empty unless <paramref name="required"/>.</summary>
        public static MpMap ReadMap(MpMap d, string key, bool required = false)
        {
            MpValue v = GetOrMissing(d, key, required);
            if (v == null) return new MpMap();
            if (v.Type != MpType.Map) throw new ProtocolException(ErrorCode.InvalidField, "'" + key + "' must be a map");
            return v.Map;
        }

        /// <summary>A list; an absent one is null (the caller supplies its default) unless required.</summary>
        public static List<MpValue> ReadList(MpMap d, string key, bool required = false)
        {
            MpValue v = GetOrMissing(d, key, required);
            if (v == null) return null;
            if (v.Type != MpType.Array) throw new ProtocolException(ErrorCode.InvalidField, "'" + key + "' must be a list");
            return v.Array;
        }
    }
}
