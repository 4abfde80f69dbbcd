"""MediaPipe over frame streams: detection rate on every shared video (VIDEO mode), the
LIVE_STREAM mode fed in real time, and what each face carries."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.capture.camera import open_source
from facecast.capture.live import StreamLandmarker, detections
from facecast.tracking.face import BLENDSHAPE_NAMES
from facecast.tracking.head_pose import head_pose_from_transform

FRAMES_PER_VIDEO = 60  # the first 2-2.4 s of each video keeps the test short on 2 CPU cores


def test_a_face_is_found_in_at_least_95_percent_of_frames(shared_videos, model_dir):
    found, total, per_video = 0, 0, {}
    for video in sorted(shared_videos.glob("d*.mp4")):
        with open_source(video=video, max_frames=FRAMES_PER_VIDEO) as src, StreamLandmarker("video") as lm:
            dets = list(detections(src, lm))
        hits = sum(d.face is not None for d in dets)
        per_video[video.name] = hits / len(dets)
        found, total = found + hits, total + len(dets)
        assert [d.frame.index for d in dets] == list(range(len(dets)))  # every frame, in order
    assert len(per_video) >= 7 and total == len(per_video) * FRAMES_PER_VIDEO
    assert found / total >= 0.95, per_video
    assert min(per_video.values()) >= 0.9, per_video


def test_faces_carry_landmarks_blendshapes_and_head_pose(shared_videos, model_dir):
    with open_source(video=shared_videos / "d11.mp4", max_frames=60) as src, StreamLandmarker("video") as lm:
        faces = [d.face for d in detections(src, lm)]
    assert all(f is not None for f in faces)
    f = faces[0]
    assert f.points.shape == (478, 3) and f.blendshapes.shape == (len(BLENDSHAPE_NAMES),) == (52,)
    assert f.transform is not None and f.transform.shape == (4, 4)
    jaw = [x.blendshapes[BLENDSHAPE_NAMES.index("jawOpen")] for x in faces]
    assert max(jaw) - min(jaw) > 0.1  # d11 talks
    yaw_pitch = np.array([head_pose_from_transform(x.transform).as_array()[:2] for x in faces])
    assert np.ptp(yaw_pitch, axis=0).max() > np.deg2rad(5)  # and moves its head
    with open_source(video=shared_videos / "d11.mp4", max_frames=10) as src, \
            StreamLandmarker("video", blendshapes=False) as lm:
        plain = [d.face for d in detections(src, lm)]
    assert all(x is not None and not x.blendshapes.any() for x in plain)
    np.testing.assert_allclose(plain[0].points, faces[0].points, atol=1e-6)  # same landmark model


def test_live_stream_mode_keeps_up_with_a_real_time_source(shared_videos, model_dir):
    """LIVE_STREAM mode fed at the video's own rate (as a camera would): results come back
    for the frames MediaPipe took, in order, each after its capture; busy frames are dropped."""
    with open_source(video=shared_videos / "d0.mp4", realtime=True) as src, StreamLandmarker("live") as lm:
        dets = list(detections(src, lm))
        skipped, submitted = lm.skipped, lm.submitted
    assert submitted == 78 and len(dets) + skipped >= 75
    assert len(dets) >= 0.5 * submitted
    indices = [d.frame.index for d in dets]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert sum(d.face is not None for d in dets) >= 0.95 * len(dets)
    assert all(d.t_landmarks >= d.t_submit >= d.frame.wall for d in dets)


def test_modes_are_checked(model_dir):
    with pytest.raises(ValueError, match="mode"):
        StreamLandmarker("image")
    with StreamLandmarker("video") as lm:
        with pytest.raises(RuntimeError, match="VIDEO mode"):
            lm.submit(None)  # type: ignore[arg-type]
