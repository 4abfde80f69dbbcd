// facecast-cpp (native_client/) as an external module: its headers, and the static library
// built beforehand with CMake for the target platform (see docs/unreal.md, "Building"), plus
// libzmq. The library's sources are not copied here, so the tested code is the code shipped.
using System.IO;
using UnrealBuildTool;

public class FacecastCpp : ModuleRules
{
	public FacecastCpp(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;
		// FACECAST_NATIVE_CLIENT: the native_client/ folder; FACECAST_CPP_BUILD: its CMake build folder;
		// FACECAST_DEPS_PREFIX: where cppzmq, libzmq and msgpack-cxx are installed (headers in include/, libs in lib/).
		string NativeClient = System.Environment.GetEnvironmentVariable("FACECAST_NATIVE_CLIENT")
			?? Path.GetFullPath(Path.Combine(ModuleDirectory, "../../../../../native_client"));
		string Build = System.Environment.GetEnvironmentVariable("FACECAST_CPP_BUILD") ?? Path.Combine(NativeClient, "build");
		string Deps = System.Environment.GetEnvironmentVariable("FACECAST_DEPS_PREFIX") ?? "";

		PublicIncludePaths.Add(Path.Combine(NativeClient, "include"));
		PublicDefinitions.Add("MSGPACK_NO_BOOST=1");
		if (Deps.Length > 0)
		{
			PublicIncludePaths.Add(Path.Combine(Deps, "include"));
		}
		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			PublicAdditionalLibraries.Add(Path.Combine(Build, "Release", "facecast-cpp.lib"));
			PublicAdditionalLibraries.Add(Path.Combine(Deps, "lib", "libzmq-mt-s-4_3_5.lib"));  // static libzmq: no DLL to ship
			PublicDefinitions.Add("ZMQ_STATIC=1");
			PublicSystemLibraries.AddRange(new string[] { "ws2_32.lib", "iphlpapi.lib", "advapi32.lib" });
		}
		else
		{
			PublicAdditionalLibraries.Add(Path.Combine(Build, "libfacecast-cpp.a"));
			PublicAdditionalLibraries.Add(Path.Combine(Deps.Length > 0 ? Deps : "/usr", "lib", "libzmq.a"));
		}
	}
}
