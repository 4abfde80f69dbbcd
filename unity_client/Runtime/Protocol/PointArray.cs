using System;

namespace Facecast.Protocol
{
    /// <summary>A point array on the wire: raw little-endian float32 values plus a shape
    /// (src/facecast/protocol/arrays.py). Landmark arrays add a format.</summary>
    public sealed class PointArray
    {
        public const string WireDtype = "f32";

        public readonly float[] Values;  // row-major
        public readonly int[] Shape;
        public readonly string Format;   // landmark arrays only, else null

        public PointArray(float[] values, int[] shape, string format = null)
        {
            long count = 1;
            foreach (int n in shape) count *= n;
            if (count != values.Length) throw new ArgumentException("shape does not match the number of values");
            Values = values;
            Shape = shape;
            Format = format;
        }

        /// <summary>N x 3 landmarks in a known format.</summary>
        public static PointArray Landmarks(float[] values, string format = Formats.Mediapipe478)
        {
            int points = Formats.LandmarkPoints(format);
            if (points == 0) throw new ArgumentException("unknown landmark format " + format);
            return new PointArray(values, new[] { points, 3 }, format);
        }

        public static PointArray Vector(float[] values)
        {
            return new PointArray(values, new[] { values.Length });
        }

        /// <summary>The values as little-endian float32 bytes.</summary>
        public byte[] ToBytes()
        {
            var data = new byte[Values.Length * 4];
            Buffer.BlockCopy(Values, 0, data, 0, data.Length);
            if (!BitConverter.IsLittleEndian) SwapWords(data);
            return data;
        }

        /// <summary>The wire map: format first (when set), then dtype, shape, data (Python's order).</summary>
        public MpMap ToWire()
        {
            var map = new MpMap();
            if (Format != null) map.Set("format", MpValue.Of(Format));
            var shape = new System.Collections.Generic.List<MpValue>();
            foreach (int n in Shape) shape.Add(MpValue.Of((long)n));
            map.Set("dtype", MpValue.Of(WireDtype));
            map.Set("shape", MpValue.Of(shape));
            map.Set("data", MpValue.Of(ToBytes()));
            return map;
        }

        /// <summary>Wire value -> PointArray, with Python's checks in Python's order: map,
        /// dtype, shape, element count, data type, byte length, expected shape, finiteness.
        /// BAD_ARRAY for all but the last, which is NON_FINITE.</summary>
        public static PointArray Unpack(string field, MpValue wire, int[] expectedShape, string format = null)
        {
            if (wire == null || wire.Type != MpType.Map)
                throw Bad(field + ": expected a map with dtype/shape/data");
            MpMap m = wire.Map;
            MpValue dtype = m.Get("dtype"), shape = m.Get("shape"), data = m.Get("data");
            if (dtype == null || dtype.Type != MpType.Str || dtype.Str != WireDtype)
                throw Bad(field + ": dtype must be 'f32', got " + (dtype == null ? "None" : dtype.ToString()));
            if (shape == null || shape.Type != MpType.Array || shape.Array.Count == 0)
                throw Bad(field + ": shape must be a non-empty list of non-negative ints");
            foreach (MpValue n in shape.Array)
                if (n.Type != MpType.Int || (!n.IsBigUInt && n.Int < 0))
                    throw Bad(field + ": shape must be a non-empty list of non-negative ints");
            long count = 1;
            foreach (MpValue n in shape.Array)
            {
                // count * n > max  <=>  n > max / count (integers), without overflow
                bool tooMany = count != 0 && (n.IsBigUInt || n.Int > Formats.MaxArrayElements / count);
                if (tooMany) throw Bad(field + ": too many elements (max " + Formats.MaxArrayElements + ")");
                count *= n.Int;
            }
            if (data == null || data.Type != MpType.Bin)
                throw Bad(field + ": data must be raw bytes (msgpack bin)");
            if (data.Bin.Length != count * 4)
                throw Bad(field + ": data has " + data.Bin.Length + " bytes, shape needs " + (count * 4));
            bool shapeOk = expectedShape == null || expectedShape.Length == shape.Array.Count;
            for (int i = 0; shapeOk && expectedShape != null && i < expectedShape.Length; i++)
                shapeOk = !shape.Array[i].IsBigUInt && shape.Array[i].Int == expectedShape[i];
            if (!shapeOk) throw Bad(field + ": shape " + shape + ", expected [" + string.Join(", ", Array.ConvertAll(expectedShape, x => x.ToString())) + "]");
            var values = new float[count];
            byte[] bytes = data.Bin;
            if (!BitConverter.IsLittleEndian) { bytes = (byte[])bytes.Clone(); SwapWords(bytes); }
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            foreach (float v in values)
                if (float.IsNaN(v) || float.IsInfinity(v))
                    throw new ProtocolException(ErrorCode.NonFinite, field + ": contains NaN or infinity");
            var dims = new int[shape.Array.Count];
            for (int i = 0; i < dims.Length; i++) dims[i] = (int)shape.Array[i].Int;
            return new PointArray(values, dims, format);
        }

        private static ProtocolException Bad(string why) { return new ProtocolException(ErrorCode.BadArray, why); }

        private static void SwapWords(byte[] b)
        {
            for (int i = 0; i + 3 < b.Length; i += 4)
            {
                byte t = b[i]; b[i] = b[i + 3]; b[i + 3] = t;
                t = b[i + 1]; b[i + 1] = b[i + 2]; b[i + 2] = t;
            }
        }
    }
}
