"""RequestGuard: which Host and Origin headers the overlay and mjpeg servers answer."""

from __future__ import annotations

import logging

import pytest

from facecast.config import AppConfig, with_overrides
from facecast.sinks.host_guard import ALLOWED_HOSTS_KNOB, FORBIDDEN, MISDIRECTED, RequestGuard


def test_the_knob_named_in_refusals_exists():
    section, key = ALLOWED_HOSTS_KNOB.split(".")
    cfg = with_overrides(AppConfig(), {section: {key: "a.lan,http://b.lan:1"}})
    assert getattr(getattr(cfg, section), key) == ("a.lan", "http://b.lan:1")


def test_loopback_names_and_the_bound_address_with_or_without_the_port(caplog: pytest.LogCaptureFixture):
    guard = RequestGuard("test", "127.0.0.2", 8770)
    for name in ("localhost", "127.0.0.1", "[::1]", "127.0.0.2", "LocalHost"):
        for host in (name, f"{name}:8770"):
            assert guard.check([host], []) is None, host
            assert guard.check([host], [f"http://{name}:8770"]) is None, host  # the page it serves
    for host in ("localhost:8771", "evil.example", "evil.example:8770", "localhost.", "", "127.0.0.1:8770 x"):
        refusal = guard.check([host], [])
        assert refusal is not None and refusal.status == MISDIRECTED and ALLOWED_HOSTS_KNOB in refusal.body, host
    assert guard.check([], []).status == MISDIRECTED  # type: ignore[union-attr]
    assert guard.check(["localhost", "evil.example"], []).status == MISDIRECTED  # type: ignore[union-attr]
    for origin in ("null", "https://evil.example", "http://localhost", "http://localhost:8771", "https://localhost:8770",
                   "file://", "x" * 5000):
        refusal = guard.check(["localhost:8770"], [origin])
        assert refusal is not None and refusal.status == FORBIDDEN and len(refusal.body) < 400, origin
    assert guard.check(["localhost:8770"], ["http://localhost:8770", "http://localhost:8770"]).status == FORBIDDEN  # type: ignore[union-attr]
    assert guard.stats() == {"refused_host": 8, "refused_origin": 8}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "test at 127.0.0.2:8770 answered 421" in warnings[0].getMessage()  # 16 refused


def test_extra_names_ports_and_origins():
    guard = RequestGuard("test", "::1", 9000, ("Studio.LAN", "proxy.lan:443", "[fe80::1]:80", "fe80::2",
                                       "http://tools.lan:3000/", "null", " "))
    assert guard.server == "[::1]:9000"
    ok = [("studio.lan", None), ("studio.lan:9000", "http://studio.lan:9000"), ("proxy.lan:443", "https://proxy.lan:443"),
          ("[fe80::1]:80", "http://[fe80::1]:80"), ("[fe80::2]:9000", "http://[fe80::2]:9000"),
          ("localhost:9000", "http://tools.lan:3000"), ("localhost:9000", "null")]
    for host, origin in ok:
        assert guard.check([host], [origin] if origin else []) is None, (host, origin)
    bad = [("studio.lan:9001", None), ("proxy.lan", None), ("[fe80::1]", None), ("localhost:9000", "http://tools.lan"),
           ("localhost:9000", "http://studio.lan")]
    for host, origin in bad:
        assert guard.check([host], [origin] if origin else []) is not None, (host, origin)
