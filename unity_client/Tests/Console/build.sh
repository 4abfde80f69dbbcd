#!/bin/sh
# Build the console tests of the engine-independent client parts with Mono's mcs.
#   unity_client/Tests/Console/build.sh OUT.exe
#   mono OUT.exe --fixtures tests/fixtures/protocol [--endpoint tcp://127.0.0.1:5555 --character default --track T.f32]
# Needs: apt-get install mono-devel libzmq5 (Debian/Ubuntu).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
runtime="$here/../../Runtime"
out=${1:-facecast_tests.exe}
# Everything under Runtime/ except the Unity components (they need UnityEngine).
sources=$(find "$runtime" -name '*.cs' -not -path '*/Unity/*' | sort)
mcs -langversion:7.2 -unsafe -debug -nowarn:1591 -out:"$out" \
    -r:System.dll -r:System.Core.dll \
    $sources "$here"/*.cs
echo "built $out"
