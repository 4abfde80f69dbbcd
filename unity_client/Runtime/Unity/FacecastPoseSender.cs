#if UNITY_5_3_OR_NEWER
using System.Collections.Generic;
using Facecast.Protocol;
using UnityEngine;

namespace Facecast.Unity
{
    public enum FacecastPoseSource { Landmarks, Blendshapes }

    /// <summary>Sends the game's face motion to the daemon at a fixed rate: landmarks the game
    /// fills in (<see cref="landmarks"/> or <see cref="SetLandmarks"/>), or ARKit blendshape
    /// weights read from a SkinnedMeshRenderer's blendshapes, matched by name. Sending never
    /// blocks; the daemon renders the newest pose (latest-wins).
    /// The daemon maps blendshapes to landmarks on the character's neutral face through its
    /// blendshape basis (docs/blendshapes.md); the head's yaw/pitch/roll follow the
    /// convention of docs/protocol.md (Unity's localEulerAngles y, x, z in radians).</summary>
    [AddComponentMenu("Facecast/Facecast Pose Sender")]
    public sealed class FacecastPoseSender : MonoBehaviour
    {
        [Tooltip("The client to send through (defaults to one on this GameObject).")]
        public FacecastClient client;
        [Tooltip("Landmarks: send `landmarks`. Blendshapes: send ARKit weights from `face`.")]
        public FacecastPoseSource source = FacecastPoseSource.Landmarks;
        [Tooltip("Poses per second (sending faster than frames are wanted only costs bandwidth).")]
        [Range(1f, 120f)] public float rate = 30f;
        [Tooltip("Landmark format of `landmarks`: mediapipe478 (478 x 3) or ibug68 (68 x 3).")]
        public string landmarkFormat = Formats.Mediapipe478;
        [Tooltip("x, y, z per point, normalized to the character's image (x right, y down, 0..1).")]
        public float[] landmarks;
        [Tooltip("Blendshapes source: its mesh's blendshapes named like ARKit's (eyeBlinkLeft, jawOpen, ...; a prefix such as 'blendShape1.' is ignored).")]
        public SkinnedMeshRenderer face;
        [Tooltip("Optional head transform: its local yaw/pitch/roll go with the blendshapes.")]
        public Transform head;

        private float _next;
        private int[] _arkitToMesh;  // ARKit index -> blendshape index on face's mesh, -1 if missing
        private Mesh _mappedMesh;
        private readonly float[] _weights = new float[52];

        public long LastSeq { get; private set; }

        private void Awake()
        {
            if (client == null) client = GetComponent<FacecastClient>();
        }

        /// <summary>Replace the landmarks to send (copied on the next send).</summary>
        public void SetLandmarks(float[] xyz, string format = Formats.Mediapipe478)
        {
            landmarks = xyz;
            landmarkFormat = format;
        }

        private void Update()
        {
            if (client == null || !client.IsBound || Time.unscaledTime < _next) return;
            _next = Time.unscaledTime + 1f / rate;
            var session = client.Session;
            if (source == FacecastPoseSource.Landmarks)
            {
                if (landmarks == null || landmarks.Length != Formats.LandmarkPoints(landmarkFormat) * 3) return;
                LastSeq = session.SendLandmarks((float[])landmarks.Clone(), landmarkFormat);
            }
            else if (face != null && face.sharedMesh != null)
            {
                ReadBlendshapes();
                float[] ypr = null;
                if (head != null)
                {
                    Vector3 e = head.localEulerAngles;
                    ypr = new[] { Signed(e.y) * Mathf.Deg2Rad, Signed(e.x) * Mathf.Deg2Rad, Signed(e.z) * Mathf.Deg2Rad };
                }
                LastSeq = session.SendBlendshapes((float[])_weights.Clone(), ypr);
            }
        }

        private void ReadBlendshapes()
        {
            Mesh mesh = face.sharedMesh;
            if (_mappedMesh != mesh) MapBlendshapes(mesh);
            for (int i = 0; i < _weights.Length; i++)
                _weights[i] = _arkitToMesh[i] < 0 ? 0f : Mathf.Clamp01(face.GetBlendShapeWeight(_arkitToMesh[i]) / 100f);
        }

        private void MapBlendshapes(Mesh mesh)
        {
            var byName = new Dictionary<string, int>(System.StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < mesh.blendShapeCount; i++)
            {
                string name = mesh.GetBlendShapeName(i);
                int dot = name.LastIndexOf('.');
                byName[dot >= 0 ? name.Substring(dot + 1) : name] = i;
            }
            _arkitToMesh = new int[Formats.ArkitBlendshapes.Length];
            for (int i = 0; i < _arkitToMesh.Length; i++)
            {
                int at;
                _arkitToMesh[i] = byName.TryGetValue(Formats.ArkitBlendshapes[i], out at) ? at : -1;
            }
            _mappedMesh = mesh;
        }

        private static float Signed(float degrees) { return degrees > 180f ? degrees - 360f : degrees; }
    }
}
#endif
