"""Running the documentation's code blocks as written.

Every fenced block of README.md and docs/*.md carries a language tag. ``bash``/``sh``/``console``
and ``python`` blocks are run, in page order, in one :class:`Page` session per page; ``text``,
``json``, ``http``, ``toml`` and ``ini`` blocks are only shown. A session is:

* a temporary home: ``BOURSE_DATABASE_URL`` is a fresh SQLite file and ``BOURSE_HOME`` a fresh
  directory, so ``scripts/run`` and ``.venv/bin/bourse demo-credentials --json`` of every block
  find this page's server and nothing else; the proxy variables point at a closed local port,
  so a snippet that would reach the internet (ccxt's futures host, say) fails instead;
* a server started the way users start it. A block line that starts one in the foreground
  (``scripts/run ...`` or ``.venv/bin/bourse serve ...`` without ``&``: "in another terminal")
  is started as written, in the background, with ``--port 0`` added when it names no port (the
  default 8080 may be held by anyone on this machine; pages read the URL from
  ``bourse demo-credentials --json``), and the page goes on once it serves. A page that starts
  no server of its own gets ``scripts/run --port 0`` before its first block. Every
  process a page starts is in one process group, stopped when the page ends;
* shell blocks run with ``bash -eE -o pipefail`` from the repo root, so any failing command
  fails its block. As in one terminal, shell variables, functions and the working directory
  carry over to the next shell blocks of the page (exported variables to its python blocks
  too): a signing helper is written once per page;
* python blocks run in one interpreter per page (``python -c`` from the repo root), in one
  namespace, so a block reuses what an earlier block of the page defined; what a python block
  puts in ``os.environ`` is exported to the next shell blocks.

A failure names the page, the block number (1-based, counting every fenced block of the page),
the line in the page and the command, with the block's output. Two sessions of one page never
run at once on this machine (a lock per page), so a page may name a fixed database or port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
RUN = {"bash", "sh", "console", "python"}
SHOW = {"text", "json", "http", "toml", "ini"}
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# an opening or closing fence, possibly indented (inside a list item)
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)$")
# a line that starts a server in the foreground (another terminal, for a reader)
_SERVES = re.compile(
    r"^\s*(?:scripts/run|(?:\./)?\.venv/bin/bourse\s+serve)\b(?![^#]*&\s*(?:#.*)?$)"
)
# commands that are not started: (pattern, why)
NOT_RUN = [(re.compile(r"^\s*scripts/test\b"), "it runs the whole suite, this test included")]
BLOCK_SECONDS = 180
NO_INTERNET = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused
SERVER_SECONDS = 180


def shown(page: Path) -> str:
    """How a failure names ``page``: relative to the repo root (a page elsewhere: its name)."""
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


@dataclass(frozen=True)
class Block:
    page: Path
    number: int  # 1-based, over every fenced block of the page
    line: int  # the page's line of the block's first body line
    lang: str
    body: str

    @property
    def where(self) -> str:
        return (
            f"{shown(self.page)} block {self.number} ({self.lang or 'untagged'}, line {self.line})"
        )


def parse(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order (an indented fence's body is dedented)."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, info = m.group("indent"), m.group("info").split()
        lang = info[0] if info else ""  # the first word of the info string
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            line = lines[j]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            j += 1
        assert j < len(lines), f"{shown(page)} line {i + 1}: fence never closed"
        found.append(Block(page, len(found) + 1, i + 2, lang, "\n".join(body) + "\n"))
        i = j + 1
    return found


def blocks(doc: Path, lang: str) -> list[str]:
    """The bodies of ``doc``'s fenced blocks tagged ``lang``, in order."""
    return [b.body for b in parse(doc) if b.lang == lang]


class DocFailure(AssertionError):
    pass


# runs one block (or one server line) in bash: the page's shell state in, the block, the state out
_WRAPPER = r"""
__doc_state=$1; __doc_block=$2
[ -f "$__doc_state/functions" ] && source "$__doc_state/functions"
[ -f "$__doc_state/vars" ] && source "$__doc_state/vars"
__doc_save() {
  local __doc_v
  for __doc_v in $(compgen -v); do
    case $__doc_v in
      BASH*|__doc*|_|SHELLOPTS|EUID|PPID|UID|FUNCNAME|GROUPS|LINENO|RANDOM|SRANDOM|SECONDS) ;;
      EPOCHSECONDS|EPOCHREALTIME|HISTCMD|PIPESTATUS|DIRSTACK|OPTIND|OPTERR|SHLVL|PWD|OLDPWD|IFS) ;;
      COMP_WORDBREAKS|COLUMNS|LINES|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|PS4) ;;
      *) [[ ${!__doc_v@a} == *[rx]* ]] || declare -p "$__doc_v" ;;  # exported: in env
    esac
  done > "$__doc_state/vars"
  env -0 > "$__doc_state/env"; declare -f > "$__doc_state/functions"; pwd > "$__doc_state/cwd"
}
trap '__doc_rc=$?; __doc_save; exit $__doc_rc' EXIT
trap 'echo "__DOC_FAILED__ $LINENO|${BASH_LINENO[*]}|${BASH_SOURCE[*]}|${FUNCNAME[*]}|$BASH_COMMAND" >&2' ERR
set -eE -o pipefail
source "$__doc_block"
"""
_PY_DRIVER = r"""
import json, os, sys, traceback
results = os.fdopen(os.dup(1), "w")
namespace = {"__name__": "__main__"}
for request in sys.stdin:
    job = json.loads(request)
    os.environ.clear(); os.environ.update(job["env"]); os.chdir(job["cwd"])
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(job["out"], "w") as out:
        os.dup2(out.fileno(), 1); os.dup2(out.fileno(), 2)
        ok = True
        try:
            exec(compile(job["code"], job["file"], "exec"), namespace)
        except SystemExit as exc:
            ok = exc.code in (None, 0)
            if not ok: print("SystemExit:", exc.code, file=sys.stderr)
        except BaseException:
            ok = False
            traceback.print_exc()
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    os.close(saved[0]); os.close(saved[1])
    results.write(json.dumps({"ok": ok, "env": dict(os.environ), "cwd": os.getcwd()}) + "\n")
    results.flush()
"""


def _page_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOURSE_", "JSII_"))}
    venv_bin = str(
        ROOT / ".venv" / "bin"
    )  # a reader has not activated the venv: docs say .venv/bin/
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.pop("VIRTUAL_ENV", None)
    env["BOURSE_DATABASE_URL"] = f"sqlite:///{tmp / 'bourse.db'}"
    env["BOURSE_HOME"] = str(tmp / "home")
    env["COLUMNS"] = "200"
    env["PYTHONUNBUFFERED"] = "1"
    # no page reaches the internet: HTTP clients that honour the proxy variables (curl,
    # requests, so ccxt and pymexc) are refused at once for any host but this machine's
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = NO_INTERNET
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1"
    return env


@contextlib.contextmanager
def _lock(name: str, seconds: float) -> Iterator[None]:
    path = Path(tempfile.gettempdir()) / f"bourse-docs-{name}.lock"
    with path.open("a") as f:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, f"{path} held for {seconds} s"
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Page:
    """One page's session: its temporary home, its processes, its shell state and its python
    interpreter. Use as a context manager; :meth:`run` each block in order."""

    def __init__(self, page: Path, tmp: Path) -> None:
        self.page = page
        self.tmp = tmp
        self.state = tmp / "state"
        self.state.mkdir(parents=True)
        (tmp / "home").mkdir()
        self.env = _page_env(tmp)
        self.cwd = str(ROOT)
        self.groups: list[int] = []  # one process group per process the page started
        self.procs: list[subprocess.Popen[str]] = []
        self.python: subprocess.Popen[str] | None = None
        self.results: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []  # every block's output, in order
        self.exits = contextlib.ExitStack()
        self.count = 0
        self.stray: list[str] = []  # what the python interpreter printed outside any block

    # --- session ----------------------------------------------------------------------------
    def __enter__(self) -> Page:
        self.exits.enter_context(_lock(self.page.stem.lower(), 600))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for pgid in self.groups:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pgid, sig)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and self._alive():
                    time.sleep(0.1)
        finally:
            self.exits.close()

    def _alive(self) -> bool:
        for proc in self.procs:
            proc.poll()  # reap: a zombie still counts as a member of its group
        return any(map(_group_alive, self.groups))

    def _popen(self, args: list[str], out: IO[str] | int, **kw: object) -> subprocess.Popen[str]:
        """Start ``args`` in a process group of its own (what it starts in the background
        stays in that group), stopped when the page ends."""
        proc = subprocess.Popen(  # type: ignore[call-overload]
            args,
            cwd=self.cwd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **kw,
        )
        self.groups.append(proc.pid)
        self.procs.append(proc)
        return proc

    # --- blocks -----------------------------------------------------------------------------
    def needs_server(self, blocks: list[Block]) -> bool:
        """Whether the runner must start the page's server: it runs something and starts none."""
        runs = [b for b in blocks if b.lang in RUN]
        starts = any(_SERVES.match(line) for b in runs for line in self._commands(b))
        return bool(runs) and not starts

    def start_default_server(self) -> None:
        self._serve(
            Block(self.page, 0, 0, "bash", "scripts/run --port 0\n"), "scripts/run --port 0"
        )

    def run(self, block: Block) -> str:
        """Run ``block`` (shown blocks are skipped); returns its output. Raises DocFailure."""
        if block.lang not in RUN:
            return ""
        out = self._python(block) if block.lang == "python" else self._shell(block)
        self.output.append(out)
        return out

    @staticmethod
    def _commands(block: Block) -> list[str]:
        if block.lang == "python":
            return []
        if block.lang == "console":  # `$ command` lines; the rest is sample output
            return [ln[2:] if ln.startswith("$ ") else "" for ln in block.body.splitlines()]
        return block.body.splitlines()

    def _shell(self, block: Block) -> str:
        lines = self._commands(block)
        outputs: list[str] = []
        chunk: list[str] = [""] * (block.line - 1)  # line numbers in the script = the page's
        for number, line in enumerate(lines, start=block.line):
            skip = next((why for pattern, why in NOT_RUN if pattern.match(line)), None)
            if skip is not None:
                chunk.append(f": not run here: {skip}")
            elif _SERVES.match(line):
                outputs.append(self._script(block, chunk))
                outputs.append(self._serve(block, line, number))
                chunk = [""] * number
            else:
                chunk.append(line)
        outputs.append(self._script(block, chunk))
        return "".join(outputs)

    def _script(self, block: Block, lines: list[str]) -> str:
        if not any(ln.strip() for ln in lines):
            return ""
        self.count += 1
        script = self.tmp / f"block-{block.number}-{self.count}.sh"
        script.write_text("\n".join(lines) + "\n")
        out_path = self.tmp / f"block-{block.number}-{self.count}.out"
        with out_path.open("w") as out:
            proc = self._popen(["bash", "-c", _WRAPPER, "bash", str(self.state), str(script)], out)
            try:
                rc = proc.wait(timeout=BLOCK_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = None
        text = out_path.read_text()
        self._load_state()
        if rc != 0:
            failed = re.findall(r"^__DOC_FAILED__ (.*)$", text, re.M)
            what = "timed out" if rc is None else f"exited {rc}"
            if failed:
                what = _failed_line(failed[0], str(script), block)
            raise DocFailure(f"{block.where}: {what} (exit {rc})\n--- output ---\n{text}")
        return text

    def _load_state(self) -> None:
        env_file = self.state / "env"
        if env_file.exists():
            pairs = [kv.split("=", 1) for kv in env_file.read_text().split("\0") if "=" in kv]
            env = {
                k: v
                for k, v in pairs
                if not k.startswith("__doc") and k not in ("_", "SHLVL", "OLDPWD")
            }
            if env:
                self.env = env
        cwd_file = self.state / "cwd"
        if cwd_file.exists() and cwd_file.read_text().strip():
            self.cwd = cwd_file.read_text().strip()

    def _serve(self, block: Block, line: str, number: int = 0) -> str:
        """Start ``line`` (a foreground server) in the background; return once it serves."""
        command = line.split("#")[0].strip()
        if "--port" not in command:  # not the default 8080: other tests and users may hold it
            command += " --port 0"
        self.count += 1
        log_path = self.tmp / f"server-{self.count}.log"
        script = self.tmp / f"server-{self.count}.sh"
        script.write_text(f"exec {command}\n")
        out = self.exits.enter_context(log_path.open("w"))
        proc = self._popen(["bash", "-c", _WRAPPER, "bash", str(self.state), str(script)], out)
        deadline = time.monotonic() + SERVER_SECONDS
        while time.monotonic() < deadline:
            if _serving(log_path.read_text()):
                return ""
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        where = f"{block.where}, line {number}" if number else shown(self.page)
        raise DocFailure(
            f"{where}: server `{line.strip()}` did not start (exit {proc.poll()})\n"
            f"--- output ---\n{log_path.read_text()}"
        )

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith('{"ok"'):
                self.results.put(line)
            else:
                self.stray.append(line)
        self.results.put('{"ok": false}')  # the interpreter ended

    def _python(self, block: Block) -> str:
        if self.python is None:  # the blocks' output goes to files; its stdout says how each ended
            self.python = self._popen(
                [sys.executable, "-c", _PY_DRIVER], subprocess.PIPE, stdin=subprocess.PIPE
            )
            threading.Thread(target=self._pump, args=(self.python,), daemon=True).start()
        assert self.python.stdin is not None
        self.count += 1
        out_path = self.tmp / f"block-{block.number}-{self.count}.out"
        job = {
            "code": "\n" * (block.line - 1) + block.body,
            "file": shown(block.page),
            "env": self.env,
            "cwd": self.cwd,
            "out": str(out_path),
        }
        self.python.stdin.write(json.dumps(job) + "\n")
        self.python.stdin.flush()
        try:
            result = json.loads(self.results.get(timeout=BLOCK_SECONDS))
        except queue.Empty:
            result = {"ok": None}
        ok = result["ok"]
        if ok:  # what the block exported (os.environ) and its directory carry on, as in a shell
            self.env, self.cwd = result["env"], result["cwd"]
        text = out_path.read_text() if out_path.exists() else ""
        if not ok:
            what = "timed out" if ok is None else "raised"
            stray = "".join(self.stray)
            raise DocFailure(
                f"{block.where}: the python block {what}\n--- output ---\n{text}{stray}"
            )
        return text


def _failed_line(trace: str, script: str, block: Block) -> str:
    """What the ERR trap saw (``LINENO|BASH_LINENO|BASH_SOURCE|FUNCNAME|BASH_COMMAND``), said
    as the line of the page that failed (and the helper function it failed in)."""
    lineno, callers, sources, functions, command = trace.split("|", 4)
    calls, files, names = callers.split(), sources.split(), functions.split()
    page = block.page.read_text().splitlines()
    for i, source in enumerate(files):
        if source == script:  # the block's own frame: the line of the page
            number = int(lineno) if i == 0 else int(calls[i - 1])
            line = page[number - 1].strip() if 0 < number <= len(page) else command
            if i > 0:
                return f"line {number}: `{line}` failed (in `{names[0]}`, at `{command}`)"
            at = "" if command == line else f" (at `{command}`)"
            return f"line {number}: `{line}` failed{at}"
    return f"`{command}` failed"


def _serving(log: str) -> bool:
    """Whether a server's output says it serves: uvicorn's startup line, or (at a quieter log
    level) the banner's URL answering a connection."""
    if "Application startup complete" in log:
        return True
    banner = re.search(r"API\s+http://([\d.]+|\[[\d:a-f]+\]|localhost):(\d+)", log)
    if banner is None:
        return False
    try:
        with socket.create_connection((banner.group(1).strip("[]"), int(banner.group(2))), 1):
            return True
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def run_page(page: Path, tmp: Path) -> Page:
    """Run every block of ``page`` in one session; returns the finished session (its output).
    Raises DocFailure naming the first block that failed."""
    found = parse(page)
    with Page(page, tmp) as session:
        if session.needs_server(found):
            session.start_default_server()
        for block in found:
            session.run(block)
    return session


def wait_for(proc: subprocess.Popen[str], needle: str, seconds: float) -> str:
    """Read ``proc``'s stdout until ``needle`` shows (at most ``seconds``); return what was read.
    Fails if the process exits first or the time runs out."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        try:
            seen += lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, seen
    assert needle in seen, seen
    return seen


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` (started with ``start_new_session=True``) and everything in its group."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
