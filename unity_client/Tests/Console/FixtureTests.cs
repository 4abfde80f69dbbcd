#if !UNITY_5_3_OR_NEWER
using System;
using System.Collections.Generic;
using System.IO;
using Facecast.Protocol;

namespace Facecast.Tests
{
    /// <summary>Every golden fixture of tests/fixtures/protocol against the C# codec: valid
    /// ones decode to the index's type, fields, arrays, bytes and absences and re-encode byte
    /// for byte; invalid ones are rejected with the index's code, seq and ref.</summary>
    internal static class FixtureTests
    {
        public static void Run(string dir, Action<bool, string, string> check)
        {
            var index = (Dictionary<string, object>)MiniJson.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
            double tolerance = Convert.ToDouble(index["sum_tolerance"]);
            var codes = (Dictionary<string, object>)index["error_codes"];
            foreach (ErrorCode code in Enum.GetValues(typeof(ErrorCode)))
                check(codes.ContainsKey(ErrorCodes.WireName(code)) && (long)codes[ErrorCodes.WireName(code)] == (int)code,
                      "error code " + code, "index says otherwise");
            check(codes.Count == Enum.GetValues(typeof(ErrorCode)).Length, "error code count", codes.Count + " in the index");

            var valid = (List<object>)index["valid"];
            var invalid = (List<object>)index["invalid"];
            check(valid.Count > 0 && invalid.Count > 0, "fixture index lists fixtures", "");
            foreach (Dictionary<string, object> entry in valid) Valid(dir, entry, tolerance, check);
            foreach (Dictionary<string, object> entry in invalid) Invalid(dir, entry, check);
        }

        private static void Valid(string dir, Dictionary<string, object> e, double tol, Action<bool, string, string> check)
        {
            string file = (string)e["file"];
            byte[] raw = File.ReadAllBytes(Path.Combine(dir, file));
            Message m;
            try
            {
                m = Codec.Decode(raw);
            }
            catch (ProtocolException ex)
            {
                check(false, file, "rejected: " + ex.Message);
                return;
            }
            check(m.Type == (string)e["type"], file + " type", m.Type);
            MpMap body = m.Body();
            foreach (var kv in (Dictionary<string, object>)e["fields"])
            {
                MpValue got = body.Get(kv.Key);
                check(got != null && Same(kv.Value, got), file + " field " + kv.Key, got == null ? "missing" : got.ToString());
            }
            object arrays;
            if (e.TryGetValue("arrays", out arrays))
                foreach (var kv in (Dictionary<string, object>)arrays)
                    CheckArray(file, kv.Key, m.GetArray(kv.Key), (Dictionary<string, object>)kv.Value, tol, check);
            object bytes;
            if (e.TryGetValue("bytes", out bytes))
                foreach (var kv in (Dictionary<string, object>)bytes)
                {
                    var want = (Dictionary<string, object>)kv.Value;
                    byte[] got = m.GetBytes(kv.Key);
                    check(got != null && got.Length == (long)want["length"], file + " bytes " + kv.Key + " length", "");
                    check(got != null && FacecastConsoleTests.Sha256Hex(got) == (string)want["sha256"], file + " bytes " + kv.Key + " sha256", "");
                }
            object absent;
            if (e.TryGetValue("absent", out absent))
                foreach (string key in (List<object>)absent)
                    check(!body.Has(key) && m.GetArray(key) == null, file + " absent " + key, "present");
            // Our encoder writes Python's key order and integer widths: byte-identical output.
            byte[] again = Codec.Encode(m);
            check(Equal(again, raw), file + " re-encodes byte for byte", again.Length + " vs " + raw.Length + " bytes");
        }

        private static void CheckArray(string file, string key, PointArray arr, Dictionary<string, object> want,
                                       double tol, Action<bool, string, string> check)
        {
            string name = file + " array " + key;
            if (arr == null) { check(false, name, "missing"); return; }
            var shape = (List<object>)want["shape"];
            bool shapeOk = shape.Count == arr.Shape.Length;
            for (int i = 0; shapeOk && i < shape.Count; i++) shapeOk = (long)shape[i] == arr.Shape[i];
            check(shapeOk, name + " shape", string.Join("x", Array.ConvertAll(arr.Shape, x => x.ToString())));
            double sum = 0;
            foreach (float v in arr.Values) sum += v;
            check(Math.Abs(sum - Convert.ToDouble(want["sum"])) <= tol, name + " sum", sum.ToString("R"));
            var first = (List<object>)want["first"];
            for (int i = 0; i < first.Count; i++)
                check(i < arr.Values.Length && arr.Values[i] == Convert.ToDouble(first[i]), name + " first[" + i + "]", "");
            object format;
            if (want.TryGetValue("format", out format)) check(arr.Format == (string)format, name + " format", arr.Format ?? "null");
        }

        private static void Invalid(string dir, Dictionary<string, object> e, Action<bool, string, string> check)
        {
            string file = (string)e["file"];
            byte[] raw = File.ReadAllBytes(Path.Combine(dir, file));
            try
            {
                Message m = Codec.Decode(raw);
                check(false, file, "accepted as " + m.Type);
            }
            catch (DecodeException ex)
            {
                long code = (long)e["error_code"];
                check((int)ex.Code == code, file + " error code", (int)ex.Code + " (" + ex.Detail + "), expected " + code);
                check(ErrorCodes.WireName(ex.Code) == (string)e["error_name"], file + " error name", ErrorCodes.WireName(ex.Code));
                object seq = e["seq"], reference = e["ref"];
                check(seq == null ? !ex.Seq.HasValue : ex.Seq.HasValue && ex.Seq.Value == (long)seq, file + " seq", ex.Seq.ToString());
                check((string)reference == ex.MsgType, file + " ref", ex.MsgType ?? "null");
            }
        }

        /// <summary>A JSON value (from the index) equals a decoded msgpack value, types included.</summary>
        private static bool Same(object json, MpValue v)
        {
            if (json == null) return v.IsNil;
            if (json is bool) return v.Type == MpType.Bool && v.Bool == (bool)json;
            if (json is long) return v.Type == MpType.Int && !v.IsBigUInt && v.Int == (long)json;
            if (json is double) return v.Type == MpType.Float && v.Float == (double)json;
            if (json is string) return v.Type == MpType.Str && v.Str == (string)json;
            var list = json as List<object>;
            if (list != null)
            {
                if (v.Type != MpType.Array || v.Array.Count != list.Count) return false;
                for (int i = 0; i < list.Count; i++) if (!Same(list[i], v.Array[i])) return false;
                return true;
            }
            var dict = (Dictionary<string, object>)json;
            if (v.Type != MpType.Map || v.Map.Count != dict.Count) return false;
            foreach (var kv in dict)
            {
                MpValue got = v.Map.Get(kv.Key);
                if (got == null || !Same(kv.Value, got)) return false;
            }
            return true;
        }

        private static bool Equal(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }
    }
}
#endif
