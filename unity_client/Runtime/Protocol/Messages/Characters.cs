using System.Collections.Generic;

namespace Facecast.Protocol
{
    /// <summary>Client -> daemon: list the characters in the store; answered by character_list.</summary>
    public sealed class Characters : Message
    {
        public const string TypeName = "characters";
        public override string Type { get { return TypeName; } }
        public override MpMap Body() { return new MpMap(); }
    }

    /// <summary>Daemon -> client: the character names usable in bind.</summary>
    public sealed class CharacterList : Message
    {
        public const string TypeName = "character_list";
        public override string Type { get { return TypeName; } }

        public List<string> Names = new List<string>();  // wire field "characters"

        public override MpMap Body() { return new MpMap().Set("characters", MpValue.OfStrings(Names)); }

        public static Message FromBody(MpMap d)
        {
            var m = new CharacterList();
            foreach (MpValue n in Fields.ReadList(d, "characters", true))
            {
                if (n.Type != MpType.Str)
                    throw new ProtocolException(ErrorCode.InvalidField, "'characters' must be a list of strings");
                m.Names.Add(n.Str);
            }
            return m;
        }
    }
}
