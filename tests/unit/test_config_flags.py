"""Config knobs drive the command line: each flag, its type, default and help come from the
knob's one definition in facecast.config, and `facecast` reads them back into the config."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from facecast.apps.cli import _config, _parser
from facecast.config import AppConfig, ConfigError, add_knob_flags, knob_overrides


def _cfg(*argv: str) -> AppConfig:
    return _config(_parser().parse_args(list(argv)))


def test_every_knob_has_help():
    for section in dataclasses.fields(AppConfig):
        for f in dataclasses.fields(section.default_factory()):
            assert f.metadata.get("help"), f"[{section.name}] {f.name} has no help text"


def test_serve_flags_land_in_their_sections():
    cfg = _cfg("serve", "--bind", "ipc:///tmp/fc", "--max-batch", "16", "--max-wait-ms", "0.5", "--store", "/s",
               "--sink", "overlay", "--sink", "mjpeg", "--sink", "overlay", "--precision", "fp32")
    assert cfg.server.bind == "ipc:///tmp/fc"
    assert cfg.scheduler.max_batch == 16 and cfg.scheduler.max_wait_ms == 0.5
    assert cfg.store.root == "/s"
    assert cfg.sinks.enabled == ("overlay", "mjpeg")  # repeated flag, each once, in order
    assert cfg.render.precision == "fp32"
    assert _cfg("serve") == AppConfig()


def test_implied_knobs_yield_to_their_own_flags_and_beat_set():
    cfg = _cfg("serve", "--onnx", "m.onnx")
    assert (cfg.render.renderer, cfg.render.engine, cfg.render.onnx_model) == ("neural", "onnx", "m.onnx")
    assert _cfg("serve", "--checkpoint", "c.pt").render.renderer == "neural"
    assert _cfg("serve", "--checkpoint", "c.pt", "--renderer", "copy").render.renderer == "copy"
    assert _cfg("serve", "--onnx", "m.onnx", "--engine", "torch").render.engine == "torch"
    assert _cfg("serve", "--set", "render.renderer=copy", "--checkpoint", "c.pt").render.renderer == "neural"
    assert _cfg("serve", "--set", "scheduler.max_batch=4", "--max-batch", "2").scheduler.max_batch == 2


def test_the_same_knob_means_the_same_on_every_command():
    for argv in (["serve"], ["eval", "v.mp4", "--checkpoint", "c.pt"], ["finetune", "x", "--checkpoint", "c.pt"],
                 ["enroll", "x", "a.png"], ["bench", "render"], ["bench", "serve"]):
        assert _cfg(*argv, "--device", "cpu").render.device == "cpu", argv
        assert _cfg(*argv).render.device == "auto", argv
    assert _cfg("bench", "serve", "--checkpoint", "c.pt").render.renderer == "neural"
    assert _cfg("demo", "--seconds", "2", "--size", "128", "--out", "o").demo == \
        dataclasses.replace(AppConfig().demo, seconds=2.0, size=128, out_dir="o")


def test_bad_flag_values_are_refused_by_the_parser(capsys):
    for argv in (["serve", "--max-batch", "many"], ["serve", "--engine", "tensorflow"], ["serve", "--sink", "tv"]):
        with pytest.raises(SystemExit):
            _parser().parse_args(argv)
    assert "invalid choice: 'tv'" in capsys.readouterr().err


def test_flag_help_shows_the_knob_and_its_default():
    p = argparse.ArgumentParser()
    add_knob_flags(p, "scheduler.max_batch", "render.engine")
    text = p.format_help()
    assert "(default 8; [scheduler] max_batch)" in text and "(default torch; [render] engine)" in text


def test_unknown_or_flagless_knobs_are_refused():
    p = argparse.ArgumentParser()
    with pytest.raises(KeyError, match="unknown config key"):
        add_knob_flags(p, "render.nope")
    with pytest.raises(KeyError, match="unknown config section"):
        add_knob_flags(p, "nope.x")
    with pytest.raises(KeyError, match="no command-line flag"):
        add_knob_flags(p, "server.max_sessions")
    assert knob_overrides(argparse.Namespace(other=1)) == {}
    with pytest.raises(ConfigError):
        _cfg("serve", "--set", "render.nope=1")
