namespace Facecast.Protocol
{
    /// <summary>Numbered error codes of protocol v1 (src/facecast/protocol/errors.py).
    /// 1xx: the message itself is bad; 2xx: valid but not acceptable now; 5xx: the daemon failed.
    /// Codes never change meaning; new ones are only added.</summary>
    public enum ErrorCode
    {
        Malformed = 100,
        UnsupportedVersion = 101,
        UnknownType = 102,
        InvalidField = 103,
        BadArray = 104,
        NonFinite = 105,
        TooLarge = 106,
        NotBound = 200,
        UnknownCharacter = 201,
        Unsupported = 202,
        SessionLimit = 203,
        RateLimited = 204,
        KeyRevoked = 205,
        RenderFailed = 500,
        Internal = 501,
    }

    public static class ErrorCodes
    {
        /// <summary>The wire name of a code, e.g. "NON_FINITE" (as the daemon's error.name).</summary>
        public static string WireName(ErrorCode code)
        {
            switch (code)
            {
                case ErrorCode.Malformed: return "MALFORMED";
                case ErrorCode.UnsupportedVersion: return "UNSUPPORTED_VERSION";
                case ErrorCode.UnknownType: return "UNKNOWN_TYPE";
                case ErrorCode.InvalidField: return "INVALID_FIELD";
                case ErrorCode.BadArray: return "BAD_ARRAY";
                case ErrorCode.NonFinite: return "NON_FINITE";
                case ErrorCode.TooLarge: return "TOO_LARGE";
                case ErrorCode.NotBound: return "NOT_BOUND";
                case ErrorCode.UnknownCharacter: return "UNKNOWN_CHARACTER";
                case ErrorCode.Unsupported: return "UNSUPPORTED";
                case ErrorCode.SessionLimit: return "SESSION_LIMIT";
                case ErrorCode.RateLimited: return "RATE_LIMITED";
                case ErrorCode.KeyRevoked: return "KEY_REVOKED";
                case ErrorCode.RenderFailed: return "RENDER_FAILED";
                case ErrorCode.Internal: return "INTERNAL";
                default: return ((int)code).ToString();
            }
        }
    }
}
