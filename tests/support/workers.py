"""Which tests share one pytest-xdist worker (``scripts/test`` runs ``--dist loadgroup``).

pytest-xdist's own ``xdist_group`` mark does nothing on pytest 9.2: xdist 3.8 renames the
node (``item._nodeid``), an attribute pytest 9.2 no longer reads, so every test was its own
work unit. ``SAME_WORKER`` says the same by node id, which the controller sees (it collects
nothing itself, so a mark would not reach it): a test whose id starts with a key runs on the
worker of its group, in collection order; any other test is a unit of its own, free to go to
whichever worker is idle, as with ``--dist load``.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

#: node id prefix -> group: these tests run on one worker, one after the other
SAME_WORKER = {
    # the module fixture ``sessions`` starts the page of every selected test on its worker
    "tests/docs/test_docs.py::test_the_page_runs": "docs-pages",
    # a later test reads what the scenario of an earlier one made on the module's servers
    "tests/cli/test_operations.py::": "cli-operations",
    # hypothesis draws constants from the modules imported so far, so the stateful sequences
    # depend on what ran before them in the process; some sets of sequences fail as flaky
    # (schemathesis's preconditions read the live server's answers). After test_openapi has
    # reached every endpoint, as in a serial run, the sequences pass.
    "tests/api/test_openapi.py::": "openapi",
    "tests/api/test_openapi_stateful.py::": "openapi",
}


class GroupScheduling(LoadScopeScheduling):
    """``--dist load`` with the ``SAME_WORKER`` groups as single work units."""

    def _split_scope(self, nodeid: str) -> str:
        for prefix, group in SAME_WORKER.items():
            if nodeid.startswith(prefix):
                return group
        return nodeid
