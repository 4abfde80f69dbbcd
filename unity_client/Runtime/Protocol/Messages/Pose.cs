using System;

namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: one frame of face motion. Exactly one of
    /// <see cref="Landmarks"/> (N x 3 in a landmark format) or <see cref="Blendshapes"/>
    /// (52 ARKit weights, with optional <see cref="Head"/> yaw/pitch/roll in radians).</summary>
    public sealed class Pose : Message
    {
        public const string TypeName = "pose";
        public override string Type { get { return TypeName; } }
        public const float MaxCoordinate = 100f;

        public long Seq;
        public double TSend;
        public PointArray Landmarks;    // with Format mediapipe478 or ibug68
        public PointArray Blendshapes;  // [52]
        public PointArray Head;         // [3], only with blendshapes
        public string Tracking;         // optional tracker state: tracking, holding, easing, lost (any string accepted)

        public static Pose FromLandmarks(long seq, float[] xyz, string format = Formats.Mediapipe478, double tSend = 0.0)
        {
            return new Pose { Seq = seq, TSend = tSend, Landmarks = PointArray.Landmarks(xyz, format) };
        }

        public static Pose FromBlendshapes(long seq, float[] weights, float[] headYawPitchRoll = null, double tSend = 0.0)
        {
            return new Pose
            {
                Seq = seq, TSend = tSend, Blendshapes = PointArray.Vector(weights),
                Head = headYawPitchRoll == null ? null : PointArray.Vector(headYawPitchRoll),
            };
        }

        public override MpMap Body()
        {
            var m = new MpMap().Set("seq", MpValue.Of(Seq)).Set("t_send", MpValue.Of(TSend));
            if (Tracking != null) m.Set("tracking", MpValue.Of(Tracking));
            if (Landmarks != null) m.Set("landmarks", MpValue.Of(Landmarks.ToWire()));
            if (Blendshapes != null) m.Set("blendshapes", MpValue.Of(Blendshapes.ToWire()));
            if (Head != null) m.Set("head", MpValue.Of(Head.ToWire()));
            return m;
        }

        public override PointArray GetArray(string field)
        {
            switch (field)
            {
                case "landmarks": return Landmarks;
                case "blendshapes": return Blendshapes;
                case "head": return Head;
                default: return null;
            }
        }

        public static Message FromBody(MpMap d)
        {
            long seq = Fields.ReadInt(d, "seq");
            double tSend = Fields.ReadFloat(d, "t_send", 0.0);
            string tracking = Fields.ReadOptStr(d, "tracking");
            bool hasLandmarks = d.Has("landmarks"), hasBlendshapes = d.Has("blendshapes");
            if (hasLandmarks == hasBlendshapes)
                throw new ProtocolException(ErrorCode.InvalidField, "a pose carries exactly one of 'landmarks' or 'blendshapes'");
            if (hasLandmarks)
            {
                MpValue wire = d.Get("landmarks");
                MpValue fmt = wire.Type == MpType.Map ? wire.Map.Get("format") : null;
                int points = fmt != null && fmt.Type == MpType.Str ? Formats.LandmarkPoints(fmt.Str) : 0;
                if (points == 0)
                    throw new ProtocolException(ErrorCode.BadArray,
                        "landmarks.format " + (fmt == null ? "None" : fmt.ToString()) + " unknown; one of mediapipe478, ibug68");
                PointArray pts = PointArray.Unpack("landmarks", wire, new[] { points, 3 }, fmt.Str);
                foreach (float v in pts.Values)
                    if (Math.Abs(v) > MaxCoordinate)
                        throw new ProtocolException(ErrorCode.BadArray, "landmarks: coordinates must be normalized (|value| <= 100)");
                return new Pose { Seq = seq, TSend = tSend, Landmarks = pts, Tracking = tracking };
            }
            PointArray weights = PointArray.Unpack("blendshapes", d.Get("blendshapes"), new[] { Formats.ArkitBlendshapes.Length });
            PointArray head = d.Has("head") ? PointArray.Unpack("head", d.Get("head"), new[] { 3 }) : null;
            return new Pose { Seq = seq, TSend = tSend, Blendshapes = weights, Head = head, Tracking = tracking };
        }
    }
}
