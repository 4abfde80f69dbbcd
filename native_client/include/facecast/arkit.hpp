// The 52 ARKit blendshapes in the protocol's order (facecast.protocol.ARKIT_BLENDSHAPES),
// looked up by name. Names match case-insensitively, so ARKit's "jawOpen", Live Link Face /
// Unreal's "JawOpen" and EARFaceBlendShape's "JawOpen" all find index 24.
#pragma once
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace facecast {

inline constexpr std::size_t kBlendshapeCount = 52;
extern const std::array<const char*, kBlendshapeCount> kArkitBlendshapes;

// The protocol index of a blendshape name; nullopt for a name that is not one of the 52
// (Live Link Face also sends HeadYaw, EyeLeftPitch, ...: those are not blendshapes).
std::optional<std::size_t> blendshape_index(std::string_view name);

// 52 weights in protocol order, filled by name; every weight clamped into [0, 1] (the
// daemon refuses weights outside it with INVALID_FIELD).
class BlendshapeWeights {
public:
    BlendshapeWeights() { values_.fill(0.0f); }
    // false (and nothing set) for a name that is not an ARKit blendshape.
    bool set(std::string_view name, float weight);
    float get(std::string_view name) const;
    const std::array<float, kBlendshapeCount>& values() const { return values_; }
    void clear() { values_.fill(0.0f); }
private:
    std::array<float, kBlendshapeCount> values_;
};

}  // namespace facecast
