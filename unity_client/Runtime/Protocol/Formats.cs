namespace Facecast.Protocol
{
    /// <summary>Enumerations of protocol v1 (src/facecast/protocol/formats.py).</summary>
    public static class Formats
    {
        public const int ProtocolVersion = 1;
        public const int MaxString = 256;
        public const int MaxArrayElements = 1 << 20;
        public const int MinFrameSide = 16;
        public const int MaxFrameSide = 2048;
        public const int MinSlots = 2;
        public const int MaxSlots = 16;
        public const int DefaultSlots = 3;
        public const int DefaultMaxMessageBytes = 4 << 20;

        public const string Mediapipe478 = "mediapipe478";
        public const string Ibug68 = "ibug68";

        public static readonly string[] PixelFormats = { "rgba8", "rgb8", "bgra8", "jpeg", "png" };
        public static readonly string[] OutputModes = { "inline", "shm" };

        // NPC sessions (docs/npc.md): emotion presets and the dialogue audio a client may stream.
        public static readonly string[] NpcEmotions = { "neutral", "happy", "angry", "sad", "surprised" };
        public const int MinNpcFps = 1;
        public const int MaxNpcFps = 60;
        public const int MinAudioRate = 8000;
        public const int MaxAudioRate = 48000;
        public const int MaxAudioChunkBytes = 65536;

        /// <summary>Points of a landmark format, or 0 for an unknown one (3 coordinates each).</summary>
        public static int LandmarkPoints(string format)
        {
            if (format == Mediapipe478) return 478;
            if (format == Ibug68) return 68;
            return 0;
        }

        /// <summary>Bytes per pixel of a raw pixel format, 0 for jpeg/png/unknown.</summary>
        public static int BytesPerPixel(string pixelFormat)
        {
            switch (pixelFormat)
            {
                case "rgba8": return 4;
                case "bgra8": return 4;
                case "rgb8": return 3;
                default: return 0;
            }
        }

        /// <summary>ARKit's 52 blendshape names, the order of a pose's blendshapes array.</summary>
        public static readonly string[] ArkitBlendshapes =
        {
            "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
            "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
            "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
            "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
            "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward",
            "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight",
            "mouthFrownLeft", "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
            "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
            "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
            "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
            "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
        };

        internal static bool Contains(string[] choices, string value)
        {
            for (int i = 0; i < choices.Length; i++) if (choices[i] == value) return true;
            return false;
        }
    }
}
