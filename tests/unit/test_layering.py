"""Dependencies point one way (docs/architecture.md): each subpackage of facecast imports
only the subpackages listed for it below, so nothing imports upwards. A new subpackage
must be placed here before anything can import it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "facecast"

# Who may import whom, bottom layer first. Imports inside functions count too.
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "transport": set(),
    "config": set(),
    "core": {"protocol"},
    "tracking": {"protocol", "core", "config"},
    "capture": {"protocol", "core", "config", "tracking"},
    "npc": {"protocol", "core", "config", "tracking"},
    "model": {"core"},
    "characters": {"protocol", "core", "tracking", "capture", "model"},
    "render": {"protocol", "core", "characters", "model"},
    "sinks": {"protocol", "core", "config"},
    "client": {"protocol", "core", "transport"},
    "training": {"protocol", "core", "config", "tracking", "capture", "model", "characters"},
    "server": {"protocol", "core", "transport", "config", "tracking", "npc", "characters", "render", "sinks"},
}
ALLOWED["apps"] = set(ALLOWED)

# Third-party modules kept out of layers that must stay light or transport-free.
FORBIDDEN_THIRD_PARTY: dict[str, tuple[str, ...]] = {
    "protocol": ("zmq", "cv2", "torch", "mediapipe", "ray"),
    "transport": ("cv2", "torch", "mediapipe", "ray"),
    "config": ("zmq", "cv2", "torch", "mediapipe", "ray"),
    "core": ("zmq", "torch", "mediapipe", "ray"),
    "tracking": ("zmq", "cv2", "torch", "mediapipe", "ray"),
    "capture": ("zmq", "torch", "ray"),
    "npc": ("zmq", "cv2", "torch", "mediapipe", "ray"),
    "model": ("zmq", "mediapipe", "ray"),
    "characters": ("zmq", "mediapipe", "ray"),
    "render": ("zmq", "mediapipe", "ray"),
    "training": ("zmq", "mediapipe", "ray"),
    "client": ("torch", "mediapipe", "ray"),
    "sinks": ("zmq", "torch", "mediapipe", "ray"),
    "server": ("torch", "mediapipe"),  # ray: only facecast.server.ray_executor (below)
    "apps": ("mediapipe",),
}



def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _our_packages() -> set[str]:
    return {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()} | {"config"}


def _files_of(package: str) -> list[Path]:
    if (SRC / package).is_dir():
        return sorted((SRC / package).rglob("*.py"))
    return [SRC / f"{package}.py"]


def upward_imports(package: str, path: Path) -> list[str]:
    """The facecast subpackages that ``path`` (a file of ``package``) imports against ALLOWED."""
    ours = _our_packages()
    bad = set()
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "facecast" and len(parts) > 1 and parts[1] in ours and parts[1] != package:
            if parts[1] not in ALLOWED[package]:
                bad.add(parts[1])
    return sorted(bad)


def test_every_subpackage_has_a_place_in_the_layers():
    assert _our_packages() == set(ALLOWED)


def test_the_package_root_holds_only_the_version_and_the_config():
    assert sorted(p.name for p in SRC.glob("*.py")) == ["__init__.py", "config.py"]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str):
    for path in _files_of(package):
        assert not upward_imports(package, path), f"{path.relative_to(SRC)} imports upwards"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_THIRD_PARTY))
def test_light_layers_stay_light(package: str):
    for path in _files_of(package):
        for name in _imports(path):
            assert name.split(".")[0] not in FORBIDDEN_THIRD_PARTY[package], f"{path.relative_to(SRC)} imports {name}"


def test_the_checker_sees_an_upward_import_inside_a_function(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from facecast.server.daemon import Daemon\n    from facecast import client\n")
    assert upward_imports("protocol", bad) == ["client", "server"]
    assert upward_imports("apps", bad) == []


def test_only_the_ray_executor_imports_ray():
    for path in (SRC / "server").rglob("*.py"):
        if path.name != "ray_executor.py":
            assert not {n for n in _imports(path) if n.split(".")[0] == "ray"}, f"{path.name} imports ray"


def test_a_render_worker_loads_without_zeromq():
    """What a Ray actor imports on a render machine (transitively) pulls in no ZeroMQ."""
    code = ("import sys; import facecast.server.render_worker, facecast.server.executor; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'zmq' or m == 'facecast.server.daemon'); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
