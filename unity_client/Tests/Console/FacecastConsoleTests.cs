#if !UNITY_5_3_OR_NEWER
// Console tests of the engine-independent client parts (no Unity needed), built with Mono:
//   see build.sh beside this file, and tests/integration/test_unity_client.py.
//   mono facecast_tests.exe --fixtures tests/fixtures/protocol [--endpoint tcp://127.0.0.1:5555
//        --character default --track track.f32]
// Prints one line per failed check and a summary "N passed, M failed"; exit 1 on any failure.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Threading;
using Facecast.Protocol;
using Facecast.Session;
using Facecast.Shm;
using Facecast.Transport;

namespace Facecast.Tests
{
    public static class FacecastConsoleTests
    {
        private static int _passed, _failed;

        private static void Check(bool ok, string name, string detail = "")
        {
            if (ok) { _passed++; return; }
            _failed++;
            Console.WriteLine("FAIL " + name + (detail.Length > 0 ? ": " + detail : ""));
        }

        public static int Main(string[] args)
        {
            var opts = new Dictionary<string, string>();
            for (int i = 0; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
            string fixtures;
            if (!opts.TryGetValue("fixtures", out fixtures))
            {
                Console.Error.WriteLine("usage: facecast_tests.exe --fixtures DIR [--endpoint EP --character NAME --track FILE]");
                return 2;
            }
            try
            {
                FixtureTests.Run(fixtures, Check);
                Console.WriteLine("fixtures: " + _passed + " passed, " + _failed + " failed");
                string endpoint;
                if (opts.TryGetValue("endpoint", out endpoint))
                {
                    string character = opts.ContainsKey("character") ? opts["character"] : "default";
                    float[][] track = opts.ContainsKey("track") ? ReadTrack(opts["track"]) : null;
                    new DaemonTests(endpoint, character, track, Check).Run();
                }
            }
            catch (Exception e)
            {
                Check(false, "unexpected exception", e.ToString());
            }
            Console.WriteLine(_passed + " passed, " + _failed + " failed");
            return _failed == 0 ? 0 : 1;
        }

        /// <summary>A recorded landmark track: T x 478 x 3 float32, little-endian, no header.</summary>
        private static float[][] ReadTrack(string path)
        {
            byte[] raw = File.ReadAllBytes(path);
            const int poseBytes = 478 * 3 * 4;
            if (raw.Length == 0 || raw.Length % poseBytes != 0) throw new InvalidDataException("track size " + raw.Length);
            var poses = new float[raw.Length / poseBytes][];
            for (int t = 0; t < poses.Length; t++)
            {
                poses[t] = new float[478 * 3];
                Buffer.BlockCopy(raw, t * poseBytes, poses[t], 0, poseBytes);
            }
            return poses;
        }

        internal static string Sha256Hex(byte[] data)
        {
            using (var sha = SHA256.Create())
                return string.Concat(sha.ComputeHash(data).Select(b => b.ToString("x2")).ToArray());
        }
    }
}
#endif
