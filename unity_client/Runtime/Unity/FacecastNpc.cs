#if UNITY_5_3_OR_NEWER
using Facecast.Protocol;
using Facecast.Session;
using UnityEngine;

namespace Facecast.Unity
{
    public enum FacecastEmotion { Neutral, Happy, Angry, Sad, Surprised }

    /// <summary>An NPC portrait without a performer (docs/npc.md): once the client is bound, the
    /// daemon generates the character's idle life (blinks, breathing, sway, saccades) and the
    /// chosen emotion, and lip-syncs the dialogue this component streams from its AudioSource.
    /// Call <see cref="Say"/> with a clip: it plays, and its samples are sent just ahead of
    /// the playback position, so the mouth follows the sound by about one frame. Frames arrive
    /// like any others (FacecastTexture shows them).</summary>
    [AddComponentMenu("Facecast/Facecast NPC")]
    public sealed class FacecastNpc : MonoBehaviour
    {
        [Tooltip("The client to use (defaults to one on this GameObject); its session becomes the NPC.")]
        public FacecastClient client;
        [Tooltip("Plays the dialogue; its clip's samples are streamed to the daemon for lip flap.")]
        public AudioSource voice;
        public FacecastEmotion emotion = FacecastEmotion.Neutral;
        [Tooltip("Idle motion seed: the same seed, emotion and line give the same animation.")]
        public int seed;
        [Tooltip("Frames per second the daemon generates for this NPC.")]
        [Range(1, 60)] public int fps = 30;
        [Tooltip("Seconds of audio sent ahead of the playback position.")]
        [Range(0.02f, 1f)] public float lookahead = 0.1f;

        private NpcAudio _audio;
        private FacecastEmotion _sentEmotion;
        private bool _started;
        private AudioClip _clip;
        private float[] _samples;

        public NpcState State { get; private set; }

        private void Awake()
        {
            if (client == null) client = GetComponent<FacecastClient>();
            if (voice == null) voice = GetComponent<AudioSource>();
        }

        /// <summary>Play <paramref name="clip"/> on the voice and lip-sync it (a new line: what is
        /// left of the previous one is dropped).</summary>
        public void Say(AudioClip clip)
        {
            if (voice == null || clip == null) return;
            _clip = clip;
            _samples = new float[clip.samples * clip.channels];
            clip.GetData(_samples, 0);  // needs the clip's Load Type "Decompress On Load"
            voice.clip = clip;
            voice.Play();
            if (_audio != null) _audio.NewLine(clip.frequency);
        }

        private void Update()
        {
            if (client == null || !client.IsBound) { _started = false; return; }
            FacecastSession session = client.Session;
            if (!_started || _sentEmotion != emotion)
            {
                State = session.Npc(new Npc { Emotion = Formats.NpcEmotions[(int)emotion], Seed = seed, Fps = fps });
                _sentEmotion = emotion;
                if (!_started)
                {
                    _audio = new NpcAudio(session);
                    if (_clip != null) _audio.NewLine(_clip.frequency);
                }
                _started = true;
            }
            if (_clip == null || _audio == null || _audio.Rate == 0) return;
            int total = _clip.samples;
            int due = voice.isPlaying ? Mathf.Min(total, voice.timeSamples + (int)(lookahead * _clip.frequency)) : total;
            int from = (int)_audio.SamplesSent;
            if (due > from) _audio.Send(_samples, _clip.channels, from, due - from);
            if (from >= total && !voice.isPlaying) _clip = null;
        }

        private void OnDisable()
        {
            if (_started && client != null && client.IsBound) client.Session.Npc(new Npc { Stop = true });
            _started = false;
        }
    }
}
#endif
