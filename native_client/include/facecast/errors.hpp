// Error codes of protocol v1 (docs/protocol.md section 8) and the decoder's exception.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace facecast {

enum class ErrorCode : int {
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
};

// "NON_FINITE" for 105; "" for a code this client does not know (newer daemons may add codes).
const char* error_name(int code);

// A message that does not decode: the code the daemon would answer with, and the message's
// seq / type where they could be read (as in an error reply).
class ProtocolError : public std::runtime_error {
public:
    ProtocolError(ErrorCode code, const std::string& what) : std::runtime_error(what), code(code) {}
    ErrorCode code;
    std::optional<std::int64_t> seq;
    std::optional<std::string> ref;
};

}  // namespace facecast
