using System;
using Facecast.Unity;
using UnityEngine;
using UnityEngine.UI;

namespace Facecast.Samples
{
    /// <summary>Binds a character and shows its live frames on a RawImage, driven by a looping
    /// pose clip (BasicFaceClip.bytes, see make_pose_clip.py) retargeted onto the bound
    /// character: pose = bound neutral + (clip frame - clip neutral).</summary>
    [RequireComponent(typeof(FacecastClient), typeof(FacecastTexture), typeof(FacecastPoseSender))]
    public sealed class BasicFaceSample : MonoBehaviour
    {
        [Tooltip("BasicFaceClip.bytes (a TextAsset: keep the .bytes extension).")]
        public TextAsset poseClip;
        [Tooltip("Where the frames are shown.")]
        public RawImage target;
        [Tooltip("Optional status line.")]
        public Text status;

        private FacecastClient _client;
        private FacecastTexture _texture;
        private FacecastPoseSender _sender;
        private float[] _clipNeutral;
        private float[][] _frames;
        private float _fps;
        private readonly float[] _pose = new float[478 * 3];

        private void Awake()
        {
            _client = GetComponent<FacecastClient>();
            _texture = GetComponent<FacecastTexture>();
            _sender = GetComponent<FacecastPoseSender>();
            _sender.source = FacecastPoseSource.Landmarks;
            LoadClip(poseClip.bytes);
        }

        private void LoadClip(byte[] b)
        {
            if (b.Length < 16 || b[0] != 'F' || b[1] != 'C' || b[2] != 'P' || b[3] != 'C' || BitConverter.ToUInt32(b, 4) != 1)
                throw new InvalidOperationException("not a facecast pose clip (FCPC v1)");
            int count = (int)BitConverter.ToUInt32(b, 8);
            _fps = BitConverter.ToSingle(b, 12);
            const int n = 478 * 3;
            _clipNeutral = new float[n];
            Buffer.BlockCopy(b, 16, _clipNeutral, 0, n * 4);
            _frames = new float[count][];
            for (int t = 0; t < count; t++)
            {
                _frames[t] = new float[n];
                Buffer.BlockCopy(b, 16 + (t + 1) * n * 4, _frames[t], 0, n * 4);
            }
        }

        private void Update()
        {
            if (_client.IsBound)
            {
                // The clip loops; blend neighbouring frames so any send rate looks smooth.
                float at = Time.time * _fps % _frames.Length;
                int i = (int)at;
                float w = at - i;
                float[] a = _frames[i], b = _frames[(i + 1) % _frames.Length];
                float[] neutral = _client.Session.Bound.Neutral.Values;
                for (int k = 0; k < _pose.Length; k++)
                    _pose[k] = neutral[k] + (a[k] + (b[k] - a[k]) * w) - _clipNeutral[k];
                _sender.SetLandmarks(_pose);
            }
            if (_texture.Texture != null && target.texture != _texture.Texture)
            {
                target.texture = _texture.Texture;
                target.uvRect = FacecastTexture.UvRect;  // frames are top row first
            }
            if (status != null)
                status.text = _client.Status + (_texture.FrameSeq >= 0 ? "  frame " + _texture.FrameSeq : "");
        }
    }
}
