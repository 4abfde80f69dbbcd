#if UNITY_5_3_OR_NEWER
using Facecast.Protocol;
using Facecast.Session;
using Facecast.Shm;
using UnityEngine;

namespace Facecast.Unity
{
    /// <summary>The daemon's frames as a Texture2D. Main thread only: once per Update it
    /// uploads the newest frame (latest-wins; frames that came in between are skipped) with
    /// LoadRawTextureData + Apply, or copies the newest slot of the shared-memory ring.
    /// Frames are top row first, Unity textures bottom row first: <see cref="UvRect"/> (for a
    /// RawImage) and <see cref="targetRenderer"/>'s texture scale flip it back.</summary>
    [AddComponentMenu("Facecast/Facecast Texture")]
    public sealed class FacecastTexture : MonoBehaviour
    {
        [Tooltip("The client whose frames to show (defaults to one on this GameObject).")]
        public FacecastClient client;
        [Tooltip("Optional: a renderer whose material gets the texture (flipped to top-up).")]
        public Renderer targetRenderer;
        [Tooltip("Material texture property to set on targetRenderer.")]
        public string textureProperty = "_MainTex";

        private Texture2D _texture;
        private byte[] _ringPixels;
        private long _lastRingSeq = -1;
        private RingReader _ring;

        /// <summary>The texture (null until the first frame).</summary>
        public Texture2D Texture { get { return _texture; } }
        /// <summary>The seq of the pose the texture shows (-1 before the first).</summary>
        public long FrameSeq { get; private set; }
        public long FramesUploaded { get; private set; }
        /// <summary>For a RawImage.uvRect: shows the top-row-first frame upright.</summary>
        public static readonly Rect UvRect = new Rect(0f, 1f, 1f, -1f);

        private void Awake()
        {
            FrameSeq = -1;
            if (client == null) client = GetComponent<FacecastClient>();
        }

        private void Update()
        {
            FacecastSession session = client != null ? client.Session : null;
            if (session == null || session.Bound == null) return;
            Bound bound = session.Bound;
            if (bound.Output == "shm") UpdateFromRing(session.Ring, bound);
            else UpdateInline(session);
        }

        private void UpdateInline(FacecastSession session)
        {
            Frame frame;
            if (!session.LatestFrame.TryTake(out frame)) return;  // nothing new since the last Update
            if (frame.PixelFormat == "jpeg" || frame.PixelFormat == "png")
            {
                Ensure((int)frame.Width, (int)frame.Height, TextureFormat.RGBA32);
                _texture.LoadImage(frame.Data, false);  // decodes and uploads
            }
            else
            {
                Ensure((int)frame.Width, (int)frame.Height, UnityFormat(frame.PixelFormat));
                _texture.LoadRawTextureData(frame.Data);
                _texture.Apply(false, false);
            }
            FrameSeq = frame.Seq;
            FramesUploaded++;
        }

        private void UpdateFromRing(RingReader ring, Bound bound)
        {
            if (ring == null) return;
            if (ring != _ring) { _ring = ring; _lastRingSeq = -1; }
            RingLayout lay = ring.Layout;
            if (_ringPixels == null || _ringPixels.Length != lay.FrameBytes) _ringPixels = new byte[lay.FrameBytes];
            RingFrameInfo info;
            try
            {
                if (!ring.TryReadLatest(_ringPixels, out info) || info.FrameSeq == _lastRingSeq) return;
            }
            catch (RingReadException)
            {
                return;  // the writer was busy in every slot; try next frame
            }
            Ensure(lay.Width, lay.Height, UnityFormat(lay.PixelFormat));
            _texture.LoadRawTextureData(_ringPixels);
            _texture.Apply(false, false);
            _lastRingSeq = info.FrameSeq;
            FrameSeq = info.FrameSeq;
            FramesUploaded++;
        }

        private void Ensure(int w, int h, TextureFormat format)
        {
            if (_texture != null && _texture.width == w && _texture.height == h && _texture.format == format) return;
            if (_texture != null) Destroy(_texture);
            _texture = new Texture2D(w, h, format, false) { name = "facecast", wrapMode = TextureWrapMode.Clamp };
            if (targetRenderer != null)
            {
                Material m = targetRenderer.material;
                m.SetTexture(textureProperty, _texture);
                m.SetTextureScale(textureProperty, new Vector2(1f, -1f));
                m.SetTextureOffset(textureProperty, new Vector2(0f, 1f));
            }
        }

        private static TextureFormat UnityFormat(string pixelFormat)
        {
            switch (pixelFormat)
            {
                case "bgra8": return TextureFormat.BGRA32;
                case "rgb8": return TextureFormat.RGB24;
                default: return TextureFormat.RGBA32;
            }
        }

        private void OnDestroy()
        {
            if (_texture != null) Destroy(_texture);
        }
    }
}
#endif
