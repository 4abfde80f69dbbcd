#!/usr/bin/env bash
# Debian packages the test suite uses beyond Python: Chromium and its driver (the OBS
# overlay is tested in a real headless browser), OBS Studio with Xvfb and Mesa's software
# OpenGL (`facecast obs setup` is tested against a real OBS), Mono and libzmq (the Unity
# client's engine-independent C# is compiled and run against the daemon), CMake, g++, cppzmq and
# msgpack-cxx (the C++ client library native_client/ is built and run against the daemon), espeak-ng
# (speech for the NPC lip-flap tests). Installed only when
# missing, and only where apt-get can run (root); elsewhere those tests skip and say why.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v obs >/dev/null 2>&1 || need+=(obs-studio)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
dpkg -s libgl1-mesa-dri >/dev/null 2>&1 || need+=(libgl1-mesa-dri)
dpkg -s libegl-mesa0 >/dev/null 2>&1 || need+=(libegl-mesa0)
command -v mcs >/dev/null 2>&1 || need+=(mono-devel)
dpkg -s libzmq5 >/dev/null 2>&1 || need+=(libzmq5)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
dpkg -s cppzmq-dev >/dev/null 2>&1 || need+=(cppzmq-dev)
dpkg -s libmsgpack-cxx-dev >/dev/null 2>&1 || need+=(libmsgpack-cxx-dev)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: cannot install ${need[*]} (needs root and apt-get); browser tests will skip" >&2
  exit 0
fi
echo "system_deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
