"""``bench/http.py`` as a module, for the benchmarks built on its seeding, pools and servers.

Its file name hides the standard library's ``http`` from a plain import, so it is loaded by
path, once, under the name ``bench_http`` (its dataclasses look their module up there).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

NAME = "bench_http"


def load() -> ModuleType:
    """The ``bench/http.py`` module, loaded on first use."""
    module = sys.modules.get(NAME)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(NAME, Path(__file__).resolve().parent / "http.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[NAME] = module
    spec.loader.exec_module(module)
    return module
