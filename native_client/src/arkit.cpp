#include "facecast/arkit.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

namespace facecast {

const std::array<const char*, kBlendshapeCount> kArkitBlendshapes = {
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight",
    "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut"};

std::optional<std::size_t> blendshape_index(std::string_view name) {
    for (std::size_t i = 0; i < kBlendshapeCount; ++i) {
        const char* n = kArkitBlendshapes[i];
        if (std::strlen(n) != name.size()) continue;
        bool same = true;
        for (std::size_t c = 0; c < name.size() && same; ++c)
            same = std::tolower(static_cast<unsigned char>(n[c])) == std::tolower(static_cast<unsigned char>(name[c]));
        if (same) return i;
    }
    return std::nullopt;
}

bool BlendshapeWeights::set(std::string_view name, float weight) {
    auto i = blendshape_index(name);
    if (!i) return false;
    values_[*i] = std::isfinite(weight) ? std::clamp(weight, 0.0f, 1.0f) : 0.0f;
    return true;
}

float BlendshapeWeights::get(std::string_view name) const {
    auto i = blendshape_index(name);
    return i ? values_[*i] : 0.0f;
}

}  // namespace facecast
