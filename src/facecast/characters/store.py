"""The character store: one directory of plain files per character (DESIGN §4).

Layout under the store root::

    <name>/reference.png     512x512 RGB head-and-shoulders crop (shot 0)
    <name>/matte.png         512x512 8-bit gray head matte of reference.png (255 = head);
                             absent for characters enrolled before mattes existed
    <name>/shots/NNN.png     further shots (NNN = 001 ... K-1), only when K > 1
    <name>/landmarks.npz     neutral (478x3), shots (Kx478x3), blendshapes (Kx52), float32,
                             x/y normalized to each shot's crop
    <name>/manifest.json     name, format version, creation time, sources, crop boxes, ...
    <name>/neural/<sha>.pt   the neural renderer's embedding and AdaIN parameters for the
                             checkpoint of that sha256 (``facecast enroll --checkpoint``,
                             ``facecast finetune``; see facecast.characters.neural_assets)

Every write goes to a temporary directory inside the root that is renamed into place,
so a reader never sees a half-written character. Replacing a character (``overwrite``)
swaps the new folder with the old one in one step where the platform can
(``facecast.characters.swap``: renameat2 RENAME_EXCHANGE on Linux, renamex_np on macOS), so
the name always holds the old or the new character; elsewhere two renames, and a kill
between them leaves the old folder at ``.old-<name>-*``. Opening a store restores such a
folder and removes what killed writers left (``.tmp-*`` folders, ``.*.tmp`` files), unless
another process is writing (``.lock``, held shared by writers).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import cv2
import numpy as np
import platformdirs

from facecast.characters.face_crop import CROP_SIZE, crop_to_face, to_crop_coords
from facecast.characters.matte import head_matte
from facecast.characters.swap import ADVISORY_LOCKS, exchange_paths, store_lock
from facecast.characters.assets import CharacterAssets
from facecast.capture.landmarks import (
    VIDEO_SUFFIXES,
    LandmarkDetector,
    UnreadableMedia,
    iter_video_frames,
    open_video,
    read_image,
    video_frame_count,
)
from facecast.capture.media_limits import SourceTooLarge, check_image_file, check_pixels
from facecast.tracking.face import BLENDSHAPE_NAMES, LANDMARK_FORMAT, FaceLandmarks

if TYPE_CHECKING:  # torch is imported only when neural assets are used
    from facecast.characters.neural_assets import NeuralAssets

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MATTE_FILE = "matte.png"
DEFAULT_CHARACTER = "default"
DEFAULT_VIDEO_SHOTS = 8
LOCK_FILE = ".lock"  # writers hold it shared; opening the store cleans up only when it is free
_TMP_PREFIX = ".tmp-"  # a character being written (or, after an exchange, the old one being removed)
_OLD_PREFIX = ".old-"  # the old character between the two renames of a replace without exchange
_ABANDONED_S = 3600.0  # without advisory locks (Windows), leftovers older than this are removed
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
# A second face counts (MultipleFaces) only if it is at least this fraction of the
# largest face's size; smaller ones (a portrait in the background) are ignored.
SECONDARY_FACE_RATIO = 0.5


class InvalidCharacterName(ValueError):
    """A character name that is not allowed (it could escape the store, or is malformed)."""


class UnknownCharacter(LookupError):
    """No character of that name in the store."""


class CharacterExists(FileExistsError):
    """Enrolling over an existing character without ``overwrite=True``."""


class NoFaceFound(ValueError):
    """A source image (or every sampled frame of a video) shows no face."""


class MultipleFaces(ValueError):
    """A source image shows more than one face, so the character is ambiguous."""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid character name, else raise InvalidCharacterName."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidCharacterName(
            f"invalid character name {name!r}: use 1-64 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    if ".." in name or name.endswith("."):
        raise InvalidCharacterName(f"invalid character name {name!r}: no '..' and no trailing '.'")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        raise InvalidCharacterName(f"invalid character name {name!r}: reserved device name")
    return name


@dataclass(frozen=True)
class Character:
    """One enrolled character, as loaded from the store (arrays are read-only).

    image: 512 x 512 x 3 uint8 reference crop (shot 0).
    neutral: 478 x 3 float32 landmarks of ``image``, normalized to it.
    shots: K x 478 x 3 float32 landmarks of every shot, normalized to its own crop.
    blendshapes: K x 52 float32 blendshape scores of every shot.
    shot_images: K crops, ``shot_images[0] is image``.
    matte: 512 x 512 uint8 head matte of ``image`` (255 = head), or None for characters
        enrolled before mattes existed (``CharacterStore.update_matte`` adds one).
    """

    name: str
    image: np.ndarray
    neutral: np.ndarray
    shots: np.ndarray
    blendshapes: np.ndarray
    shot_images: tuple[np.ndarray, ...]
    manifest: dict[str, Any] = field(repr=False)
    path: Path | None = None
    matte: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_shots(self) -> int:
        return int(self.shots.shape[0])

    def assets(self) -> CharacterAssets:
        """The renderer-facing view of this character."""
        return CharacterAssets(
            name=self.name, image=self.image, neutral=self.neutral, matte=self.matte,
            shot_images=self.shot_images, shots=self.shots, directory=self.path,
        )


@dataclass
class _Shot:
    label: str
    frame_index: int | None
    source_size: tuple[int, int]
    box: tuple[int, int, int]  # x0, y0, side in source pixels
    image: np.ndarray
    face: FaceLandmarks


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def _write_gray_png(path: Path, gray: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(gray, dtype=np.uint8))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(buf.tobytes())


def _read_matte(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """An 8-bit gray matte PNG, checked against the reference image's size."""
    matte = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
    if matte is None:
        raise ValueError(f"{path}: unreadable matte image")
    if matte.shape != shape:
        raise ValueError(f"{path}: matte is {matte.shape}, reference image is {shape}")
    return matte


def _replace_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file beside it that is renamed into place."""
    # Not mkstemp: its 0600 mode would outlive the rename; callers hold the store lock.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _age(path: Path) -> float:
    return time.time() - _mtime(path)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _face_size(face: FaceLandmarks) -> float:
    x0, y0, x1, y1 = face.bbox()
    return max(x1 - x0, y1 - y0)


class CharacterStore:
    """A directory of characters; loads are cached, writes are atomic."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            root = Path(platformdirs.user_data_dir("facecast")) / "characters"
        self.root = Path(root).expanduser()
        self._cache: dict[str, Character] = {}
        self._lock = threading.RLock()
        self._recover()

    # ----------------------------------------------------------------- crash recovery
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Held around every write: the store's lock, shared (see ``_recover``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with store_lock(self.root / LOCK_FILE, exclusive=False):
            yield

    def _recover(self) -> None:
        """Undo or finish what writers killed mid-write left behind: put a character moved
        aside by an interrupted replace (``.old-<name>-*``) back when its name is missing,
        and remove temporary folders and files. Skipped while another process writes."""
        if not self.root.is_dir():
            return
        with store_lock(self.root / LOCK_FILE, exclusive=True) as free:
            if ADVISORY_LOCKS and not free:
                log.info("%s: another process is writing; leftovers are cleaned up next time", self.root)
                return
            min_age = 0.0 if ADVISORY_LOCKS else _ABANDONED_S
            entries = sorted(self.root.iterdir(), key=_mtime, reverse=True)  # newest first
            for entry in entries:
                if entry.name.startswith(_OLD_PREFIX) and _age(entry) >= min_age:
                    self._restore_or_remove(entry)
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX) and entry.exists() and _age(entry) >= min_age:
                    shutil.rmtree(entry, ignore_errors=True)
                    log.info("removed %s, left by an interrupted write", entry)
                elif not entry.name.startswith(".") and entry.is_dir():
                    for part in (entry, entry / "neural"):
                        for tmp in part.glob(".*.tmp"):
                            if _age(tmp) >= min_age:
                                tmp.unlink(missing_ok=True)
                                log.info("removed %s, left by an interrupted write", tmp)

    def _restore_or_remove(self, old: Path) -> None:
        name = old.name[len(_OLD_PREFIX):].rsplit("-", 1)[0]
        try:
            target = self._dir(name)
        except InvalidCharacterName:
            return  # not one of ours
        if not (target / "manifest.json").is_file() and (old / "manifest.json").is_file():
            if target.is_dir():
                shutil.rmtree(target)  # no manifest: not a character, and it holds the name
            os.rename(old, target)
            log.warning("restored character %r from %s (a replace of it was interrupted)", name, old)
        else:
            shutil.rmtree(old, ignore_errors=True)
            log.info("removed %s, left by an interrupted replace of %r", old, name)

    # ----------------------------------------------------------------- reading
    def _dir(self, name: str) -> Path:
        validate_name(name)
        root = self.root.resolve()
        path = (root / name).resolve()
        if path.parent != root:
            raise InvalidCharacterName(f"character name {name!r} escapes the store {root}")
        return path

    def names(self) -> list[str]:
        """Names of the enrolled characters, sorted."""
        if not self.root.is_dir():
            return []
        out = []
        for entry in self.root.iterdir():
            try:
                validate_name(entry.name)
            except InvalidCharacterName:
                continue  # temp dirs (.tmp-*, .old-*) and foreign files
            if (entry / "manifest.json").is_file():
                out.append(entry.name)
        return sorted(out)

    def evict(self, name: str) -> None:
        """Drop ``name`` from the in-memory cache (the files stay); the next load reads them."""
        with self._lock:
            self._cache.pop(name, None)

    def manifest_path(self, name: str) -> Path:
        """The file whose contents version a character: every write replaces it."""
        return self._dir(name) / "manifest.json"

    def exists(self, name: str) -> bool:
        return (self._dir(name) / "manifest.json").is_file()

    def load(self, name: str) -> Character:
        """Load a character (cached); raises UnknownCharacter listing the known ones."""
        directory = self._dir(name)
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                return cached
            if not (directory / "manifest.json").is_file():
                known = ", ".join(self.names()) or "none"
                raise UnknownCharacter(
                    f"no character {name!r} in {self.root} (enrolled: {known})"
                )
            character = self._read(name, directory)
            self._cache[name] = character
            return character

    def _read(self, name: str, directory: Path) -> Character:
        manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"{directory}: unsupported character format version {version!r}")
        with np.load(directory / "landmarks.npz", allow_pickle=False) as data:
            neutral = np.asarray(data["neutral"], dtype=np.float32)
            shots = np.asarray(data["shots"], dtype=np.float32)
            blend = np.asarray(data["blendshapes"], dtype=np.float32)
        images = tuple(_readonly(read_image(directory / rel)) for rel in manifest["shot_files"])
        if len(images) != shots.shape[0]:
            raise ValueError(
                f"{directory}: {len(images)} shot images but {shots.shape[0]} landmark sets"
            )
        matte = None
        matte_rel = manifest.get("matte")
        if matte_rel and (directory / matte_rel).is_file():
            matte = _readonly(_read_matte(directory / matte_rel, images[0].shape[:2]))
        elif matte_rel:
            log.warning("%s: manifest names %s but it is missing; no matte", directory, matte_rel)
        return Character(
            name=name,
            image=images[0],
            neutral=_readonly(neutral),
            shots=_readonly(shots),
            blendshapes=_readonly(blend),
            shot_images=images,
            manifest=manifest,
            path=directory,
            matte=matte,
        )

    def update_matte(self, name: str) -> Character:
        """(Re)compute a character's head matte from its reference image and landmarks.

        Rewrites ``matte.png`` and the manifest in place, each by an atomic rename (the
        matte first, so a manifest naming it never points at a missing file), and returns
        the reloaded character. Adds a matte to characters enrolled before mattes existed.
        """
        character = self.load(name)
        directory = self._dir(name)
        matte = head_matte(np.asarray(character.image), np.asarray(character.neutral))
        with self._lock, self._writing():
            manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
            manifest["matte"] = MATTE_FILE
            manifest["revision"] = uuid.uuid4().hex  # a new version for the daemon to notice
            _replace_file(directory / MATTE_FILE, lambda p: _write_gray_png(p, matte))
            text = json.dumps(manifest, indent=2)
            _replace_file(
                directory / "manifest.json", lambda p: p.write_text(text, encoding="utf-8")
            )
            self._cache.pop(name, None)
            log.info("updated the head matte of character %r in %s", name, directory)
            return self.load(name)

    # ----------------------------------------------------------------- neural assets
    def save_neural_assets(self, name: str, assets: NeuralAssets) -> Path:
        """Store a character's neural assets for one checkpoint (replacing older ones for
        that checkpoint); returns the file. The character must exist."""
        from facecast.characters import neural_assets

        directory = self._dir(name)
        with self._lock, self._writing():
            if not (directory / "manifest.json").is_file():
                known = ", ".join(self.names()) or "none"
                raise UnknownCharacter(f"no character {name!r} in {self.root} (enrolled: {known})")
            return neural_assets.save_assets(directory, assets)

    def load_neural_assets(self, name: str, checkpoint_sha256: str) -> NeuralAssets | None:
        """A character's neural assets for the checkpoint of that sha256, or None."""
        from facecast.characters import neural_assets

        return neural_assets.load_assets(self._dir(name), checkpoint_sha256)

    # ----------------------------------------------------------------- enrolling
    def enroll(
        self,
        name: str,
        sources: Sequence[Path | str] | Sequence[np.ndarray],
        detector: LandmarkDetector | None = None,
        overwrite: bool = False,
        video_shots: int = DEFAULT_VIDEO_SHOTS,
    ) -> Character:
        """Create (or replace) a character from images, arrays or videos.

        The first source's (first) shot becomes the reference image and its landmarks the
        neutral face. A video contributes ``video_shots`` evenly spaced frames that show
        exactly one face. Raises NoFaceFound, MultipleFaces, UnreadableMedia,
        CharacterExists or InvalidCharacterName.
        """
        labelled: list[tuple[str, Path | np.ndarray]] = []
        for i, src in enumerate(sources):
            if isinstance(src, np.ndarray):
                labelled.append((f"<array {i}>", src))
            else:
                labelled.append((str(Path(src)), Path(src)))
        return self._enroll(name, labelled, detector, overwrite, video_shots)

    def ensure_default(self) -> Character:
        """The built-in ``default`` character, enrolled from skimage's astronaut once."""
        with self._lock:
            if self.exists(DEFAULT_CHARACTER):
                return self.load(DEFAULT_CHARACTER)
            from skimage import data as skdata

            log.info("creating the default character in %s", self.root)
            astronaut = np.ascontiguousarray(skdata.astronaut())
            return self._enroll(
                DEFAULT_CHARACTER, [("skimage.data.astronaut()", astronaut)], None, True, 1
            )

    def _enroll(
        self,
        name: str,
        sources: list[tuple[str, Path | np.ndarray]],
        detector: LandmarkDetector | None,
        overwrite: bool,
        video_shots: int,
    ) -> Character:
        final = self._dir(name)
        if not sources:
            raise ValueError("enroll needs at least one source image or video")
        if not overwrite and self.exists(name):
            raise CharacterExists(
                f"character {name!r} already exists in {self.root}; pass overwrite=True"
            )
        for label, src in sources:  # every source's size, before anything is decoded
            self._check_size(label, src)
        own = detector is None
        det = detector if detector is not None else LandmarkDetector()
        try:
            shots: list[_Shot] = []
            for label, src in sources:
                shots.extend(self._shots_from(label, src, det, video_shots))
        finally:
            if own:
                det.close()
        matte = head_matte(shots[0].image, shots[0].face.points)  # outside the lock: slow
        with self._lock:
            self._write(name, final, shots, matte, overwrite)
            self._cache.pop(name, None)
            return self.load(name)

    @staticmethod
    def _check_size(label: str, src: Path | np.ndarray) -> None:
        """Raise SourceTooLarge for a source of too many pixels, from its header alone
        (facecast.capture.media_limits); UnreadableMedia for a missing or unreadable one."""
        if isinstance(src, np.ndarray):
            check_pixels(label, src.shape[1] if src.ndim > 1 else 1, src.shape[0])
        elif src.suffix.lower() in VIDEO_SUFFIXES:
            open_video(src).release()
        elif not src.is_file():
            raise UnreadableMedia(f"cannot read image {src}: no such file")
        else:
            try:
                check_image_file(src)
            except SourceTooLarge:
                raise
            except (OSError, ValueError) as exc:
                raise UnreadableMedia(f"cannot read image {src}: {exc}") from exc

    def _shots_from(
        self, label: str, src: Path | np.ndarray, det: LandmarkDetector, video_shots: int
    ) -> list[_Shot]:
        if isinstance(src, Path) and src.suffix.lower() in VIDEO_SUFFIXES:
            return self._video_shots(label, src, det, video_shots)
        rgb = read_image(src) if isinstance(src, Path) else np.asarray(src)
        face = self._single_face(label, rgb, det)
        if face is None:
            raise NoFaceFound(f"no face found in {label}")
        return [self._make_shot(label, None, rgb, face)]

    @staticmethod
    def _single_face(label: str, rgb: np.ndarray, det: LandmarkDetector) -> FaceLandmarks | None:
        faces = det.detect(rgb, max_faces=4)
        if not faces:
            return None
        faces.sort(key=_face_size, reverse=True)
        big = [f for f in faces if _face_size(f) >= SECONDARY_FACE_RATIO * _face_size(faces[0])]
        if len(big) > 1:
            raise MultipleFaces(
                f"{len(big)} faces found in {label}; a character source must show one face"
            )
        if len(faces) > 1:
            log.info("%s: ignoring %d small background face(s)", label, len(faces) - 1)
        return faces[0]

    def _video_shots(
        self, label: str, path: Path, det: LandmarkDetector, count: int
    ) -> list[_Shot]:
        if count < 1:
            raise ValueError("video_shots must be >= 1")
        total = video_frame_count(path)
        if total <= 0:
            raise UnreadableMedia(f"cannot read video {path}: no frames")
        # Probe three times as many candidates as needed, keep those with one clear face,
        # then take `count` of them evenly spaced.
        probes = np.unique(np.linspace(0, total - 1, min(total, 3 * count)).round().astype(int))
        found: list[_Shot] = []
        for index, _t, rgb in iter_video_frames(path, probes.tolist()):
            try:
                face = self._single_face(f"{label} frame {index}", rgb, det)
            except MultipleFaces as exc:
                log.info("skipping: %s", exc)
                continue
            if face is not None:
                found.append(self._make_shot(label, index, rgb, face))
        if not found:
            raise NoFaceFound(f"no face found in any of {len(probes)} sampled frames of {label}")
        if len(found) < count:
            log.warning("%s: only %d of %d requested frames show a face", label, len(found), count)
            return found
        picks = np.linspace(0, len(found) - 1, count).round().astype(int)
        return [found[i] for i in picks]

    @staticmethod
    def _make_shot(label: str, frame: int | None, rgb: np.ndarray, face: FaceLandmarks) -> _Shot:
        crop, box = crop_to_face(rgb, face, CROP_SIZE)
        points = to_crop_coords(face, box)
        cropped = FaceLandmarks(points, face.blendshapes, face.transform, (CROP_SIZE, CROP_SIZE))
        h, w = rgb.shape[:2]
        return _Shot(label, frame, (w, h), box, crop, cropped)

    def _write(
        self, name: str, final: Path, shots: list[_Shot], matte: np.ndarray, overwrite: bool
    ) -> None:
        with self._writing():
            self._write_locked(name, final, shots, matte, overwrite)
        log.info("enrolled character %r (%d shot(s)) in %s", name, len(shots), final)

    def _write_locked(
        self, name: str, final: Path, shots: list[_Shot], matte: np.ndarray, overwrite: bool
    ) -> None:
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{name}-", dir=self.root))
        try:
            files = ["reference.png"]
            _write_png(tmp / "reference.png", shots[0].image)
            if len(shots) > 1:
                (tmp / "shots").mkdir()
                for i, shot in enumerate(shots[1:], start=1):
                    rel = f"shots/{i:03d}.png"
                    _write_png(tmp / rel, shot.image)
                    files.append(rel)
            points = np.stack([s.face.points for s in shots]).astype(np.float32)
            blend = np.stack([s.face.blendshapes for s in shots]).astype(np.float32)
            np.savez(tmp / "landmarks.npz", neutral=points[0], shots=points, blendshapes=blend)
            _write_gray_png(tmp / MATTE_FILE, matte)
            manifest = {
                "name": name,
                "format_version": FORMAT_VERSION,
                "created": _now_iso(),
                "sources": sorted({s.label for s in shots}, key=[s.label for s in shots].index),
                "shots": len(shots),
                "shot_files": files,
                "shot_sources": [
                    {
                        "source": s.label,
                        "frame_index": s.frame_index,
                        "source_size": list(s.source_size),
                        "crop_box": [s.box[0], s.box[1], s.box[2], s.box[2]],
                    }
                    for s in shots
                ],
                "crop_box": [shots[0].box[0], shots[0].box[1], shots[0].box[2], shots[0].box[2]],
                "image_size": [CROP_SIZE, CROP_SIZE],
                "landmark_format": LANDMARK_FORMAT,
                "landmark_space": "normalized to each shot's crop; z in MediaPipe scale",
                "blendshape_names": list(BLENDSHAPE_NAMES),
                "matte": MATTE_FILE,
                "revision": uuid.uuid4().hex,  # every write is a new version, even from the same sources
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            self._swap_in(tmp, final, overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _swap_in(self, tmp: Path, final: Path, overwrite: bool) -> None:
        """Put the complete character folder ``tmp`` at ``final``, replacing what is there
        when ``overwrite``; the old files are removed."""
        if not final.exists():
            os.rename(tmp, final)
            return
        if not overwrite:
            raise CharacterExists(f"character {final.name!r} already exists in {self.root}")
        if exchange_paths(tmp, final):  # one step: the name holds the old, then the new character
            shutil.rmtree(tmp, ignore_errors=True)  # the old one, now at tmp; a kill here leaves a .tmp-*
            return
        # Two renames; a kill between them leaves the name missing and the old character
        # at .old-<name>-*, which the next CharacterStore(root) puts back.
        old = Path(tempfile.mkdtemp(prefix=f"{_OLD_PREFIX}{final.name}-", dir=self.root))
        os.rmdir(old)
        os.replace(final, old)
        try:
            os.replace(tmp, final)
        except OSError:
            os.replace(old, final)
            raise
        shutil.rmtree(old, ignore_errors=True)
