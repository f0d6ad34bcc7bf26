"""Every python block of docs/clients.md, run as written against a real demo server.

One ``bourse serve --demo --port 0`` runs in its own process group for the module, its database
a temporary SQLite file named by ``BOURSE_DATABASE_URL``. Each block runs literally as
``python -c <block>`` from the repo root with that environment, so its own
``.venv/bin/bourse demo-credentials --json`` reads the URL and keys of this server (the port
does not matter). Each must exit 0 and print the ``placed`` and ``canceled`` lines the page
promises, with the same order id and the client's own status words.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import snippets
from tests.support.snippets import ROOT

DOC = ROOT / "docs" / "clients.md"
# (what the section is about, the statuses the client prints for an open and a canceled order)
CLIENTS = [
    ("ccxt", "open", "canceled"),
    ("pymexc", "NEW", "CANCELED"),
    ("mexc_sdk", "NEW", "CANCELED"),
    ("hmac", "NEW", "CANCELED"),
]
BLOCKS = snippets.blocks(DOC, "python")


def test_one_block_per_client() -> None:
    assert len(BLOCKS) == len(CLIENTS)
    for block, (marker, _, _) in zip(BLOCKS, CLIENTS, strict=True):
        assert marker in block


def test_the_readme_links_the_page() -> None:
    row = next(
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| Trade spot over the MEXC API")
    )
    assert "(docs/clients.md)" in row


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    db = tmp_path_factory.mktemp("clients-doc") / "bourse.db"
    env = dict(os.environ)
    env["BOURSE_DATABASE_URL"] = f"sqlite:///{db}"
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("BOURSE_SECRET_KEY", None)
    for name in [n for n in env if n.startswith("JSII_")]:  # the snippets set their own
        del env[name]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "bourse"), "serve", "--demo", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        snippets.wait_for(server, "Application startup complete", 180)
        yield env
    finally:
        snippets.stop(server)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("block", "opened", "canceled"),
    [(b, o, c) for b, (_, o, c) in zip(BLOCKS, CLIENTS, strict=True)],
    ids=[marker for marker, _, _ in CLIENTS],
)
def test_the_snippet_runs(demo: dict[str, str], block: str, opened: str, canceled: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", block],
        cwd=ROOT,
        env=demo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    placed, gone = out.stdout.strip().splitlines()[-2:]
    first = re.fullmatch(rf"placed (\d+) {opened}", placed)
    assert first is not None, out.stdout
    assert gone == f"canceled {first.group(1)} {canceled}", out.stdout
    assert "!!" not in out.stderr, out.stderr  # jsii's node warnings are silenced as documented
