"""Build hook: compile the WebSocket protobuf schema before packaging (see scripts/build_protos.py).

Everything else about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithProtos(build_py):
    """``build_py`` that first writes ``src/bourse/api/ws/proto/*_pb2.py`` (editable and wheel)."""

    def run(self) -> None:
        script = Path(__file__).resolve().parent / "scripts" / "build_protos.py"
        runpy.run_path(str(script))["build"]()
        super().run()


setup(cmdclass={"build_py": BuildPyWithProtos})
