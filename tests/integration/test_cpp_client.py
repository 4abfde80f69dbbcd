"""The C++ client library (native_client/, facecast-cpp) built with CMake and g++ and run:
every golden protocol fixture, its own decode bounds and encoding rules, the ring layout
and ARKit names checked against the Python definitions, then against the real daemon
(error codes, frames inline and through the ring equal, blendshapes by ARKit name, a
receive-thread Session) and across a daemon restart.

Needs cmake, a C++17 compiler, cppzmq and msgpack-cxx (Debian: cmake, g++, cppzmq-dev,
libmsgpack-cxx-dev; scripts/system_deps.sh installs them); skips, saying which is missing,
where they are not installed. CI installs them, so it always runs there.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import msgpack
import numpy as np
import pytest

from facecast.client import Client
from facecast.protocol import ARKIT_BLENDSHAPES
from facecast.protocol.shm_layout import RingLayout
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native_client"
FIXTURES = ROOT / "tests" / "fixtures" / "protocol"
log = logging.getLogger(__name__)
HEADERS = {"zmq.hpp": "cppzmq-dev", "msgpack.hpp": "libmsgpack-cxx-dev"}


def _missing_tools() -> str | None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH (apt-get install cmake g++)"
    for header, package in HEADERS.items():
        if not any((Path(d) / header).exists() for d in ("/usr/include", "/usr/local/include")):
            return f"{header} not found (apt-get install {package})"
    return None


# slow: the CMake build of the library and its tests takes 30-60 s on CI's 2 cores (once per module)
pytestmark = [pytest.mark.skipif(_missing_tools() is not None, reason=_missing_tools() or ""), pytest.mark.slow]

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


@pytest.fixture(scope="module")
def cpp_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("cpp-client-build")
    # no build type: no optimisation and no debug info, the quickest build on CI's 2 cores
    for cmd in (["cmake", "-S", str(NATIVE), "-B", str(build)],
                ["cmake", "--build", str(build), "-j2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return build / "facecast_cpp_tests"


def _run(exe: Path, *args: str, timeout: float = 300) -> tuple[str, int]:
    proc = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)
    found = SUMMARY.findall(proc.stdout)
    assert found, f"no summary line (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    passed, failed = map(int, found[-1])
    assert proc.returncode == 0 and failed == 0, proc.stdout + proc.stderr
    return proc.stdout, passed


def test_cpp_codec_decodes_every_golden_fixture(cpp_tests: Path, tmp_path: Path):
    index = json.loads((FIXTURES / "index.json").read_text())
    packed = tmp_path / "index.msgpack"  # the C++ test reads the index as msgpack (no JSON parser needed)
    packed.write_bytes(msgpack.packb(index, use_bin_type=True))
    out, passed = _run(cpp_tests, "fixtures", str(FIXTURES), str(packed))
    assert f"{len(index['valid'])} valid and {len(index['invalid'])} invalid fixtures" in out
    # each valid fixture: type, byte-exact re-encoding, every field/array/absent entry; each invalid: code, name, seq, ref
    assert passed >= 2 * len(index["valid"]) + 4 * len(index["invalid"]) + len(index["error_codes"])


def test_cpp_bounds_encoding_names_and_head_mapping(cpp_tests: Path):
    _run(cpp_tests, "unit")


@pytest.mark.parametrize("width,height,fmt,slots", [(256, 256, "rgba8", 3), (200, 160, "rgb8", 2), (17, 33, "bgra8", 16)])
def test_cpp_ring_layout_is_shm_layout(cpp_tests: Path, width: int, height: int, fmt: str, slots: int):
    out = subprocess.run([str(cpp_tests), "layout", str(width), str(height), fmt, str(slots)],
                         capture_output=True, text=True, timeout=30, check=True).stdout.split()
    lay = RingLayout(width, height, fmt, slots)
    assert list(map(int, out)) == [lay.data_offset, lay.stride, lay.slot_bytes, lay.total_bytes,
                                   lay.slot_entry_offset(1), lay.pixels_offset(1)]


def test_cpp_arkit_names_are_the_protocols(cpp_tests: Path):
    out = subprocess.run([str(cpp_tests), "arkit"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert tuple(out.split()) == tuple(ARKIT_BLENDSHAPES)


def test_cpp_client_against_the_daemon(cpp_tests: Path, default_daemon, tmp_path: Path):
    with Client(default_daemon.endpoint) as client:
        neutral = client.bind("default").neutral
    track = procedural_performance(neutral, seconds=2.0, fps=25.0).astype("<f4")  # T x 478 x 3
    assert track.shape == (50, 478, 3) and np.isfinite(track).all()
    track_path = tmp_path / "track.f32"
    track_path.write_bytes(np.ascontiguousarray(track).tobytes())
    out, passed = _run(cpp_tests, "daemon", default_daemon.endpoint, "default", str(track_path))
    assert passed >= 90, out
    log.info("%s", next(line for line in out.splitlines() if line.startswith("jawOpen changed")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("output", ["inline", "shm"])
def test_cpp_session_survives_a_daemon_restart(cpp_tests: Path, default_store, tmp_path: Path, output: str):
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    first = start_daemon(tmp_path, default_store.root, bind=endpoint)
    second = None
    proc = subprocess.Popen([str(cpp_tests), "restart", endpoint, "default", output],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "phase1":
                break
        assert lines and lines[-1].strip() == "phase1", "".join(lines)
        first.proc.send_signal(signal.SIGKILL)  # a crash: no goodbye to anyone
        first.proc.wait()
        second = start_daemon(tmp_path, default_store.root, bind=endpoint)
        out, _ = proc.communicate("restarted\n", timeout=180)
        out = "".join(lines) + out
        found = SUMMARY.findall(out)
        assert found and found[-1][1] == "0" and proc.returncode == 0, out
        assert re.search(r"^rebinds [1-9]", out, re.MULTILINE), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if second is not None:
            assert second.stop() == 0, second.log()


def test_cpp_client_survives_hostile_replies(cpp_tests: Path):
    """A stand-in daemon (a real ROUTER socket) answers with a reply nested 40 deep, then one
    of 18 MiB, then a real pong: the client refuses the first before building it, libzmq
    drops the second (ZMQ_MAXMSGSIZE) and with it the connection, which libzmq does not
    reopen, so the client opens a fresh socket and goes on to read the third."""
    import threading

    import zmq

    from facecast.protocol import Pong, encode

    deep = b"\x81\xa1x" + b"\x91" * 40 + b"\xc0"  # {"x": [[[...nil...]]]}
    huge = b"\x81\xa1x\xc6" + (18 << 20).to_bytes(4, "big") + bytes(18 << 20)
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    stop = threading.Event()
    answered: list[int] = []

    def serve() -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        while not stop.is_set():
            if not poller.poll(50):
                continue
            ident, _payload = router.recv_multipart()
            n = len(answered)
            reply = deep if n == 0 else huge if n == 1 else encode(Pong(t_send=0.0, t_server=1.0, seq=n))
            answered.append(n)
            router.send_multipart([ident, reply])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        _run(cpp_tests, "hostile", f"tcp://127.0.0.1:{port}", timeout=120)
    finally:
        stop.set()
        t.join(5)
        router.close()
        ctx.term()
    assert len(answered) >= 3
