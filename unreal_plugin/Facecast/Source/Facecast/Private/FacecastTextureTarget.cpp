#include "FacecastTextureTarget.h"

#include "RenderingThread.h"

void FFacecastTextureTarget::Update(TObjectPtr<UTexture2D>& Texture, const uint8* Pixels, int32 Width, int32 Height)
{
	if (!Texture || Texture->GetSizeX() != Width || Texture->GetSizeY() != Height)
	{
		Texture = UTexture2D::CreateTransient(Width, Height, PF_B8G8R8A8);
		Texture->SRGB = true;
		Texture->UpdateResource();
	}
	const int64 Bytes = int64(Width) * Height * 4;
	uint8* Copy = static_cast<uint8*>(FMemory::Malloc(Bytes));  // freed by the render thread below
	FMemory::Memcpy(Copy, Pixels, Bytes);
	FUpdateTextureRegion2D* Region = new FUpdateTextureRegion2D(0, 0, 0, 0, Width, Height);
	Texture->UpdateTextureRegions(0, 1, Region, Width * 4, 4, Copy,
		[](uint8* SrcData, const FUpdateTextureRegion2D* Regions)
		{
			FMemory::Free(SrcData);  // runs after the render thread has read the pixels
			delete Regions;
		});
}
