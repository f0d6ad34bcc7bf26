"""A PostgreSQL cluster of a test's own, so a test may stop and restart it (the shared server on
5432 is never touched): ``initdb`` into a temporary directory with Debian's binaries, trust
authentication, a free port on 127.0.0.1, sockets in the same directory.

``HalfOpenProxy`` stands between a client and the cluster like a host that vanished: when the
client side closes (the client was killed), the PostgreSQL side stays open, so the server keeps
the session (and its advisory locks) as it would for a peer that never said goodbye.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import select
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from tests.support.server import free_port


def pg_bin() -> Path | None:
    """The newest installed ``/usr/lib/postgresql/<major>/bin`` with initdb, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PgCluster:
    """``initdb`` + ``pg_ctl start`` in a fresh temporary directory; ``stop()``, ``start()``,
    ``url(db)``, ``destroy()``. PostgreSQL refuses to run as root: as root, the cluster is
    run by the ``postgres`` user, in a directory that user owns."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries in /usr/lib/postgresql/*/bin")
        self.bin = bindir
        root = Path(tempfile.mkdtemp(prefix="bourse-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "pg.log"
        env = {**os.environ, "LC_ALL": "C.UTF-8"}
        self.env = env
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        conf_path = self.root / "extra.conf"
        with open(conf_path, "w") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{root}'\nfsync = off\n"
                "max_connections = 60\nshared_buffers = 16MB\n"
            )
        self._run("sh", "-c", f"cat {conf_path} >> {self.data / 'postgresql.conf'}")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        exe = tool if tool == "sh" else str(self.bin / tool)
        subprocess.run(
            [*self.prefix, exe, *args], env=self.env, check=True, capture_output=True,
            timeout=120, cwd=self.root,
        )  # fmt: skip

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
                  "-t", "60", "restart")  # fmt: skip

    def url(self, database: str = "postgres", port: int | None = None) -> str:
        return f"postgresql://postgres@127.0.0.1:{port or self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class HalfOpenProxy:
    """A TCP proxy on a free loopback port to ``127.0.0.1:target``: when a client closes,
    its upstream connection is left open (``release()`` closes them all)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.upstreams: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.target))
            self.upstreams.append(up)
            threading.Thread(target=self._pump, args=(client, up), daemon=True).start()

    def _pump(self, client: socket.socket, up: socket.socket) -> None:
        pair = {client: up, up: client}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select(list(pair), [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        if s is client:  # the client is gone: keep PostgreSQL's side open
                            client.close()
                            return
                        client.close()
                        return
                    pair[s].sendall(data)
        except OSError:
            client.close()

    def release(self) -> None:
        self._stop.set()
        self.listener.close()
        for up in self.upstreams:
            up.close()
