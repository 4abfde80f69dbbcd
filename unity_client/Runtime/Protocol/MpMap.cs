using System.Collections.Generic;
using System.Text;

namespace Facecast.Protocol
{
    /// <summary>A msgpack map with string (or bin) keys, in wire order. Lookups see string
    /// keys only. A repeated key keeps its first position and its last value, as a Python
    /// dict built by msgpack does.</summary>
    public sealed class MpMap
    {
        private readonly List<MpValue> _keys = new List<MpValue>();
        private readonly List<MpValue> _values = new List<MpValue>();
        private readonly Dictionary<string, int> _strIndex = new Dictionary<string, int>();
        private readonly Dictionary<string, int> _binIndex = new Dictionary<string, int>();

        public int Count { get { return _keys.Count; } }
        public MpValue KeyAt(int i) { return _keys[i]; }
        public MpValue ValueAt(int i) { return _values[i]; }

        /// <summary>Set a string key (replaces the value in place if present).</summary>
        public MpMap Set(string key, MpValue value)
        {
            return SetKey(MpValue.Of(key), value);
        }

        /// <summary>Set a str or bin key (the decoder's entry point).</summary>
        public MpMap SetKey(MpValue key, MpValue value)
        {
            Dictionary<string, int> index = key.Type == MpType.Str ? _strIndex : _binIndex;
            string k = key.Type == MpType.Str ? key.Str : System.Convert.ToBase64String(key.Bin);
            int at;
            if (index.TryGetValue(k, out at))
            {
                _values[at] = value;
            }
            else
            {
                index[k] = _keys.Count;
                _keys.Add(key);
                _values.Add(value);
            }
            return this;
        }

        /// <summary>The value of a string key, or null when the key is absent
        /// (a nil value is returned as <see cref="MpValue.Nil"/>).</summary>
        public MpValue Get(string key)
        {
            int at;
            return _strIndex.TryGetValue(key, out at) ? _values[at] : null;
        }

        /// <summary>Present and not nil: the protocol's "nil counts as absent" rule.</summary>
        public bool Has(string key)
        {
            MpValue v = Get(key);
            return v != null && !v.IsNil;
        }

        // Lenient accessors for informational maps (capabilities, limits, stats, shm).
        public string GetString(string key, string fallback = null)
        {
            MpValue v = Get(key);
            return v != null && v.Type == MpType.Str ? v.Str : fallback;
        }

        public long GetLong(string key, long fallback = 0)
        {
            MpValue v = Get(key);
            return v != null && v.Type == MpType.Int && !v.IsBigUInt ? v.Int : fallback;
        }

        public double GetDouble(string key, double fallback = 0.0)
        {
            MpValue v = Get(key);
            return v != null && (v.Type == MpType.Int || v.Type == MpType.Float) ? v.AsDouble() : fallback;
        }

        public MpMap GetMap(string key)
        {
            MpValue v = Get(key);
            return v != null && v.Type == MpType.Map ? v.Map : null;
        }

        public override string ToString()
        {
            var sb = new StringBuilder("{");
            for (int i = 0; i < _keys.Count; i++)
            {
                if (i > 0) sb.Append(", ");
                sb.Append(_keys[i]).Append(": ").Append(_values[i]);
            }
            return sb.Append('}').ToString();
        }
    }
}
