"""Which ``Host`` and ``Origin`` headers the sinks' loopback servers (overlay, mjpeg) answer.

Listening on loopback keeps other machines out, not other web pages: any page open in a
browser on this machine can send requests to 127.0.0.1. Two checks keep those out:

- ``Host`` must name this server (``localhost``, ``127.0.0.1``, ``[::1]`` or the bound
  address, with or without the server's port). A DNS-rebinding page (its name first resolved
  to its own server, then to 127.0.0.1) makes the browser treat our answers as its own
  origin; its requests still carry its own name as Host, so they get 421.
- ``Origin``, when a request has one, must be a page this server serves
  (``http://<one of those names>:<port>``). A hostile page opening ``ws://127.0.0.1:8770/ws``
  sends its own origin, a sandboxed or ``file://`` page ``null``: both get 403. Requests
  without an Origin (OBS's Media Source, ffmpeg, curl, a page's own ``<img>``) are judged by
  Host alone: a browser always sends Origin where it matters, on a WebSocket upgrade.

The ``sinks.allowed_hosts`` knob adds names and origins (see ``RequestGuard``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterable

from facecast.core.throttled_log import ThrottledLog

log = logging.getLogger(__name__)

ALLOWED_HOSTS_KNOB = "sinks.allowed_hosts"  # the config knob (facecast.config.SinksConfig) that allows more
MISDIRECTED = 421  # HTTP status for a Host that names another server
FORBIDDEN = 403  # HTTP status for a foreign Origin
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
LOG_EVERY_S = 10.0  # refusals are logged at WARNING at most this often (a hostile page may send thousands)
_SHOWN_CHARS = 80  # a header value quoted in a refusal is cut to this many characters


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: its status and a one-line plain-text body."""

    status: int  # MISDIRECTED or FORBIDDEN
    header: str  # "Host" or "Origin"
    body: str


def refusal_stats(guard: "RequestGuard | None") -> dict[str, int]:
    """The refusal counters for a sink's stats; zeros before its server has started."""
    return guard.stats() if guard is not None else {"refused_host": 0, "refused_origin": 0}


def _bracketed(host: str) -> str:
    """An IPv6 literal as it appears in a Host header or URL: ``[::1]``."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _has_port(entry: str) -> bool:
    """``NAME:P`` or ``[V6]:P``; a bare IPv6 literal (``fe80::1``) has none."""
    return "]:" in entry if entry.startswith("[") else entry.count(":") == 1


def _shown(value: str | None) -> str:
    if value is None:
        return "none"
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "...")


class RequestGuard:
    """Decides from a request's Host and Origin headers whether to serve it, and counts refusals.

    ``label``: the sink, for log lines. ``bound_host``/``port``: the address the server
    listens on. ``extra``: the values of ``sinks.allowed_hosts``, each one of

    - ``NAME`` (e.g. ``studio.lan``): Host ``NAME`` or ``NAME:PORT``, Origin ``http://NAME:PORT``;
    - ``NAME:P``: Host ``NAME:P``, Origins ``http://NAME:P`` and ``https://NAME:P`` (a proxy);
    - an origin ``SCHEME://NAME[:P]`` or ``null``: that Origin (a page served elsewhere).

    Thread-safe: the counters are updated under a lock.
    """

    def __init__(self, label: str, bound_host: str, port: int, extra: Iterable[str] = ()) -> None:
        self.label = label
        self.port = port
        self.server = f"{_bracketed(bound_host)}:{port}"
        names = {name.lower() for name in (*LOOPBACK_NAMES, _bracketed(bound_host))}
        self._hosts: set[str] = set()
        self._origins: set[str] = set()
        for raw in extra:
            entry = raw.strip().lower().rstrip("/")
            if not entry:
                continue
            if entry == "null" or "://" in entry:
                self._origins.add(entry)
            elif _has_port(entry):
                self._hosts.add(entry)
                self._origins.update((f"http://{entry}", f"https://{entry}"))
            else:
                names.add(_bracketed(entry))
        for name in names:
            self._hosts.update((name, f"{name}:{port}"))
            self._origins.add(f"http://{name}:{port}")
        self._lock = threading.Lock()
        self.refused_host = 0
        self.refused_origin = 0
        self._log = ThrottledLog(log, LOG_EVERY_S)

    def check(self, hosts: list[str], origins: list[str]) -> Refusal | None:
        """None to serve the request, else the refusal to answer (and count). ``hosts`` and
        ``origins``: every value of those headers (a request must have exactly one Host and
        at most one Origin)."""
        host = hosts[0] if len(hosts) == 1 else None
        if host is None or host.strip().lower() not in self._hosts:
            shown = _shown(host) if len(hosts) <= 1 else f"{len(hosts)} Host headers"
            return self._refuse(Refusal(
                MISDIRECTED, "Host",
                f"misdirected request: Host {shown} does not name this server ({self.server}); "
                f"to reach it under another name, add the name to {ALLOWED_HOSTS_KNOB} "
                f"(--set {ALLOWED_HOSTS_KNOB}=NAME)\n"))
        if origins:
            origin = origins[0] if len(origins) == 1 else None
            if origin is None or origin.strip().lower().rstrip("/") not in self._origins:
                shown = _shown(origin) if origin is not None else f"{len(origins)} Origin headers"
                return self._refuse(Refusal(
                    FORBIDDEN, "Origin",
                    f"forbidden: Origin {shown} is not a page of this server (http://{self.server}); "
                    f"to let another page use it, add its origin to {ALLOWED_HOSTS_KNOB} "
                    f"(--set {ALLOWED_HOSTS_KNOB}=http://NAME:PORT)\n"))
        return None

    def stats(self) -> dict[str, int]:
        return {"refused_host": self.refused_host, "refused_origin": self.refused_origin}

    def _refuse(self, refusal: Refusal) -> Refusal:
        with self._lock:
            if refusal.header == "Host":
                self.refused_host += 1
            else:
                self.refused_origin += 1
        self._log.warning("%s at %s answered %d: %s", self.label, self.server, refusal.status, refusal.body.strip())
        return refusal
