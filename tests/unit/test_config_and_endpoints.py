from __future__ import annotations

from pathlib import Path

import pytest

from facecast.config import AppConfig, ConfigError, load_config, parse_set_flags
from facecast.transport.endpoints import EndpointError, check_bind_endpoint


def test_defaults_toml_and_overrides(tmp_path: Path):
    assert load_config() == AppConfig()
    f = tmp_path / "fc.toml"
    f.write_text('[server]\nbind = "ipc:///tmp/x"\n[scheduler]\nmax_batch = 16\nmax_wait_ms = 1\n')
    cfg = load_config(f, parse_set_flags(["scheduler.max_batch=4", "demo.size=512"]))
    assert cfg.server.bind == "ipc:///tmp/x"
    assert cfg.scheduler.max_batch == 4 and cfg.scheduler.max_wait_ms == 1.0
    assert cfg.demo.size == 512
    with pytest.raises(Exception):
        cfg.server.bind = "x"  # frozen


@pytest.mark.parametrize("overrides,match", [
    ({"nope": {"x": 1}}, "unknown config section"),
    ({"server": {"nope": 1}}, "unknown config key server.nope"),
    ({"scheduler": {"max_batch": "many"}}, "cannot read 'many' as int"),
    ({"scheduler": {"max_batch": 1.5}}, "expected int"),
])
def test_bad_overrides_are_named(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(overrides=overrides)


def test_bad_files_and_flags(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        parse_set_flags(["max_batch=3"])


@pytest.mark.parametrize("given,expected", [
    ("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5555"),
    ("tcp://127.0.0.1:0", "tcp://127.0.0.1:*"),
    ("tcp://localhost:7000", "tcp://127.0.0.1:7000"),
    ("tcp://[::1]:7000", "tcp://[::1]:7000"),
    ("ipc:///tmp/facecast.sock", "ipc:///tmp/facecast.sock"),
])
def test_loopback_endpoints_accepted(given, expected):
    assert check_bind_endpoint(given) == expected


@pytest.mark.parametrize("bad", ["tcp://0.0.0.0:5555", "tcp://10.0.0.2:1", "tcp://example.com:80", "tcp://127.0.0.1",
                                 "tcp://127.0.0.1:99999", "udp://127.0.0.1:5", "127.0.0.1:5555", "ipc://"])
def test_other_endpoints_refused(bad):
    with pytest.raises(EndpointError):
        check_bind_endpoint(bad)
