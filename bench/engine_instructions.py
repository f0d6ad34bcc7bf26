"""The fixed workload for counting ``bench/engine.py``'s instructions per command with callgrind.

Instruction counts do not move with the load of a shared machine, wall-clock ratios do. Run
each side twice, with the workload and without it (``--setup-only``: the same stream, requests
and exchange built, nothing matched), and divide the difference by the commands::

    valgrind --tool=callgrind python bench/engine_instructions.py ours
    valgrind --tool=callgrind python bench/engine_instructions.py ours --setup-only
    valgrind --tool=callgrind python bench/engine_instructions.py lme
    valgrind --tool=callgrind python bench/engine_instructions.py lme --setup-only

(``Collected :`` in valgrind's output; per command = (run - setup) / ``--n``).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("side", choices=("ours", "lme"))
    ap.add_argument("--n", type=int, default=30_000)
    ap.add_argument("--setup-only", action="store_true", help="build everything, match nothing")
    args = ap.parse_args()
    stream = engine.make_stream(args.n, 42, 8, 40)
    if args.side == "ours":
        engine.requests_for(stream)  # run_ours builds its own: the set-up run builds them twice
        engine.new_exchange(8)
        if args.setup_only:
            engine.requests_for(stream)
            engine.new_exchange(8)
        else:
            engine.run_ours(stream, 8, 1000)
    elif not args.setup_only:
        engine.run_lme(stream)
    gc.collect()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
