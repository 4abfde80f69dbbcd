using UnrealBuildTool;

public class Facecast : ModuleRules
{
	public Facecast(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
		CppStandard = CppStandardVersion.Cpp17;
		bEnableExceptions = true;  // facecast-cpp reports refusals with exceptions; caught at the component's edge
		PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine", "RenderCore", "RHI" });
		PrivateDependencyModuleNames.AddRange(new string[] { "LiveLinkInterface", "FacecastCpp" });
	}
}
