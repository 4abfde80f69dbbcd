"""Locate (and if needed download) the MediaPipe FaceLandmarker model bundle.

Search order for ``face_landmarker.task``:

1. the directory named by ``FACECAST_MODEL_DIR`` (a different model version is allowed
   there: a checksum mismatch only logs a warning);
2. the user cache, ``platformdirs.user_cache_dir("facecast")/models`` (the checksum must
   match the pinned one; a corrupt cached file is an error);
3. a download from MediaPipe's official bucket into the user cache, streamed with a
   progress bar, checked against the pinned sha256 and moved into place atomically.
   ``FACECAST_MODEL_URL`` replaces the base URL (mirrors, tests); ``FACECAST_OFFLINE=1``
   disables the download.

When none of this yields a file, :class:`ModelFileMissing` says where it looked.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import platformdirs
from tqdm import tqdm

from facecast.core.filehash import sha256_of

log = logging.getLogger(__name__)

FACE_LANDMARKER_FILE = "face_landmarker.task"
FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
DEFAULT_BASE_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1"
)

ENV_MODEL_DIR = "FACECAST_MODEL_DIR"
ENV_MODEL_URL = "FACECAST_MODEL_URL"
ENV_OFFLINE = "FACECAST_OFFLINE"

_CHUNK = 1 << 16
_TIMEOUT_S = 60.0


class ModelFileMissing(FileNotFoundError):
    """A model file could not be found locally nor downloaded."""


class ModelChecksumError(ValueError):
    """A model file's sha256 does not match the pinned value."""


def model_cache_dir() -> Path:
    """Directory where downloaded models are kept (may not exist yet)."""
    return Path(platformdirs.user_cache_dir("facecast")) / "models"


def model_base_url() -> str:
    """Base URL of the model download, ``FACECAST_MODEL_URL`` if set."""
    return os.environ.get(ENV_MODEL_URL, "").strip().rstrip("/") or DEFAULT_BASE_URL


def offline() -> bool:
    """True when ``FACECAST_OFFLINE`` asks for no network access."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def download_file(url: str, dest: Path, sha256: str) -> Path:
    """Stream ``url`` into ``dest`` atomically, checking its sha256.

    The bytes go to a temporary file beside ``dest``; only a file whose hash matches is
    renamed to ``dest``. On any failure the temporary file is removed and the error
    propagates (``ModelChecksumError`` for a wrong hash, ``OSError``/``URLError`` for I/O).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"downloading {dest.name}",
                leave=False,
            ) as bar:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise ModelChecksumError(
                f"downloaded {dest.name} from {url} has sha256 {got}, expected {sha256}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s to %s", url, dest)
    return dest


def _check_env_dir(reasons: list[str]) -> Path | None:
    env_dir = os.environ.get(ENV_MODEL_DIR, "").strip()
    if not env_dir:
        reasons.append(f"${ENV_MODEL_DIR} is not set")
        return None
    candidate = Path(env_dir).expanduser() / FACE_LANDMARKER_FILE
    if not candidate.is_file():
        reasons.append(f"{candidate} (from ${ENV_MODEL_DIR}): not found")
        return None
    got = sha256_of(candidate)
    if got != FACE_LANDMARKER_SHA256:
        log.warning(
            "%s has sha256 %s, not the pinned %s; using it anyway (set by $%s)",
            candidate,
            got,
            FACE_LANDMARKER_SHA256,
            ENV_MODEL_DIR,
        )
    return candidate


def _check_cache(reasons: list[str]) -> Path | None:
    candidate = model_cache_dir() / FACE_LANDMARKER_FILE
    if not candidate.is_file():
        reasons.append(f"{candidate} (user cache): not found")
        return None
    got = sha256_of(candidate)
    if got != FACE_LANDMARKER_SHA256:
        raise ModelChecksumError(
            f"cached model {candidate} has sha256 {got}, expected {FACE_LANDMARKER_SHA256}; "
            "delete it to download it again, or point "
            f"${ENV_MODEL_DIR} at a directory holding {FACE_LANDMARKER_FILE}"
        )
    return candidate


def resolve_face_landmarker(allow_download: bool | None = None) -> Path:
    """Return the path of ``face_landmarker.task``, downloading it if allowed.

    ``allow_download=None`` means "unless ``FACECAST_OFFLINE`` is set". Raises
    :class:`ModelFileMissing` naming every place searched, the URL and
    ``FACECAST_MODEL_DIR`` when the file cannot be had, and :class:`ModelChecksumError`
    when the cached copy is corrupt.
    """
    reasons: list[str] = []
    found = _check_env_dir(reasons)
    if found is not None:
        return found
    found = _check_cache(reasons)
    if found is not None:
        return found

    url = f"{model_base_url()}/{FACE_LANDMARKER_FILE}"
    if allow_download is None:
        allow_download = not offline()
        if not allow_download:
            reasons.append(f"download disabled by ${ENV_OFFLINE}")
    elif not allow_download:
        reasons.append("download disabled by the caller")

    if allow_download:
        dest = model_cache_dir() / FACE_LANDMARKER_FILE
        log.info("%s not found locally; downloading %s", FACE_LANDMARKER_FILE, url)
        try:
            return download_file(url, dest, FACE_LANDMARKER_SHA256)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            reasons.append(f"download from {url} failed: {exc}")

    searched = "\n  - ".join(reasons)
    raise ModelFileMissing(
        f"MediaPipe model {FACE_LANDMARKER_FILE} is missing.\n  - {searched}\n"
        f"Download it from {url} (sha256 {FACE_LANDMARKER_SHA256}) and put it in a "
        f"directory named by ${ENV_MODEL_DIR}, or into {model_cache_dir()}."
    )
