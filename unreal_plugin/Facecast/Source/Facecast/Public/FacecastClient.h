// UFacecastClient: shows a facecast daemon's frames on a texture, driven by ARKit
// blendshape curves (Live Link Face names or ARKit names) and a head FRotator.
// The engine-facing part only: protocol, socket thread, ring reader, latest-wins and
// rebinding are facecast-cpp's facecast::Session (native_client/, tested against the daemon).
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"
#include "FacecastTextureTarget.h"

#include <memory>

#include "FacecastClient.generated.h"

namespace facecast { class Session; class BlendshapeWeights; }

UCLASS(ClassGroup = (Facecast), meta = (BlueprintSpawnableComponent))
class FACECAST_API UFacecastClient : public UActorComponent
{
	GENERATED_BODY()

public:
	UFacecastClient();
	virtual ~UFacecastClient() override;  // defined where facecast::Session is a complete type

	// The daemon (`facecast serve`); loopback or ipc unless CurveZMQ is on (not exposed here yet).
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	FString Endpoint = TEXT("tcp://127.0.0.1:5555");
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	FString Character = TEXT("default");
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast", meta = (ClampMin = 16, ClampMax = 2048))
	int32 Width = 256;
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast", meta = (ClampMin = 16, ClampMax = 2048))
	int32 Height = 256;
	// Read frames from the daemon's shared-memory ring (same machine only) instead of the reply.
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	bool bSharedMemory = true;
	// Forward this Live Link subject's ARKit curves every tick (empty: use SetBlendshape).
	UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "Facecast")
	FName LiveLinkSubject;

	// The frames, BGRA8 (null before the first).
	UFUNCTION(BlueprintPure, Category = "Facecast")
	UTexture2D* GetTexture() const { return Texture; }

	// A blendshape by ARKit name ("jawOpen") or Live Link Face name ("JawOpen"); weight clamped
	// to [0, 1]. False for a name that is not one of the 52.
	UFUNCTION(BlueprintCallable, Category = "Facecast")
	bool SetBlendshape(FName Name, float Weight);
	// The head's rotation relative to its rest pose (sent as the protocol's yaw/pitch/roll).
	UFUNCTION(BlueprintCallable, Category = "Facecast")
	void SetHeadRotation(FRotator Rotation);

	UFUNCTION(BlueprintPure, Category = "Facecast")
	int64 FramesShown() const { return Shown; }

	virtual void BeginPlay() override;
	virtual void EndPlay(const EEndPlayReason::Type Reason) override;
	virtual void TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction) override;

private:
	void PullLiveLink();

	std::unique_ptr<facecast::Session> Session;
	std::unique_ptr<facecast::BlendshapeWeights> Weights;
	TOptional<FRotator> Head;
	bool bPoseChanged = false;
	int64 Shown = 0;
	UPROPERTY(Transient)
	TObjectPtr<UTexture2D> Texture = nullptr;
};
