#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Facecast.Tests
{
    /// <summary>A minimal JSON reader for the fixture index (test-only): objects become
    /// Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;, integers long, other numbers
    /// double, plus string, bool and null.</summary>
    internal sealed class MiniJson
    {
        private readonly string _s;
        private int _i;

        private MiniJson(string s) { _s = s; }

        public static object Parse(string text)
        {
            var p = new MiniJson(text);
            object v = p.Value();
            p.Ws();
            if (p._i != p._s.Length) throw new FormatException("trailing characters in JSON");
            return v;
        }

        private void Ws() { while (_i < _s.Length && char.IsWhiteSpace(_s[_i])) _i++; }

        private object Value()
        {
            Ws();
            char c = _s[_i];
            if (c == '{') return Obj();
            if (c == '[') return Arr();
            if (c == '"') return Str();
            if (Lit("true")) return true;
            if (Lit("false")) return false;
            if (Lit("null")) return null;
            return Num();
        }

        private bool Lit(string word)
        {
            if (string.CompareOrdinal(_s, _i, word, 0, word.Length) != 0) return false;
            _i += word.Length;
            return true;
        }

        private Dictionary<string, object> Obj()
        {
            var d = new Dictionary<string, object>();
            _i++;
            Ws();
            if (_s[_i] == '}') { _i++; return d; }
            while (true)
            {
                Ws();
                string k = Str();
                Ws();
                Expect(':');
                d[k] = Value();
                Ws();
                if (_s[_i] == ',') { _i++; continue; }
                Expect('}');
                return d;
            }
        }

        private List<object> Arr()
        {
            var a = new List<object>();
            _i++;
            Ws();
            if (_s[_i] == ']') { _i++; return a; }
            while (true)
            {
                a.Add(Value());
                Ws();
                if (_s[_i] == ',') { _i++; continue; }
                Expect(']');
                return a;
            }
        }

        private void Expect(char c)
        {
            if (_s[_i] != c) throw new FormatException("expected '" + c + "' at " + _i);
            _i++;
        }

        private string Str()
        {
            Expect('"');
            var sb = new StringBuilder();
            while (_s[_i] != '"')
            {
                char c = _s[_i++];
                if (c != '\\') { sb.Append(c); continue; }
                char e = _s[_i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u': sb.Append((char)Convert.ToInt32(_s.Substring(_i, 4), 16)); _i += 4; break;
                    default: sb.Append(e); break;
                }
            }
            _i++;
            return sb.ToString();
        }

        private object Num()
        {
            int start = _i;
            while (_i < _s.Length && "+-0123456789.eE".IndexOf(_s[_i]) >= 0) _i++;
            string t = _s.Substring(start, _i - start);
            long l;
            if (t.IndexOfAny(new[] { '.', 'e', 'E' }) < 0 && long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out l))
                return l;
            return double.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture);
        }
    }
}
#endif
