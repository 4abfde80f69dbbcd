using System;
using System.Collections.Generic;

namespace Facecast.Protocol
{
    /// <summary>Base of every protocol v1 message (src/facecast/protocol/messages.py).
    /// <see cref="Body"/> gives the message's own fields in the order Python's encoder writes
    /// them; <see cref="Codec"/> adds "v" and "type".</summary>
    public abstract class Message
    {
        public abstract string Type { get; }

        /// <summary>The wire map of this message's own fields (a fresh map).</summary>
        public abstract MpMap Body();

        /// <summary>A point-array field by wire name (landmarks, neutral, ...), or null.</summary>
        public virtual PointArray GetArray(string field) { return null; }

        /// <summary>A binary field by wire name (frame data), or null.</summary>
        public virtual byte[] GetBytes(string field) { return null; }

        public override string ToString() { return Type + " " + Body(); }

        private static readonly Dictionary<string, Func<MpMap, Message>> Types =
            new Dictionary<string, Func<MpMap, Message>>
            {
                { Hello.TypeName, Hello.FromBody },
                { Welcome.TypeName, Welcome.FromBody },
                { Bind.TypeName, Bind.FromBody },
                { Bound.TypeName, Bound.FromBody },
                { Pose.TypeName, Pose.FromBody },
                { Frame.TypeName, Frame.FromBody },
                { ErrorMessage.TypeName, ErrorMessage.FromBody },
                { Ping.TypeName, Ping.FromBody },
                { Pong.TypeName, Pong.FromBody },
                { Stats.TypeName, d => new Stats() },
                { StatsReport.TypeName, StatsReport.FromBody },
                { Characters.TypeName, d => new Characters() },
                { CharacterList.TypeName, CharacterList.FromBody },
                { Bye.TypeName, d => new Bye() },
                { Goodbye.TypeName, d => new Goodbye() },
                { Npc.TypeName, Npc.FromBody },
                { NpcState.TypeName, NpcState.FromBody },
                { Audio.TypeName, Audio.FromBody },
            };

        /// <summary>The decoder for a message type, or null for an unknown one.</summary>
        internal static Func<MpMap, Message> DecoderFor(string type)
        {
            Func<MpMap, Message> f;
            return type != null && Types.TryGetValue(type, out f) ? f : null;
        }

        public static ICollection<string> KnownTypes { get { return Types.Keys; } }
    }
}
