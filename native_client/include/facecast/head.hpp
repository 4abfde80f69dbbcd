// Head rotation: the protocol's yaw/pitch/roll (radians, docs/protocol.md "Head rotation
// convention": yaw > 0 turns the face to its own right, pitch > 0 tips the nose down, roll > 0
// tilts the head towards its own left shoulder) from an Unreal FRotator (degrees; for a head
// facing +X in Unreal's left-handed, Z-up frame: Yaw > 0 turns right, Pitch > 0 nose up,
// Roll > 0 clockwise seen from behind, i.e. towards the head's own right shoulder).
#pragma once
#include <array>
#include <cmath>

namespace facecast {

// An angle in degrees as radians in (-pi, pi] (FRotators may carry 350 for -10).
inline float wrap_degrees_to_radians(float degrees) {
    double d = std::fmod(static_cast<double>(degrees), 360.0);
    if (d > 180.0) d -= 360.0;
    if (d <= -180.0) d += 360.0;
    return static_cast<float>(d * 3.14159265358979323846 / 180.0);
}

// {yaw, pitch, roll} for the pose's `head` from FRotator(Pitch, Yaw, Roll), relative to the
// head's rest rotation (pass the bone's rotation relative to its rest pose).
inline std::array<float, 3> head_from_unreal_rotator(float pitch_deg, float yaw_deg, float roll_deg) {
    return {wrap_degrees_to_radians(yaw_deg), -wrap_degrees_to_radians(pitch_deg), -wrap_degrees_to_radians(roll_deg)};
}

}  // namespace facecast
