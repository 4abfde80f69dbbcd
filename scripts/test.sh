#!/usr/bin/env bash
# Set up, then run the test suite (unit + integration, slow tests included).
# Extra arguments go to pytest (e.g. -k daemon, -m "not slow").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
bash scripts/system_deps.sh
exec .venv/bin/python -m pytest "$@"
