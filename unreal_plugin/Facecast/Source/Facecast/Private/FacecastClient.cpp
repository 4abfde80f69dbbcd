#include "FacecastClient.h"

#include "Features/IModularFeatures.h"
#include "ILiveLinkClient.h"
#include "LiveLinkTypes.h"
#include "Roles/LiveLinkBasicRole.h"

THIRD_PARTY_INCLUDES_START
#include "facecast/arkit.hpp"
#include "facecast/head.hpp"
#include "facecast/session.hpp"
THIRD_PARTY_INCLUDES_END

DEFINE_LOG_CATEGORY_STATIC(LogFacecast, Log, All);

UFacecastClient::UFacecastClient()
{
	PrimaryComponentTick.bCanEverTick = true;
	Weights = std::make_unique<facecast::BlendshapeWeights>();
}

UFacecastClient::~UFacecastClient() = default;

void UFacecastClient::BeginPlay()
{
	Super::BeginPlay();
	facecast::ClientOptions Options;
	Options.endpoint = TCHAR_TO_UTF8(*Endpoint);
	Options.name = "facecast-unreal/0.1.0";
	Options.timeout_ms = 2000;  // EndPlay joins the socket thread: keep its longest wait short
	facecast::Bind Bind;
	Bind.character = TCHAR_TO_UTF8(*Character);
	Bind.width = Width;
	Bind.height = Height;
	Bind.pixel_format = "bgra8";  // PF_B8G8R8A8: uploaded as is
	Bind.output = bSharedMemory ? "shm" : "inline";
	Session = std::make_unique<facecast::Session>(Options, Bind);  // connects and binds on its own thread
	bPoseChanged = true;
}

void UFacecastClient::EndPlay(const EEndPlayReason::Type Reason)
{
	Session.reset();  // joins the socket thread; the daemon gets a bye
	Super::EndPlay(Reason);
}

bool UFacecastClient::SetBlendshape(FName Name, float Weight)
{
	const bool bKnown = Weights->set(TCHAR_TO_UTF8(*Name.ToString()), Weight);
	bPoseChanged |= bKnown;
	return bKnown;
}

void UFacecastClient::SetHeadRotation(FRotator Rotation)
{
	Head = Rotation;
	bPoseChanged = true;
}

void UFacecastClient::PullLiveLink()
{
	IModularFeatures& Features = IModularFeatures::Get();
	if (LiveLinkSubject.IsNone() || !Features.IsModularFeatureAvailable(ILiveLinkClient::ModularFeatureName))
	{
		return;
	}
	ILiveLinkClient& LiveLink = Features.GetModularFeature<ILiveLinkClient>(ILiveLinkClient::ModularFeatureName);
	FLiveLinkSubjectFrameData Frame;
	if (!LiveLink.EvaluateFrame_AnyThread(LiveLinkSubject, ULiveLinkBasicRole::StaticClass(), Frame))
	{
		return;
	}
	const FLiveLinkBaseStaticData* Static = Frame.StaticData.Cast<FLiveLinkBaseStaticData>();
	const FLiveLinkBaseFrameData* Data = Frame.FrameData.Cast<FLiveLinkBaseFrameData>();
	if (Static == nullptr || Data == nullptr)
	{
		return;
	}
	// by name: Live Link Face's curve order is not the protocol's; HeadYaw etc. are not blendshapes
	const int32 N = FMath::Min(Static->PropertyNames.Num(), Data->PropertyValues.Num());
	for (int32 i = 0; i < N; ++i)
	{
		SetBlendshape(Static->PropertyNames[i], Data->PropertyValues[i]);
	}
}

void UFacecastClient::TickComponent(float DeltaTime, ELevelTick TickType, FActorComponentTickFunction* ThisTickFunction)
{
	Super::TickComponent(DeltaTime, TickType, ThisTickFunction);
	if (!Session)
	{
		return;
	}
	PullLiveLink();
	if (bPoseChanged)
	{
		std::optional<std::array<float, 3>> HeadAngles;
		if (Head.IsSet())
		{
			HeadAngles = facecast::head_from_unreal_rotator(Head->Pitch, Head->Yaw, Head->Roll);
		}
		Session->submit_blendshapes(Weights->values(), HeadAngles);  // latest-wins: never blocks
		bPoseChanged = false;
	}
	if (std::optional<facecast::ReceivedFrame> Frame = Session->take_frame())
	{
		const facecast::Frame& M = Frame->message;
		if (Frame->pixels.size() == size_t(M.width) * M.height * 4)
		{
			FFacecastTextureTarget::Update(Texture, Frame->pixels.data(), int32(M.width), int32(M.height));
			++Shown;
		}
	}
	const facecast::SessionCounters Counters = Session->counters();
	if (!Counters.bound && !Counters.last_failure.empty())
	{
		UE_LOG(LogFacecast, Verbose, TEXT("not bound yet: %s"), UTF8_TO_TCHAR(Counters.last_failure.c_str()));
	}
}
