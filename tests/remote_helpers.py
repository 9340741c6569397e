"""Local servers for the remote-file tests: HTTP with Range requests, and XRootD.

Both listen on 127.0.0.1 only and stop when the test is over. The HTTP server is Python's
``http.server`` (directory index pages, which fsspec reads to match globs) taught single
``Range: bytes=a-b`` requests, which uproot needs to read baskets; it can be told to fail
some requests (HTTP 503, or a connection closed without an answer) to test the retries.
The XRootD server is Debian's ``xrootd`` (package ``xrootd-server``), run as ``nobody``
(it refuses to run as root).
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class Faults:
    """Which requests fail: ``fail`` holds the numbers (counting from 1) of the data requests
    (GET with a Range) that get ``mode`` instead of data: ``503`` or ``drop`` (the
    connection closed without an answer). ``all`` fails every request."""

    fail: set[int] = field(default_factory=set)
    mode: str = "503"
    all: bool = False
    count: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_fail(self) -> bool:
        with self.lock:
            self.count += 1
            if self.all or self.count in self.fail:
                self.failed += 1
                return True
            return False


class _Handler(http.server.SimpleHTTPRequestHandler):
    faults: Faults

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.translate_path(self.path)
        match = _RANGE.match(self.headers.get("Range", ""))
        if os.path.isdir(path) or not match or not os.path.isfile(path):
            super().do_GET()
            return
        if self.faults.should_fail():
            if self.faults.mode == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_error(503, "Service Unavailable (test)")
            return
        size = os.path.getsize(path)
        start = int(match[1])
        end = min(int(match[2]) if match[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def http_server(directory: Path, faults: Faults | None = None) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    handler = type(
        "Handler", (_Handler,), {"faults": faults or Faults()}
    )  # one class per server: its own faults

    def make(*args, **kwargs):
        return handler(*args, directory=str(directory), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def xrootd_missing() -> str | None:
    """Why an XRootD test cannot run here (None when it can)."""
    import importlib.util

    if shutil.which("xrootd") is None:
        return "no xrootd server (Debian package xrootd-server; .ci/run installs it)"
    if importlib.util.find_spec("fsspec_xrootd") is None:
        return "fsspec-xrootd is not installed (pip install -e '.[remote]')"
    if importlib.util.find_spec("XRootD") is None:
        return "the XRootD Python bindings are not installed (pip install xrootd)"
    if os.geteuid() == 0 and shutil.which("runuser") is None and not _has_nobody():
        return "xrootd refuses to run as root and there is no user 'nobody' to run it as"
    return None


def _has_nobody() -> bool:
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def xrootd_server(directory: Path, workdir: Path) -> Iterator[str]:
    """Serve ``directory`` (exported whole) with xrootd on 127.0.0.1; yield ``root://host:port``.

    As root, xrootd runs as ``nobody`` (``-R``): ``directory`` and ``workdir`` are made readable
    (and ``workdir`` writable) for it.
    """
    port = free_port()
    admin = workdir / "admin"
    admin.mkdir(parents=True, exist_ok=True)
    config = workdir / "xrootd.cfg"
    config.write_text(
        f"xrd.port {port}\nall.export {directory}\nall.adminpath {admin}\nall.pidpath {admin}\n"
    )
    command = ["xrootd", "-c", str(config), "-l", str(workdir / "xrootd.log"), "-n", "hepml"]
    if os.geteuid() == 0:
        command[1:1] = ["-R", "nobody"]
        for path in (workdir, admin, directory, *directory.parents):
            if path == Path("/"):
                break
            path.chmod(path.stat().st_mode | 0o755)
        admin.chmod(0o777)
        workdir.chmod(0o777)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, process, workdir)
        yield f"root://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for_port(port: int, process: subprocess.Popen, workdir: Path) -> None:
    for _ in range(100):
        if process.poll() is not None:
            log = (workdir / "xrootd.log").read_text() if (workdir / "xrootd.log").exists() else ""
            msg = f"xrootd exited ({process.returncode}): {process.stderr.read()!r} {log[-2000:]}"
            raise RuntimeError(msg)
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    msg = "xrootd did not listen within 10 s"
    raise RuntimeError(msg)
