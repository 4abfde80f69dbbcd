"""The shipped blendshape basis: its stored held-out figures, a re-check on real frames of
the video it never saw, and the rig that puts it on a character's neutral face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facecast.capture import basis_fit as bf
from facecast.core import topology as topo
from facecast.protocol import ARKIT_BLENDSHAPES
from facecast.tracking.blendshape_basis import (
    BasisFileMissing,
    BlendshapeBasis,
    BlendshapeRig,
    arkit_from_mediapipe,
    load_basis,
    save_basis,
)
from facecast.tracking.face import BLENDSHAPE_NAMES
from facecast.tracking.head_pose import HeadPose, rotate_landmarks

JAW_OPEN = ARKIT_BLENDSHAPES.index("jawOpen")


@pytest.fixture(scope="module")
def basis() -> BlendshapeBasis:
    return load_basis()


@pytest.fixture(scope="module")
def neutral(default_store) -> np.ndarray:
    return np.array(default_store.load("default").neutral)


def _one_hot(name: str, value: float = 1.0) -> np.ndarray:
    w = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
    w[ARKIT_BLENDSHAPES.index(name)] = value
    return w


def _mouth_gap(p: np.ndarray) -> float:
    return float(p[topo.MP_LOWER_LIP_CENTER, 1] - p[topo.MP_UPPER_LIP_CENTER, 1])


def _eye_gap(p: np.ndarray, lower: tuple[int, ...], upper: tuple[int, ...]) -> float:
    return float((p[list(lower), 1] - p[list(upper), 1]).mean())


def test_stored_held_out_figures_show_the_basis_beats_the_neutral_face(basis: BlendshapeBasis) -> None:
    m = basis.metadata
    assert m["held_out_video"] not in m["train_videos"]
    held = m["held_out"]
    assert held["frames"] > 100
    assert held["basis"] < 0.85 * held["neutral"], held
    nested = m["nested_leave_one_video_out_pooled"]
    assert nested["basis"] < 0.85 * nested["neutral"], nested
    # Every left-out person is predicted better than by their neutral face alone.
    for name, f in m["nested_leave_one_video_out"].items():
        assert f["basis"] < f["neutral"], (name, f)
    assert m["ridge_lambda"] in m["lambda_grid"]


def test_basis_predicts_frames_of_the_held_out_video(basis: BlendshapeBasis, model_dir: Path,
                                                     shared_videos: Path) -> None:
    """Re-track 60 real frames of the video the shipped basis never saw and score it."""
    from facecast.capture.landmarks import LandmarkDetector

    name = basis.metadata["held_out_video"]
    with LandmarkDetector() as detector:
        video = bf.track_video(detector, shared_videos / f"{name}.mp4", max_frames=60, progress=False)
    assert len(video.faces) >= 57
    err = bf.held_out_error(video, basis.offsets)
    assert err.basis < 0.85 * err.neutral, err
    # A basis of zeros is the neutral face: the same figure as the baseline.
    zero = bf.held_out_error(video, np.zeros_like(basis.offsets))
    assert zero.basis == pytest.approx(err.neutral)


def test_ridge_fit_recovers_a_known_basis() -> None:
    """On synthetic data with a per-video neutral and small noise, the fit finds B."""
    rng = np.random.default_rng(0)
    true = rng.normal(0, 0.05, (len(ARKIT_BLENDSHAPES), 478, 3))
    videos = []
    for k in range(3):
        w = rng.uniform(0, 1, (300, len(ARKIT_BLENDSHAPES)))
        faces = rng.normal(0, 1, (478, 3)) + np.tensordot(w, true, axes=([1], [0]))
        faces += rng.normal(0, 1e-3, faces.shape)
        videos.append(bf.TrackedVideo(f"v{k}", faces, w, len(w)))
    fitted = bf.fit_ridge(videos, lam=1e-3)
    np.testing.assert_allclose(fitted, true, atol=2e-3)
    held = bf.held_out_error(videos[0], bf.fit_ridge(videos[1:], lam=1e-3))
    assert held.basis < 0.05 * held.neutral


def test_mediapipe_scores_map_to_arkit_order() -> None:
    scores = np.arange(len(BLENDSHAPE_NAMES), dtype=np.float32) / 100
    arkit = arkit_from_mediapipe(scores)
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        expected = scores[BLENDSHAPE_NAMES.index(name)] if name in BLENDSHAPE_NAMES else 0.0
        assert arkit[i] == expected, name
    assert arkit[ARKIT_BLENDSHAPES.index("tongueOut")] == 0.0
    with pytest.raises(ValueError):
        arkit_from_mediapipe(np.zeros(51))


def test_save_is_deterministic_and_round_trips(basis: BlendshapeBasis, tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_basis(basis, a)
    save_basis(basis, b)
    assert a.read_bytes() == b.read_bytes()
    again = load_basis(a)
    np.testing.assert_array_equal(again.offsets, basis.offsets)
    assert again.metadata == basis.metadata
    with pytest.raises(BasisFileMissing, match="fit_blendshape_basis.py"):
        load_basis(tmp_path / "nope.npz")


def test_rig_zero_weights_give_the_neutral_exactly(basis: BlendshapeBasis, neutral: np.ndarray) -> None:
    rig = BlendshapeRig(basis, neutral)
    zero = np.zeros(len(ARKIT_BLENDSHAPES), np.float32)
    np.testing.assert_array_equal(rig.landmarks(zero), neutral)
    np.testing.assert_array_equal(rig.landmarks(zero, np.zeros(3, np.float32)), neutral)


def test_rig_expressions_move_the_right_parts(basis: BlendshapeBasis, neutral: np.ndarray) -> None:
    rig = BlendshapeRig(basis, neutral)
    face_height = float(np.ptp(neutral[list(topo.MP_FACE_OVAL), 1]))
    opened = rig.landmarks(_one_hot("jawOpen"))
    assert _mouth_gap(opened) > _mouth_gap(neutral) + 0.05 * face_height
    assert opened[topo.MP_CHIN_TIP, 1] > neutral[topo.MP_CHIN_TIP, 1] + 0.05 * face_height
    # eyeBlinkLeft is the subject's left eye (MediaPipe's left = the image's right).
    blink = rig.landmarks(_one_hot("eyeBlinkLeft"))
    left = (topo.MP_LEFT_LOWER_LID, topo.MP_LEFT_UPPER_LID)
    right = (topo.MP_RIGHT_LOWER_LID, topo.MP_RIGHT_UPPER_LID)
    assert _eye_gap(blink, *left) < 0.5 * _eye_gap(neutral, *left)
    assert _eye_gap(blink, *right) > 0.8 * _eye_gap(neutral, *right)
    # One-sided shapes are fitted one-sided: eyeBlinkLeft leaves the right eye alone.
    right_eye = list(topo.MP_RIGHT_EYE) + list(topo.MP_RIGHT_IRIS)
    assert not np.any(basis.offsets[ARKIT_BLENDSHAPES.index("eyeBlinkLeft")][right_eye])
    assert not np.any(basis.offsets[ARKIT_BLENDSHAPES.index("mouthSmileRight")][topo.MP_MOUTH_CORNERS[1]])
    smile = rig.landmarks(_one_hot("mouthSmileLeft") + _one_hot("mouthSmileRight"))
    corners = list(topo.MP_MOUTH_CORNERS)
    assert np.ptp(smile[corners, 0]) > np.ptp(neutral[corners, 0]) + 0.01 * face_height
    # tongueOut is not tracked by MediaPipe, so the basis has nothing for it.
    assert not np.any(basis.offsets[ARKIT_BLENDSHAPES.index("tongueOut")])


def test_rig_follows_the_characters_own_head_pose(basis: BlendshapeBasis, neutral: np.ndarray) -> None:
    """A character enrolled with its head turned gets the expression turned with it."""
    turn = HeadPose(yaw=0.35, pitch=0.1, roll=-0.15)
    turned = rotate_landmarks(neutral, turn)
    straight, rotated = BlendshapeRig(basis, neutral), BlendshapeRig(basis, turned)
    w = _one_hot("jawOpen", 0.8) + _one_hot("mouthSmileLeft", 0.5)
    expected = rotate_landmarks(straight.landmarks(w), turn, centre=straight.centre)
    np.testing.assert_allclose(rotated.landmarks(w), expected, atol=2e-4)


def test_rig_applies_the_head_rotation_about_the_face_centre(basis: BlendshapeBasis, neutral: np.ndarray) -> None:
    rig = BlendshapeRig(basis, neutral)
    w = _one_hot("jawOpen", 0.5)
    head = HeadPose(yaw=0.2, pitch=-0.1, roll=0.05)
    np.testing.assert_allclose(rig.landmarks(w, head.as_array()),
                               rotate_landmarks(rig.landmarks(w), head, centre=rig.centre), atol=1e-6)
    assert rig.landmarks(w, head.as_array())[topo.MP_NOSE_TIP, 0] < rig.landmarks(w)[topo.MP_NOSE_TIP, 0]
