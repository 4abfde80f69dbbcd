#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) and point facecast at the
# MediaPipe face model. Sourced by scripts/demo.sh and scripts/test.sh; safe to re-run:
# it reinstalls only when pyproject.toml changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
stamp=.venv/.facecast-installed
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing facecast and its dependencies into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
  .venv/bin/python -c "import facecast, zmq, msgpack, mediapipe, cv2" \
    || { echo "setup: installation failed (see above)" >&2; exit 1; }
  echo "$want" > "$stamp"
fi
# The MediaPipe face model: an explicit FACECAST_MODEL_DIR wins; else the team's shared
# copy beside the checkout; else facecast looks in the user cache and downloads it once.
if [ -z "${FACECAST_MODEL_DIR:-}" ] && [ -f "$ROOT/../shared/models/face_landmarker.task" ]; then
  export FACECAST_MODEL_DIR="$(cd "$ROOT/../shared/models" && pwd)"
fi
