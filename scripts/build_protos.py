"""Compile the WebSocket schema (``src/bourse/api/ws/proto/*.proto``) into ``*_pb2.py`` modules.

Run by the setuptools build hook in ``setup.py`` (so ``pip install`` and wheel builds produce
the modules) and usable by hand: ``python scripts/build_protos.py``. Needs ``grpcio-tools``
(a build requirement in ``pyproject.toml``). The generated modules are not committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PROTO_DIR = SRC / "bourse" / "api" / "ws" / "proto"


def build(force: bool = False) -> list[Path]:
    """Compile every ``.proto`` whose ``_pb2.py`` is missing or older; return what was built."""
    from grpc_tools import protoc  # the build requirement, absent at run time

    protos = sorted(PROTO_DIR.glob("*.proto"))
    stale = [
        p
        for p in protos
        if force
        or not p.with_name(p.stem + "_pb2.py").exists()
        or p.with_name(p.stem + "_pb2.py").stat().st_mtime < p.stat().st_mtime
    ]
    if not stale:
        return []
    include = Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{SRC}", f"-I{include}", f"--python_out={SRC}", f"--pyi_out={SRC}"]
    args += [str(p.relative_to(SRC)) for p in protos]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + ", ".join(p.name for p in protos))
    return [p.with_name(p.stem + "_pb2.py") for p in protos]


if __name__ == "__main__":
    built = build(force="--force" in sys.argv)
    print(f"{len(built)} modules written to {PROTO_DIR}")
