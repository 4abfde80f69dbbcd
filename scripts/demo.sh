#!/usr/bin/env bash
# Set up, then animate the built-in character through the real daemon into demo_out/.
# Extra arguments go to `facecast demo` (e.g. --seconds 10 --size 512).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec .venv/bin/facecast demo "$@"
