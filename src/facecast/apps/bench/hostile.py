"""`facecast bench hostile`: what one hostile message costs the daemon's I/O thread.

Decode: each payload of bombs.py through ``facecast.protocol.decode`` with the daemon's
``max_message_bytes`` and bounds (REQUEST_BOUNDS), then with the Python client's
(REPLY_BOUNDS, as a hostile daemon would meet them) — the median time of ``repeats``
decodes, the peak memory of one (tracemalloc), and what it ended in. Multipart (the daemon's own receive code on a ROUTER
socket set up like the daemon's): the memory libzmq holds for a message whose last part
has not arrived, and the time to take in and refuse a message of many empty parts.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import Any

import psutil
import zmq

from facecast.apps.bench.bombs import decode_bombs
from facecast.config import AppConfig
from facecast.protocol import REPLY_BOUNDS, REQUEST_BOUNDS, DecodeBounds, DecodeError, decode

MIB = 1 << 20


def _outcome(raw: bytes, max_bytes: int, bounds: DecodeBounds) -> str:
    try:
        msg = decode(raw, max_bytes, bounds)
    except DecodeError as err:
        return f"{err.code.name}: {err.detail[:70]}"
    except Exception as exc:  # noqa: BLE001 (what the bench is there to show)
        return f"CRASH {type(exc).__name__}: {str(exc)[:60]}"
    return f"accepted ({msg.TYPE})"


def bench_decode(max_bytes: int, bounds: DecodeBounds, repeats: int = 5) -> list[dict[str, Any]]:
    rows = []
    for name, raw in decode_bombs(max_bytes).items():
        times = []
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            outcome = _outcome(raw, max_bytes, bounds)
            times.append(time.perf_counter() - t0)
        gc.collect()
        tracemalloc.start()
        _outcome(raw, max_bytes, bounds)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append({"bomb": name, "bytes": len(raw), "decode_ms": statistics.median(times) * 1e3,
                     "max_ms": max(times) * 1e3, "peak_mib": peak / MIB, "outcome": outcome})
    return rows


def _settled_rss(proc: psutil.Process, timeout_s: float = 30.0) -> int:
    """RSS once it has not changed for a second."""
    last, still_since, deadline = proc.memory_info().rss, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        rss = proc.memory_info().rss
        if rss != last:
            last, still_since = rss, time.monotonic()
        elif time.monotonic() - still_since > 1.0:
            break
    return last


def bench_multipart(hard_max_bytes: int, pending_parts: int, many_parts: int) -> dict[str, Any]:
    from facecast.server.envelope import receive_request

    proc = psutil.Process()
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.MAXMSGSIZE, hard_max_bytes)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    try:
        part = bytes(hard_max_bytes)
        gc.collect()
        rss0 = _settled_rss(proc)
        for _ in range(pending_parts):
            dealer.send(part, zmq.SNDMORE)
        pending_rss = _settled_rss(proc)
        readable_before_last = bool(router.poll(0))
        dealer.send(b"x")
        assert router.poll(30000), "the multipart message never arrived"
        refused = receive_request(router)
        rss_after = _settled_rss(proc, 5.0)

        t0 = time.perf_counter()
        for _ in range(many_parts):
            dealer.send(b"", zmq.SNDMORE)
        dealer.send(b"x")
        send_s = time.perf_counter() - t0
        assert router.poll(60000), "the many-part message never arrived"
        t0 = time.perf_counter()
        many = receive_request(router)
        receive_s = time.perf_counter() - t0
    finally:
        dealer.close(0)
        router.close(0)
        ctx.term()
    return {
        "hard_max_message_bytes": hard_max_bytes,
        "pending_parts": pending_parts,
        "pending_mib": (pending_rss - rss0) / MIB,
        "readable_before_last_part": readable_before_last,
        "rss_after_refusal_mib": (rss_after - rss0) / MIB,
        "refusal": None if refused is None or refused.refusal is None else refused.refusal.detail,
        "many_parts": many_parts + 1,
        "many_send_s": send_s,
        "many_receive_s": receive_s,
        "many_refusal": None if many is None or many.refusal is None else many.refusal.detail,
    }


def run_hostile_bench(cfg: AppConfig, repeats: int, pending_parts: int, many_parts: int) -> dict[str, Any]:
    return {"decode": bench_decode(cfg.server.max_message_bytes, REQUEST_BOUNDS, repeats),
            "decode_client": bench_decode(cfg.server.max_message_bytes, REPLY_BOUNDS, repeats),
            "multipart": bench_multipart(cfg.server.hard_max_message_bytes, pending_parts, many_parts)}


def format_hostile(result: dict[str, Any]) -> str:
    lines = []
    for key, who in (("decode", "the daemon (REQUEST_BOUNDS)"), ("decode_client", "the client (REPLY_BOUNDS)")):
        lines.append(f"{'decode bomb, ' + who:46s} {'bytes':>9s} {'median ms':>10s} {'max ms':>8s} "
                     f"{'peak MiB':>9s}  outcome")
        for r in result[key]:
            lines.append(f"{r['bomb']:46s} {r['bytes']:9d} {r['decode_ms']:10.2f} {r['max_ms']:8.2f} "
                         f"{r['peak_mib']:9.1f}  {r['outcome']}")
        worst = max(result[key], key=lambda r: r["decode_ms"])
        lines += [f"worst for {who}: {worst['bomb']}, {worst['decode_ms']:.2f} ms (median)", ""]
    m = result["multipart"]
    lines += [
        f"multipart, ZMQ_MAXMSGSIZE {m['hard_max_message_bytes'] / MIB:.0f} MiB per part:",
        f"  {m['pending_parts']} full parts, last part not sent: libzmq holds {m['pending_mib']:.0f} MiB "
        f"(readable: {m['readable_before_last_part']}); after the refusal {m['rss_after_refusal_mib']:.0f} MiB",
        f"  {m['many_parts']} empty parts: {m['many_send_s']:.2f} s to send, {m['many_receive_s']:.2f} s "
        f"for the I/O thread to take in and refuse ({m['many_receive_s'] / m['many_parts'] * 1e6:.2f} us a part)",
    ]
    return "\n".join(lines)
