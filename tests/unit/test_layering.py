"""Dependencies point one way (DESIGN §2): protocol imports nothing of ours; inference never
imports zmq or the daemon; topology is a leaf."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "facecast"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package,forbidden", [
    ("protocol", ("facecast.bridge", "facecast.inference", "facecast.tracker", "facecast.client", "facecast.config")),
    ("inference", ("zmq", "facecast.bridge", "facecast.client", "facecast.tracker")),
    ("tracker", ("facecast.bridge", "zmq")),
])
def test_dependencies_point_one_way(package: str, forbidden: tuple[str, ...]):
    for path in (SRC / package).rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(forbidden), f"{path.relative_to(SRC)} imports {name}"


def test_protocol_and_topology_import_nothing_of_ours_but_protocol():
    for path in [SRC / "topology.py", *(SRC / "protocol").rglob("*.py")]:
        ours = {n for n in _imports(path) if n.startswith("facecast")}
        assert all(n.startswith("facecast.protocol") for n in ours), f"{path.name}: {ours}"
