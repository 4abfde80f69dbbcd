"""Python client for the facecast daemon.

    from facecast.client import Client
    with Client("tcp://127.0.0.1:5555") as c:
        bound = c.bind("default", width=256, height=256)
        frame = c.render(bound.neutral)            # one pose, wait for its frame
        print(frame.image.shape, frame.latency_ms)

For throughput, pipeline: ``send_pose`` returns at once with the pose's seq; ``recv_frame``
returns frames as they come. The daemon is latest-wins: a frame for seq N means every
earlier pose still outstanding was superseded (dropped) and will get no frame.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import zmq

from facecast import __version__
from facecast.transport.curve import secure_client
from facecast.protocol.shm_layout import DEFAULT_SLOTS
from facecast.client.ring_reader import RingReader, RingReadError
from facecast.protocol import MAX_AUDIO_CHUNK_BYTES, Audio, Npc, NpcState, Bind, Bound, Bye, CharacterList, Characters, Error, ErrorCode, Frame, Hello, MAX_REPLY_BYTES, Message, Ping, Pong, Pose, REPLY_BOUNDS, Stats, StatsReport, Welcome, decode, encode
from facecast.core.pixels import decode_pixels

log = logging.getLogger(__name__)


class FacecastError(RuntimeError):
    """The daemon answered with an error reply."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.name} ({error.code}): {error.message}")
        self.code = error.code
        self.name = error.name
        self.seq = error.seq
        self.ref = error.ref


class ClientTimeout(TimeoutError):
    """No reply within the client's timeout (is the daemon running at that endpoint?)."""


@dataclass
class ReceivedFrame:
    seq: int
    image: np.ndarray  # H x W x C uint8, channels as the bound pixel format (jpeg -> RGB); a copy for shm
    message: Frame
    received: float  # client clock when it arrived

    @property
    def latency_ms(self) -> float:
        """Client send -> client receive (the full round trip)."""
        return (self.received - self.message.timings.get("client_send", self.received)) * 1000.0


class Client:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", timeout_s: float = 10.0,
                 name: str = f"facecast-python/{__version__}", context: zmq.Context | None = None,
                 auto_rebind: bool = True, retry_s: float = 1.0,
                 curve_server_key: str | None = None, curve_client_secret: str | None = None) -> None:
        """``curve_server_key``: the daemon's public ``.key`` file, and
        ``curve_client_secret``: this client's ``.key_secret`` (allow-listed by the daemon),
        for a daemon with CurveZMQ on."""
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.retry_s = retry_s  # render(): resend a pose that got no reply within this
        self.auto_rebind = auto_rebind  # bind again when a restarted daemon forgot us
        self.rebinds = 0
        self.poses_dropped = 0  # poses not queued because the daemon was not reading (send_pose never blocks)
        self._next_drop_warning = 0.0
        self._bind_args: dict[str, Any] | None = None
        self._rebound_at_seq = -1
        self.name = name
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 1000)
        self._sock.setsockopt(zmq.SNDHWM, 1000)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)  # a larger reply drops the connection
        if curve_server_key or curve_client_secret:
            if not (curve_server_key and curve_client_secret):
                raise ValueError("CurveZMQ needs both the daemon's public key and this client's secret key")
            secure_client(self._sock, curve_server_key, curve_client_secret)
        self._sock.connect(endpoint)
        self._seq = 0
        self._inbox: collections.deque[Message] = collections.deque()
        self.binding: Bound | None = None
        self.welcome: Welcome | None = None
        self.ring: RingReader | None = None  # opened by bind(output="shm")

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Close the connection; a bound session is ended with a best-effort `bye`, so
        the daemon frees it (and its ring) at once instead of after its idle timeout."""
        self._close_ring()
        if self._sock.closed:
            return
        linger = 0
        if self.binding is not None:
            try:
                self._sock.send(encode(Bye()), zmq.NOBLOCK)
                linger = 200
            except zmq.ZMQError:
                pass
        self._sock.close(linger=linger)

    def _close_ring(self) -> None:
        if self.ring is not None:
            self.ring.close()
            self.ring = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def send(self, message: Message) -> None:
        """Send a request, waiting at most ``timeout_s`` for room in the send queue (it is
        full while the daemon is unreachable); raises ClientTimeout after that."""
        payload = encode(message)
        try:
            self._sock.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            if not self._sock.poll(int(self.timeout_s * 1000), zmq.POLLOUT):
                raise ClientTimeout(f"cannot send {message.TYPE} to {self.endpoint} within {self.timeout_s:.1f} s: "
                                    "the daemon is not reading (down or overloaded)") from None
            self._sock.send(payload, zmq.NOBLOCK)

    def _send_pose_message(self, pose: Pose) -> None:
        """Queue a pose without ever blocking: when the send queue is full (the daemon is
        down or not reading), the pose is dropped and counted in ``poses_dropped`` — a newer
        pose supersedes it anyway (latest-wins)."""
        try:
            self._sock.send(encode(pose), zmq.NOBLOCK)
        except zmq.Again:
            self.poses_dropped += 1
            now = time.monotonic()
            if now >= self._next_drop_warning:
                self._next_drop_warning = now + 5.0
                log.warning("the daemon at %s is not reading; %d pose(s) dropped so far", self.endpoint,
                            self.poses_dropped)

    def send_raw(self, payload: bytes) -> None:
        """Send bytes as they are (for tests of the daemon's input checks)."""
        self._sock.send(payload)

    def recv(self, timeout_s: float | None = None) -> Message:
        """The next message from the daemon (buffered ones first)."""
        if self._inbox:
            return self._inbox.popleft()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        if not self._sock.poll(int(timeout * 1000)):
            raise ClientTimeout(f"no reply from {self.endpoint} within {timeout:.1f} s")
        return decode(self._sock.recv(), MAX_REPLY_BYTES, REPLY_BOUNDS)

    def _request(self, message: Message, reply_type: type[Message]) -> Any:
        self.send(message)
        deadline = time.monotonic() + self.timeout_s
        skipped: list[Message] = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClientTimeout(f"no {reply_type.TYPE} from {self.endpoint} within {self.timeout_s:.1f} s")
                reply = self._recv_socket(remaining)
                if isinstance(reply, reply_type):
                    return reply
                if isinstance(reply, Error) and (reply.ref == message.TYPE or reply.code == ErrorCode.KEY_REVOKED):
                    raise FacecastError(reply)  # (KEY_REVOKED: the daemon refuses every message now)
                skipped.append(reply)  # a frame or error for a pose in flight: keep it
        finally:
            self._inbox.extend(skipped)

    def _recv_socket(self, timeout_s: float) -> Message:
        if not self._sock.poll(int(timeout_s * 1000)):
            raise ClientTimeout(f"no reply from {self.endpoint} within {timeout_s:.1f} s")
        return decode(self._sock.recv(), MAX_REPLY_BYTES, REPLY_BOUNDS)

    # ------------------------------------------------------------ requests
    def hello(self) -> Welcome:
        self.welcome = self._request(Hello(client=self.name), Welcome)
        return self.welcome

    def bind(self, character: str = "default", width: int = 256, height: int = 256,
             pixel_format: str = "rgba8", output: str = "inline", jpeg_quality: int = 90,
             slots: int = DEFAULT_SLOTS) -> Bound:
        """Bind a character. With ``output="shm"`` frames travel through a shared-memory
        ring that this client opens (``self.ring``); ``recv_frame`` reads them from it."""
        self._close_ring()
        self._bind_args = dict(character=character, width=width, height=height, pixel_format=pixel_format,
                               output=output, jpeg_quality=jpeg_quality, slots=slots)
        self.binding = self._request(Bind(character=character, width=width, height=height,
                                          pixel_format=pixel_format, output=output,
                                          jpeg_quality=jpeg_quality, slots=slots), Bound)
        if self.binding.shm is not None:
            self.ring = RingReader(self.binding.shm["name"])
        return self.binding

    def npc(self, emotion: str = "neutral", seed: int = 0, fps: int = 30, stop: bool = False) -> NpcState:
        """Make the bound session an NPC (docs/npc.md): the daemon generates its poses — idle
        life, ``emotion``, lip flap from ``send_audio`` — and sends a frame every 1/fps s;
        ``recv_frame`` receives them. Again with another emotion: eases to it; ``stop``: ends it."""
        return self._request(Npc(emotion=emotion, seed=seed, fps=fps, stop=stop), NpcState)

    def send_audio(self, pcm: np.ndarray, rate: int, line: int = 0) -> None:
        """Stream an NPC's dialogue: int16 mono samples at ``rate`` Hz, split into messages
        of at most MAX_AUDIO_CHUNK_BYTES. A new ``line`` number starts a new line (what is
        left of the previous one is dropped). Send it as it plays, or a whole line (up to
        ``[npc] max_audio_buffer_s``) when it starts playing."""
        data = np.ascontiguousarray(pcm, dtype="<i2").tobytes()
        for at in range(0, len(data), MAX_AUDIO_CHUNK_BYTES):
            self.send(Audio(rate=rate, pcm=data[at:at + MAX_AUDIO_CHUNK_BYTES], line=line))

    def ping(self) -> Pong:
        return self._request(Ping(t_send=time.time()), Pong)

    def stats(self) -> StatsReport:
        return self._request(Stats(), StatsReport)

    def characters(self) -> list[str]:
        return self._request(Characters(), CharacterList).characters

    def bye(self) -> None:
        from facecast.protocol import Goodbye

        self._request(Bye(), Goodbye)
        self._bind_args = None  # an ended session is not re-bound automatically
        self._close_ring()

    # ------------------------------------------------------------ poses and frames
    def _next_seq(self, seq: int | None) -> int:
        if seq is None:
            seq = self._seq + 1
        self._seq = max(self._seq, seq)
        return seq

    def send_pose(self, landmarks: np.ndarray, landmark_format: str = "mediapipe478", seq: int | None = None,
                  tracking: str | None = None) -> int:
        """Send one pose without waiting; returns its seq. Never blocks: while the daemon is
        not reading, poses are dropped and counted in ``poses_dropped``. ``tracking``: a
        tracker's state for it (``facecast.protocol.TRACKING_STATES``), optional."""
        seq = self._next_seq(seq)
        self._send_pose_message(Pose(seq=seq, t_send=time.time(), landmarks=np.asarray(landmarks, np.float32),
                                     landmark_format=landmark_format, tracking=tracking))
        return seq

    def send_blendshapes(self, weights: np.ndarray, head: np.ndarray | None = None, seq: int | None = None,
                         tracking: str | None = None) -> int:
        """Send one blendshape pose without waiting: 52 ARKit weights in [0, 1]
        (``facecast.protocol.ARKIT_BLENDSHAPES`` order) and optionally the head's yaw,
        pitch, roll in radians (docs/protocol.md); returns its seq."""
        seq = self._next_seq(seq)
        self._send_pose_message(Pose(seq=seq, t_send=time.time(), blendshapes=np.asarray(weights, np.float32),
                                     head=None if head is None else np.asarray(head, np.float32),
                                     tracking=tracking))
        return seq

    def recv_frame(self, timeout_s: float | None = None) -> ReceivedFrame:
        """The next frame. An error reply raises FacecastError, except NOT_BOUND after the
        daemon lost this session (it restarted): then the client binds again with the same
        arguments (``auto_rebind``) and goes on waiting. Other messages are skipped."""
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if isinstance(msg, Frame):
                return self._received(msg)
            if isinstance(msg, Error):
                if not self._handle_lost_session(msg):
                    raise FacecastError(msg)
                continue
            log.debug("skipping %s while waiting for a frame", msg.TYPE)

    def render(self, landmarks: np.ndarray, landmark_format: str = "mediapipe478") -> ReceivedFrame:
        """Send one pose and wait for its frame. If no reply comes within ``retry_s`` (the
        daemon may have restarted and lost it), the pose is sent again, until ``timeout_s``
        has passed; the frame of any of these copies is returned (its ``seq`` is that
        copy's)."""
        return self._render_with(lambda: self.send_pose(landmarks, landmark_format))

    def render_blendshapes(self, weights: np.ndarray, head: np.ndarray | None = None) -> ReceivedFrame:
        """``render`` for a blendshape pose (see ``send_blendshapes``)."""
        return self._render_with(lambda: self.send_blendshapes(weights, head))

    def _render_with(self, send_pose: Callable[[], int]) -> ReceivedFrame:
        """Send, and re-send every ``retry_s`` without a reply; the frame of *any* of this
        call's copies is the answer (they are the same pose: when renders take longer than
        ``retry_s`` the daemon renders an older copy while newer ones wait), so a slow
        daemon slows the call down but never livelocks it."""
        deadline = time.monotonic() + self.timeout_s
        first = send_pose()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientTimeout(f"no frame from {self.endpoint} within {self.timeout_s:.1f} s")
            try:
                msg = self.recv(min(self.retry_s, remaining))
            except ClientTimeout:
                send_pose()
                continue
            if isinstance(msg, Frame):
                frame = self._received(msg)
                if msg.seq >= first:
                    return frame
            elif isinstance(msg, Error):
                if self._handle_lost_session(msg):
                    send_pose()
                elif (msg.seq is not None and msg.seq >= first) or msg.ref != "pose":
                    raise FacecastError(msg)

    def _received(self, msg: Frame) -> ReceivedFrame:
        if msg.slot is not None:
            if self.ring is None:
                raise RingReadError("a shared-memory frame arrived but no ring is open (bind with output='shm')")
            image = self.ring.read(msg.slot, msg.slot_seq).image
        else:
            image = decode_pixels(msg.data, msg.pixel_format, msg.width, msg.height)
        return ReceivedFrame(seq=msg.seq, image=image, message=msg, received=time.time())

    def _handle_lost_session(self, error: Error) -> bool:
        """True when ``error`` says the daemon no longer knows our binding and it was dealt
        with: bound again (once per loss; errors for poses sent before are ignored)."""
        if error.code != ErrorCode.NOT_BOUND or not self.auto_rebind or self._bind_args is None:
            return False
        if error.seq is not None and error.seq <= self._rebound_at_seq:
            return True  # another pose sent before we re-bound: already handled
        log.warning("the daemon at %s lost this session (restarted?); binding %r again",
                    self.endpoint, self._bind_args["character"])
        self._rebound_at_seq = self._seq
        self.hello()
        self.bind(**self._bind_args)
        self.rebinds += 1
        return True
