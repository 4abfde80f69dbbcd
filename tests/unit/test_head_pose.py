"""Head pose helpers: Euler <-> matrix <-> quaternion round trips, the sign convention of
docs/protocol.md, rotations on non-square images, and MediaPipe's transform on a real video."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facecast.core import topology as topo
from facecast.tracking.head_pose import (
    HeadPose,
    euler_from_matrix,
    euler_from_quaternion,
    face_centre,
    frontalize,
    head_pose_from_transform,
    quaternion_to_matrix,
    rotate_landmarks,
    rotation_from_transform,
    rotation_matrix,
)
from facecast.tracking.procedural import ExpressionRig

angle = st.floats(-np.pi + 1e-3, np.pi - 1e-3)
pitch_angle = st.floats(-np.pi / 2 + 1e-2, np.pi / 2 - 1e-2)


@pytest.fixture(scope="module")
def default_neutral(default_store) -> np.ndarray:
    """The built-in default character's neutral landmarks (a real face, 478 x 3)."""
    return np.array(default_store.load("default").neutral)


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


@settings(max_examples=200, deadline=None)
@given(yaw=angle, pitch=pitch_angle, roll=angle)
def test_euler_matrix_round_trip(yaw: float, pitch: float, roll: float) -> None:
    rot = rotation_matrix(yaw, pitch, roll)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    back = euler_from_matrix(rot)
    assert _wrap(back.yaw - yaw) == pytest.approx(0.0, abs=1e-9)
    assert back.pitch == pytest.approx(pitch, abs=1e-9)
    assert _wrap(back.roll - roll) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(back.matrix(), rot, atol=1e-12)


def test_gimbal_lock_still_gives_the_same_matrix() -> None:
    rot = rotation_matrix(0.4, np.pi / 2, 0.3)
    back = euler_from_matrix(rot)
    assert back.roll == 0.0
    np.testing.assert_allclose(back.matrix(), rot, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(yaw=angle, pitch=pitch_angle, roll=angle)
def test_quaternion_agrees_with_matrix(yaw: float, pitch: float, roll: float) -> None:
    # Quaternion of R_y(yaw) R_x(pitch) R_z(roll), built by quaternion products.
    def axis(ax: int, a: float) -> np.ndarray:
        q = np.zeros(4)
        q[ax], q[3] = np.sin(a / 2), np.cos(a / 2)
        return q

    def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        av, aw, bv, bw = a[:3], a[3], b[:3], b[3]
        return np.concatenate([aw * bv + bw * av + np.cross(av, bv), [aw * bw - av @ bv]])

    q = mul(mul(axis(1, yaw), axis(0, pitch)), axis(2, roll))
    np.testing.assert_allclose(quaternion_to_matrix(*(3.0 * q)), rotation_matrix(yaw, pitch, roll), atol=1e-12)
    np.testing.assert_allclose(euler_from_quaternion(*q).matrix(), rotation_matrix(yaw, pitch, roll), atol=1e-9)


def test_zero_quaternion_is_an_error() -> None:
    with pytest.raises(ValueError):
        quaternion_to_matrix(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        quaternion_to_matrix(float("nan"), 0.0, 0.0, 1.0)


def test_sign_convention_on_a_face(default_neutral: np.ndarray) -> None:
    """yaw > 0: the nose moves to the image's left; pitch > 0: down; roll > 0: the
    image-right eye goes down (docs/protocol.md, pose.head)."""
    c = face_centre(default_neutral)
    nose0 = default_neutral[topo.MP_NOSE_TIP]
    turned = rotate_landmarks(default_neutral, HeadPose(yaw=0.3))
    assert turned[topo.MP_NOSE_TIP, 0] < nose0[0] - 0.01
    tipped = rotate_landmarks(default_neutral, HeadPose(pitch=0.3))
    assert tipped[topo.MP_NOSE_TIP, 1] > nose0[1] + 0.01
    rolled = rotate_landmarks(default_neutral, HeadPose(roll=0.3))
    left_eye, right_eye = topo.MP_LEFT_EYE_CORNERS[0], topo.MP_RIGHT_EYE_CORNERS[0]
    assert rolled[left_eye, 1] - rolled[right_eye, 1] > default_neutral[left_eye, 1] - default_neutral[right_eye, 1] + 0.02
    # The centre stays put, and the rotation undoes.
    np.testing.assert_allclose(face_centre(turned), c, atol=1e-5)
    back = rotate_landmarks(turned, HeadPose(yaw=0.3).matrix().T, centre=c)
    np.testing.assert_allclose(back, default_neutral, atol=1e-5)


def test_rotation_on_a_non_square_image_keeps_distances(default_neutral: np.ndarray) -> None:
    size = (640, 360)
    scale = np.array([640, 360, 640], np.float32)
    pts = default_neutral.copy()
    rolled = rotate_landmarks(pts, HeadPose(roll=0.5, yaw=-0.2), size)
    d0 = np.linalg.norm((pts[:, None] - pts[None]) * scale, axis=-1)
    d1 = np.linalg.norm((rolled[:, None] - rolled[None]) * scale, axis=-1)
    np.testing.assert_allclose(d1, d0, atol=1e-2)
    # Without the aspect, the same rotation would shear the face.
    sheared = rotate_landmarks(pts, HeadPose(roll=0.5, yaw=-0.2))
    d2 = np.linalg.norm((sheared[:, None] - sheared[None]) * scale, axis=-1)
    assert np.abs(d2 - d0).max() > 5.0


def test_procedural_head_turn_is_recovered_from_a_synthetic_transform(default_neutral: np.ndarray) -> None:
    """A MediaPipe-style matrix (OpenGL axes) built from a pose gives that pose back, and
    frontalize undoes the rig's rotation."""
    pose = HeadPose(yaw=0.15, pitch=-0.1, roll=0.05)
    flip = np.diag([1.0, -1.0, -1.0])
    transform = np.eye(4)
    transform[:3, :3] = 1.7 * (flip @ pose.matrix() @ flip)  # a uniform scale is ignored
    transform[:3, 3] = (0.5, -2.0, -30.0)
    got = head_pose_from_transform(transform)
    assert (got.yaw, got.pitch, got.roll) == pytest.approx((pose.yaw, pose.pitch, pose.roll), abs=1e-9)
    np.testing.assert_allclose(rotation_from_transform(transform), pose.matrix(), atol=1e-12)
    rig = ExpressionRig(default_neutral)
    turned = rotate_landmarks(rig.pose(), pose)
    np.testing.assert_allclose(frontalize(turned, transform, (1, 1)), default_neutral, atol=1e-5)


def test_mediapipe_transform_on_a_real_video(model_dir: object, shared_videos: object) -> None:
    """On a real video with head turns, the transform's yaw follows the nose (it moves to
    the image's left as yaw grows) and frontalizing takes most of the roll out."""
    from facecast.capture.landmarks import LandmarkDetector

    yaw, nose_x, eye_roll, eye_roll_frontal = [], [], [], []
    with LandmarkDetector() as det:
        for sample in det.track_video(shared_videos / "d12.mp4", max_frames=90, progress=False):
            face = sample.face
            if face is None or face.transform is None:
                continue
            w, h = face.image_size
            px = face.points * np.array([w, h, w], np.float32)
            fr = frontalize(face.points, face.transform, face.image_size) * np.array([w, h, w], np.float32)
            yaw.append(head_pose_from_transform(face.transform).yaw)
            nose_x.append((px[topo.MP_NOSE_TIP, 0] - face_centre(px)[0]) / (px[454, 0] - px[234, 0]))
            left, right = topo.MP_LEFT_EYE_CORNERS[0], topo.MP_RIGHT_EYE_CORNERS[0]
            eye_roll.append(np.arctan2(px[left, 1] - px[right, 1], px[left, 0] - px[right, 0]))
            eye_roll_frontal.append(np.arctan2(fr[left, 1] - fr[right, 1], fr[left, 0] - fr[right, 0]))
    assert len(yaw) >= 80
    assert np.ptp(yaw) > np.deg2rad(10)  # the clip turns its head
    assert np.corrcoef(yaw, nose_x)[0, 1] < -0.8
    assert np.std(eye_roll_frontal) < 0.6 * np.std(eye_roll)
