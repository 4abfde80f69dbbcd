// Uploads facecast frames into a transient BGRA8 UTexture2D. Game thread only. Each Update
// copies the frame into a heap buffer that UpdateTextureRegions' cleanup callback frees on
// the render thread once it has read it, so the caller may reuse its own buffer at once.
#pragma once

#include "CoreMinimal.h"
#include "Engine/Texture2D.h"

struct FFacecastTextureTarget
{
	// Pixels: Height rows of Width*4 bytes, top row first, BGRA (bind with pixel_format "bgra8").
	// Creates Texture on the first frame and again when the frame size changes. The caller
	// keeps Texture referenced (a UPROPERTY), so it outlives the upload.
	static void Update(TObjectPtr<UTexture2D>& Texture, const uint8* Pixels, int32 Width, int32 Height);
};
