"""A warm process for `make invoke`: imports and service models loaded once, a fresh account per call.

A cold `python -m offline_runtime.cli.invoke` spends most of its time before the handler runs:
importing boto3, moto and the handler's libraries, and parsing the AWS service models moto and
botocore need to deploy. The first `make invoke` starts this server in the background (one per
project directory and Python); later calls send it their arguments over a Unix socket and get
back the exit code, stdout and stderr. Every call still deploys a new offline account (moto is
reset between calls), so no state leaks from one invoke to the next.

The server exits after ``--idle`` seconds without a call, and as soon as a source file of the
project changed since it started (it answers "stale" and the client starts a new one), so it
never runs old code. ``--no-server`` (or OFFLINE_NO_SERVER=1) runs in-process instead.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WATCHED_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".txt", ".toml")
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "out",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".aws-sam",
}


def snapshot(root: Path) -> dict[str, float]:
    """mtime of every source file of the project (a change means the server's code is old)."""
    seen: dict[str, float] = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        for name in files:
            if name.endswith(WATCHED_SUFFIXES):
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    seen[path] = os.stat(path).st_mtime
    return seen


def socket_path(root: Path) -> Path:
    digest = hashlib.sha256(f"{root.resolve()}|{sys.executable}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp")
    return base / f"offline-runtime-{os.getuid()}-{digest}.sock"


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        self.server.last_call = time.monotonic()
        if request.get("stop"):
            self.wfile.write(json.dumps({"stopped": True}).encode() + b"\n")
            self.server.stopping = True
            return
        if snapshot(self.server.root) != self.server.sources:
            self.wfile.write(json.dumps({"stale": True}).encode() + b"\n")
            self.server.stopping = True
            return
        out, err = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        try:
            os.chdir(request["cwd"])
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = self.server.run(request["argv"])
        except SystemExit as exc:
            code = int(exc.code or 0) if isinstance(exc.code, int) else 2
        except Exception as exc:  # the server must answer; the client shows it
            err.write(f"[offline] server error: {type(exc).__name__}: {exc}\n")
            code = 70
        finally:
            os.chdir(previous)
        reply = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
        self.wfile.write(json.dumps(reply).encode() + b"\n")


class _Server(socketserver.UnixStreamServer):
    def __init__(self, path: Path, root: Path, run: Callable[[list[str]], int], idle_s: float) -> None:
        super().__init__(str(path), _Handler)
        self.root = root
        self.run = run
        self.idle_s = idle_s
        self.sources = snapshot(root)
        self.last_call = time.monotonic()
        self.stopping = False


def serve(root: Path, idle_s: float) -> None:
    from offline_runtime.cli import invoke
    from offline_runtime.emulator import stack  # noqa: F401 - warm: moto, boto3, the emulator

    path = socket_path(root)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = _Server(path, root, lambda argv: invoke.main([*argv, "--no-server"]), idle_s)
    _warm()

    def watch() -> None:
        while not server.stopping and time.monotonic() - server.last_call < server.idle_s:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _warm() -> None:
    """Load what every deploy needs once: the service models moto and botocore parse."""
    import boto3
    import moto.core.utils

    for service in ("s3", "sqs", "sns", "dynamodb", "lambda", "iam", "logs", "events", "stepfunctions"):
        with contextlib.suppress(Exception):
            boto3.client(service, region_name="us-east-1")
            moto.core.utils.get_service_model(service)


def call(root: Path, argv: list[str], start_timeout_s: float = 30.0) -> dict[str, Any]:
    """Send one invoke to the project's server, starting (or restarting) it when needed."""
    for _ in range(2):
        reply = _send(root, argv) or _start_and_send(root, argv, start_timeout_s)
        if not reply.get("stale"):
            return reply
        _wait_gone(socket_path(root))
    raise RuntimeError("the offline runtime server kept reporting stale sources")


def stop(root: Path) -> None:
    """Ask the project's server (if one runs) to exit, and wait until it has."""
    if _send(root, [], stop=True) is not None:
        _wait_gone(socket_path(root))


def _send(root: Path, argv: list[str], stop: bool = False) -> dict[str, Any] | None:
    path = socket_path(root)
    if not path.exists():
        return None
    request = {"stop": True} if stop else {"argv": argv, "cwd": os.getcwd()}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        return json.loads(data) if data else None
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a dead server's socket
        return None


def _start_and_send(root: Path, argv: list[str], timeout_s: float) -> dict[str, Any]:
    path = socket_path(root)
    log = open(path.with_suffix(".log"), "ab")  # noqa: SIM115 - handed to the child
    subprocess.Popen(
        [sys.executable, "-m", "offline_runtime.cli.server", "--root", str(root)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        },  # what this process imports
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = _send(root, argv)
        if reply is not None:
            return reply
        time.sleep(0.05)
    raise RuntimeError(f"the offline runtime server did not start (see {path.with_suffix('.log')})")


def _wait_gone(path: Path, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project directory watched for changes")
    parser.add_argument("--idle", type=float, default=900.0, help="exit after this many idle seconds")
    args = parser.parse_args(argv)
    serve(args.root.resolve(), args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
