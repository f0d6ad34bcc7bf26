"""Build hooks: compile the WebSocket protobuf schema before packaging (scripts/build_protos.py),
and the matching core with mypyc when possible (``bourse.native``).

The matching core is plain Python that mypyc can compile to C extension modules (1.6x fewer
instructions per command, BENCHMARKS.md). It is compiled when mypy (a build requirement) and a C
compiler are there and ``BOURSE_PURE`` is not set; otherwise, or if compiling fails, Bourse
installs as pure Python. Each build records the compiled sources' digests (``native.json``),
which ``bourse`` checks at import. Everything else is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
NATIVE = runpy.run_path(str(ROOT / "src" / "bourse" / "native.py"))


class BuildPyWithProtos(build_py):
    """``build_py`` that first writes ``src/bourse/api/ws/proto/*_pb2.py`` (editable and wheel)."""

    def run(self) -> None:
        script = ROOT / "scripts" / "build_protos.py"
        runpy.run_path(str(script))["build"]()
        super().run()


class BuildNative(build_ext):
    """``build_ext`` that falls back to pure Python when the C build fails, and stamps the
    sources it compiled (``native.json``, beside the compiled modules)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, headers, ...: run as Python
            print(f"bourse: matching core not compiled ({exc}); pure Python", file=sys.stderr)
            self._drop_built()
            return
        self._stamp()

    def _targets(self) -> list[Path]:
        return [Path(self.get_ext_fullpath(e.name)) for e in self.extensions]

    def _drop_built(self) -> None:
        for path in self._targets():  # a partial build must not shadow the sources
            path.unlink(missing_ok=True)

    def _stamp(self) -> None:
        out = Path(self.get_ext_fullpath("bourse.domain.x")).parent / NATIVE["STAMP"]
        out.write_text(json.dumps(NATIVE["stamp"](), indent=0, sort_keys=True) + "\n")


#: the setup.py commands that build extension modules (pip first asks for metadata, twice)
BUILDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install"}


def native_extensions() -> list:
    if os.environ.get("BOURSE_PURE") or not BUILDS & set(sys.argv[1:]):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("bourse: mypy not installed, matching core not compiled", file=sys.stderr)
        return []
    cwd = os.getcwd()
    os.chdir(ROOT / "src")  # mypyc names modules after paths relative to the current directory
    try:
        return mypycify(
            list(NATIVE["COMPILED"]),
            opt_level="3",
            group_name="bourse_native",
            target_dir=str(ROOT / "build" / "mypyc"),
        )
    finally:
        os.chdir(cwd)


setup(
    cmdclass={"build_py": BuildPyWithProtos, "build_ext": BuildNative},
    ext_modules=native_extensions(),
)
