"""Head pose: yaw/pitch/roll <-> rotation matrices, MediaPipe's facial transformation
matrix, and rotating landmarks about the face centre.

Convention (the one of ``pose.head`` in docs/protocol.md). Rotations act on landmark
coordinates as the protocol defines them: ``x`` right, ``y`` down, ``z`` away from the
viewer (nearer is negative), with x, y, z in the same unit (pixels, or x and z normalised
by the image width and y by its height once the aspect is taken out, see
``rotate_landmarks``). For angles in radians::

    R = R_y(yaw) @ R_x(pitch) @ R_z(roll)     # points: p' = R @ (p - centre) + centre

    R_y(a) = [[ cos a, 0, sin a], [0, 1, 0], [-sin a, 0, cos a]]
    R_x(a) = [[1, 0, 0], [0, cos a, -sin a], [0, sin a, cos a]]
    R_z(a) = [[cos a, -sin a, 0], [sin a, cos a, 0], [0, 0, 1]]

i.e. intrinsic yaw, then pitch, then roll. Seen on a face looking at the viewer:
yaw > 0 turns the face to its own right (the nose moves to the image's left),
pitch > 0 tips the nose down, roll > 0 tilts the head towards its own left shoulder (the
image-right side goes down). These are the numbers of Unity's ``Transform.localEulerAngles``
(y, x, z) for a head bone, and of a VMC / Unity quaternion converted with
``euler_from_quaternion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast.core import topology as topo

__all__ = [
    "HeadPose",
    "rotation_matrix",
    "euler_from_matrix",
    "quaternion_to_matrix",
    "euler_from_quaternion",
    "rotation_from_transform",
    "head_pose_from_transform",
    "face_centre",
    "rotate_landmarks",
    "frontalize",
]

# MediaPipe's geometry pipeline works in an OpenGL-style camera space (x right, y up,
# z towards the viewer); landmarks have y down and z away. Conjugating by this flip maps
# a rotation from one to the other.
_GL_TO_LANDMARKS = np.diag([1.0, -1.0, -1.0])
_GIMBAL_EPS = 1e-6


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in radians, in the convention of this module's docstring."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def matrix(self) -> np.ndarray:
        """3 x 3 float64 rotation matrix."""
        return rotation_matrix(self.yaw, self.pitch, self.roll)

    def as_array(self) -> np.ndarray:
        """(3,) float32 [yaw, pitch, roll]: the protocol's ``pose.head``."""
        return np.array([self.yaw, self.pitch, self.roll], dtype=np.float32)

    @classmethod
    def from_array(cls, ypr: np.ndarray | tuple[float, float, float]) -> HeadPose:
        yaw, pitch, roll = (float(v) for v in np.asarray(ypr, dtype=np.float64).reshape(3))
        return cls(yaw, pitch, roll)


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3 x 3 float64 ``R_y(yaw) @ R_x(pitch) @ R_z(roll)`` (angles in radians)."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return r_yaw @ r_pitch @ r_roll


def euler_from_matrix(rotation: np.ndarray) -> HeadPose:
    """Inverse of ``rotation_matrix`` (pitch in [-pi/2, pi/2], yaw and roll in (-pi, pi]).

    At gimbal lock (|pitch| = pi/2) roll is set to 0 and yaw carries the rest.
    """
    r = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    pitch = float(np.arcsin(np.clip(-r[1, 2], -1.0, 1.0)))
    if np.hypot(r[1, 0], r[1, 1]) < _GIMBAL_EPS:
        return HeadPose(float(np.arctan2(-r[2, 0], r[0, 0])), pitch, 0.0)
    yaw = float(np.arctan2(r[0, 2], r[2, 2]))
    roll = float(np.arctan2(r[1, 0], r[1, 1]))
    return HeadPose(yaw, pitch, roll)


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3 x 3 float64 rotation of a quaternion (x, y, z, w), normalised first.

    The same numbers as Unity's ``Matrix4x4.Rotate(q)`` (Unity's frame is left-handed, but
    a head's local frame maps onto landmark coordinates by negating all three axes, which
    leaves rotation matrices unchanged). Raises ValueError for a zero or non-finite one.
    """
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"not a rotation quaternion: {(x, y, z, w)}")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def euler_from_quaternion(x: float, y: float, z: float, w: float) -> HeadPose:
    """Yaw/pitch/roll of a Unity/VMC quaternion (x, y, z, w)."""
    return euler_from_matrix(quaternion_to_matrix(x, y, z, w))


def rotation_from_transform(transform: np.ndarray) -> np.ndarray:
    """3 x 3 head rotation in landmark coordinates from MediaPipe's 4 x 4 facial
    transformation matrix (canonical face -> camera, OpenGL axes; any uniform scale in it
    is removed by taking the nearest rotation)."""
    m = np.asarray(transform, dtype=np.float64).reshape(4, 4)[:3, :3]
    u, _s, vt = np.linalg.svd(m)
    rot = u @ vt
    if np.linalg.det(rot) < 0:  # a reflection: flip the weakest axis
        u[:, -1] = -u[:, -1]
        rot = u @ vt
    return _GL_TO_LANDMARKS @ rot @ _GL_TO_LANDMARKS


def head_pose_from_transform(transform: np.ndarray) -> HeadPose:
    """Yaw/pitch/roll of MediaPipe's facial transformation matrix."""
    return euler_from_matrix(rotation_from_transform(transform))


def face_centre(points: np.ndarray) -> np.ndarray:
    """(3,) mean of the face-oval points of 478 x 3 MediaPipe landmarks (in their units)."""
    return np.asarray(points, dtype=np.float64)[list(topo.MP_FACE_OVAL)].mean(axis=0)


def _axis_scale(image_size: tuple[int, int]) -> np.ndarray:
    w, h = image_size
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {image_size}")
    return np.array([w, h, w], dtype=np.float64)  # z is on the scale of x


def rotate_landmarks(
    points: np.ndarray,
    rotation: np.ndarray | HeadPose,
    image_size: tuple[int, int] = (1, 1),
    centre: np.ndarray | None = None,
) -> np.ndarray:
    """Rotate N x 3 normalised landmarks about the face centre; returns N x 3 float32.

    ``points`` are normalised to an image of ``image_size`` = (width, height): x by the
    width, y by the height, z on the scale of x. They are taken to pixels first so that a
    rotation is a rotation on a non-square image too, then back. ``rotation`` is a 3 x 3
    matrix or a ``HeadPose``; ``centre`` (normalised, (3,)) defaults to ``face_centre``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be N x 3, got {pts.shape}")
    rot = rotation.matrix() if isinstance(rotation, HeadPose) else np.asarray(rotation, np.float64)
    scale = _axis_scale(image_size)
    c = face_centre(pts) if centre is None else np.asarray(centre, dtype=np.float64).reshape(3)
    px = (pts - c) * scale  # (N, 3) pixels about the centre
    return ((px @ rot.T) / scale + c).astype(np.float32)


def frontalize(points: np.ndarray, transform: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Undo the head rotation of MediaPipe's facial transformation matrix: N x 3
    normalised landmarks rotated back to a frontal face about the face centre."""
    return rotate_landmarks(points, rotation_from_transform(transform).T, image_size)
