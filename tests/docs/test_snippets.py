"""The doc runner itself (tests/support/snippets.py), on small pages written here: what it
parses, what a page session carries from block to block, and what a failure says."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.support import snippets
from tests.support.snippets import DocFailure, Page


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def _run(tmp_path: Path, text: str) -> Page:
    page = _page(tmp_path, text)
    with Page(page, tmp_path / "session") as session:
        for block in snippets.parse(page):
            session.run(block)
    return session


def test_parse_counts_every_fence_with_its_line_and_dedents_indented_ones(
    tmp_path: Path,
) -> None:
    page = _page(
        tmp_path,
        "# t\n```text\nshown\n```\n\n1. step\n\n   ```bash\n   echo hi\n   ```\n```\nbare\n```\n",
    )
    found = snippets.parse(page)
    assert [(b.number, b.line, b.lang, b.body) for b in found] == [
        (1, 3, "text", "shown\n"),
        (2, 9, "bash", "echo hi\n"),
        (3, 12, "", "bare\n"),
    ]
    assert found[2].where.endswith("block 3 (untagged, line 12)")


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="line 2: fence never closed"):
        snippets.parse(_page(tmp_path, "# t\n```bash\necho\n"))


@pytest.mark.parametrize(
    ("line", "serves"),
    [
        ("scripts/run", True),
        ("scripts/run --port 9000   # the demo", True),
        (".venv/bin/bourse serve --demo --port 9000", True),
        (".venv/bin/bourse serve --demo --port 9000 &", False),
        (".venv/bin/bourse serve --demo & # in the background", False),
        ("scripts/run # serves; not & here", True),
        (".venv/bin/bourse demo-credentials --json", False),
        ("scripts/test", False),
    ],
)
def test_which_lines_start_a_server_in_the_foreground(line: str, serves: bool) -> None:
    assert bool(snippets._SERVES.match(line)) is serves


def test_shell_state_carries_over_and_python_shares_exports_both_ways(tmp_path: Path) -> None:
    session = _run(
        tmp_path,
        "```bash\n"
        'x="two words"\n'
        'greet() { echo "hi $1"; }\n'
        "export SHARED=from-shell\n"
        "```\n"
        "```bash\n"
        'greet "$x"\n'
        "```\n"
        "```python\n"
        "import os\n"
        "print(os.environ['SHARED'])\n"
        "os.environ['BACK'] = 'from-python'\n"
        "kept = 41\n"
        "```\n"
        "```python\n"
        "print(kept + 1)\n"
        "```\n"
        "```sh\n"
        'echo "$BACK"\n'
        "```\n"
        "```json\n"
        "{not run}\n"
        "```\n",
    )
    assert session.output == ["", "hi two words\n", "from-shell\n", "42\n", "from-python\n"]


def test_a_failing_command_names_page_block_line_and_command(tmp_path: Path) -> None:
    text = "# t\n\n```bash\necho first\n```\n\n```bash\ntrue\nls /no/such/dir\necho never\n```\n"
    with pytest.raises(DocFailure) as failure:
        _run(tmp_path, text)
    message = str(failure.value)
    assert message.startswith("page.md block 2 (bash, line 8): line 9: `ls /no/such/dir` failed")
    assert "No such file" in message and "never" not in message.replace("echo never", "")


def test_a_failing_pipeline_fails_its_block(tmp_path: Path) -> None:
    with pytest.raises(DocFailure, match=r"block 1 .*line 2: `false \| cat` failed \(at `cat`\)"):
        _run(tmp_path, "```bash\nfalse | cat\necho after\n```\n")


def test_a_python_block_that_raises_names_the_page_line(tmp_path: Path) -> None:
    text = "# t\n```python\nx = 1\nraise ValueError('boom')\n```\n"
    with pytest.raises(DocFailure) as failure:
        _run(tmp_path, text)
    message = str(failure.value)
    assert message.startswith("page.md block 1 (python, line 3): the python block raised")
    assert 'page.md", line 4' in message and "ValueError: boom" in message


def test_commands_that_are_not_run_say_why(tmp_path: Path) -> None:
    session = _run(tmp_path, "```bash\nscripts/test tests/domain -x\necho ok\n```\n")
    assert session.output == ["ok\n"]


def test_a_failure_inside_a_helper_of_an_earlier_block_names_both_lines(tmp_path: Path) -> None:
    text = '```bash\ncheck() {\n  test "$1" = ok\n}\n```\n```bash\ncheck ok\ncheck bad\n```\n'
    with pytest.raises(DocFailure) as failure:
        _run(tmp_path, text)
    assert str(failure.value).startswith(
        'page.md block 2 (bash, line 7): line 8: `check bad` failed (in `check`, at `test "$1" = ok`)'
    )


def test_a_page_cannot_reach_the_internet(tmp_path: Path) -> None:
    text = (
        "```python\n"
        "import requests\n"
        "requests.get('https://api.mexc.com/api/v3/ping', timeout=5)\n"
        "```\n"
    )
    with pytest.raises(DocFailure, match="ProxyError"):
        _run(tmp_path, text)
    with pytest.raises(DocFailure, match="line 2: `curl -sS https://api.mexc.com/api/v3/ping`"):
        (tmp_path / "curl").mkdir()
        _run(tmp_path / "curl", "```bash\ncurl -sS https://api.mexc.com/api/v3/ping\n```\n")


def test_a_server_is_up_when_uvicorn_says_so_or_its_banner_url_answers() -> None:
    assert snippets._serving("INFO:     Application startup complete.\n")
    assert not snippets._serving("seeding the demo ...\n")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert snippets._serving(f"│ API        http://127.0.0.1:{port}   (use it where ...\n")
    assert not snippets._serving(f"│ API        http://127.0.0.1:{port}   (use it where ...\n")


def test_a_console_block_runs_its_dollar_lines_only(tmp_path: Path) -> None:
    session = _run(tmp_path, "```console\n$ echo one\none\n$ echo two\nnot a command\n```\n")
    assert session.output == ["one\ntwo\n"]
