"""A real GCS JSON API for tests: gcp-storage-emulator in a subprocess, in memory, on a free local port.

Note: the emulator ignores preconditions (ifGenerationMatch): it overwrites where GCS would answer 412.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import IO

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

_START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_for(endpoint: str) -> storage.Client:
    """A client for `endpoint` that needs no credentials."""
    return storage.Client(project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint})


@contextlib.contextmanager
def running_emulator() -> Iterator[str]:
    """Start the emulator, wait until it answers, yield its endpoint (http://127.0.0.1:<port>); always stop it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--in-memory", "--quiet"]
    # stderr goes to a file, not a pipe: nobody reads a pipe while tests run, and a full pipe blocks the server.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            _wait_until_answering(process, endpoint, stderr)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_answering(process: subprocess.Popen[bytes], endpoint: str, stderr: IO[bytes]) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}:\n{_text(stderr)}")
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b?project=test", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(
        f"gcp-storage-emulator did not answer at {endpoint} in {_START_TIMEOUT_S:.0f}s:\n{_text(stderr)}"
    )


def _text(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode(errors="replace") or "(no stderr)"
