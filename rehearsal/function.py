"""Serve a deployed 2nd-gen function from its source zip, as Cloud Functions would, on this Python (3.12).

The zip is the object the stack uploads (build_config.source.storage_source), read from the stand-in's bucket:
unpacked into its own folder, served by functions-framework with the entry point and the environment variables
the stack gives it, as its runtime service account, with the source folder as the working directory and on the
import path (and nothing of the repository), which is how the runtime runs it.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.standin.app import StandIn
from rehearsal.terraform import Resource, Stack


@dataclass
class Served:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def tail(self, lines: int = 40) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()[-lines:] if self.log.exists() else []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(standin: StandIn, stack: Stack, resource: Resource, folder: Path) -> Served:
    body: dict[str, Any] = stack.resolved(resource)
    name = str(body["name"])
    build = body.get("build_config") or {}
    source = (build.get("source") or {}).get("storage_source") or {}
    data = standin.storage.read(str(source.get("bucket")), str(source.get("object")))
    if data is None:
        raise FileNotFoundError(
            f"function {name}: its source gs://{source.get('bucket')}/{source.get('object')} is not there"
        )
    code = folder / name
    code.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(io.BytesIO(data)).extractall(code)
    service = body.get("service_config") or {}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_", "PYTHONPATH", "API_ENDPOINT"))}
    env.update({str(k): str(v) for k, v in (service.get("environment_variables") or {}).items()})
    env.update(standin.environment(str(service.get("service_account_email"))))
    env.update(
        PYTHONPATH=str(code), K_SERVICE=name, FUNCTION_TARGET=str(build.get("entry_point")), PYTHONUNBUFFERED="1"
    )
    log = folder / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--target",
        str(build.get("entry_point")),
        "--source",
        str(code / "main.py"),
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=code, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _wait_listening(port, process, log)
    return Served(name, url, process, log)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Return once the server accepts connections; raise with its log's last line if it exits or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the function exited ({process.returncode}): {log.read_text(errors='replace')[-500:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the function did not listen on {port} within {seconds:.0f} s")
