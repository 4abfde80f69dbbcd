#!/usr/bin/env bash
# Debian packages the test suite uses beyond Python: Chromium and its driver (the OBS
# overlay is tested in a real headless browser). Installed only when missing, and only
# where apt-get can run (root); elsewhere those tests skip and say why.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: cannot install ${need[*]} (needs root and apt-get); browser tests will skip" >&2
  exit 0
fi
echo "system_deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
