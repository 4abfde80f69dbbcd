"""A frame in flight when its session binds another size or format never goes out in the
wrong shape: it is dropped as orphaned (the client asked for another output meanwhile).
(The live fuzz found the daemon dying here: the reply was encoded with the new binding's
size around the old frame's pixels.)"""

from __future__ import annotations

import numpy as np
import zmq

from facecast.protocol import Bind, Bound, Frame, Pose, Stats, decode, encode
from tests.integration.daemon_process import start_daemon


def test_a_frame_rendered_for_an_old_binding_never_goes_out_in_the_new_shape(default_store, tmp_path) -> None:
    daemon = start_daemon(tmp_path, default_store.root)
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(daemon.endpoint)
        sock.send(encode(Bind(character="default", width=1024, height=1024)))
        assert sock.poll(20_000)
        neutral = decode(sock.recv(), 64 << 20).neutral.astype(np.float32)
        frames: list[Frame] = []
        for i in range(5):  # the rebind lands while the 1024^2 render is under way
            sock.send(encode(Bind(character="default", width=1024, height=1024)))
            sock.send(encode(Pose(seq=i + 1, landmarks=neutral)))
            sock.send(encode(Bind(character="default", width=64, height=64, pixel_format="bgra8")))
            bounds = 0
            while bounds < 2 or sock.poll(300):  # both binds answered, and any frame
                assert sock.poll(20_000), "the daemon stopped answering"
                msg = decode(sock.recv(), 64 << 20)
                assert isinstance(msg, (Frame, Bound)), msg
                bounds += isinstance(msg, Bound)
                if isinstance(msg, Frame):
                    frames.append(msg)
        assert daemon.proc.poll() is None, daemon.log()[-3000:]
        for f in frames:  # any frame that did go out is whole and as its pose asked
            assert len(f.data) == f.width * f.height * 4
            assert (f.width, f.height, f.pixel_format) == (1024, 1024, "rgba8")
        sock.send(encode(Stats()))
        assert sock.poll(20_000)
        counters = decode(sock.recv(), 64 << 20).daemon["counters"]
        assert len(frames) + counters.get("frames_orphaned", 0) == 5
    finally:
        ctx.destroy(linger=0)
        assert daemon.stop() == 0, daemon.log()
