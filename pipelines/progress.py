"""Progress lines while the LocalDagRunner works, instead of silence or TFX's INFO flood."""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

# The messages tfx.orchestration.local.local_dag_runner logs around each node.
_EVENTS = re.compile(r"^Component (?P<node>\S+) is (?P<event>running|finished)\.$")


class _ComponentProgress(logging.Handler):
    def __init__(self, out: TextIO) -> None:
        super().__init__(logging.INFO)
        self.out = out
        self.start = time.monotonic()
        self.started: dict[str, float] = {}

    def note(self, text: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {text}", file=self.out, flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        match = _EVENTS.match(record.getMessage())
        if not match:
            return
        node, now = match["node"], time.monotonic()
        if match["event"] == "running":
            self.started[node] = now
            self.note(f"{node} ...")
        else:
            self.note(f"{node} done in {now - self.started.get(node, now):.1f}s")


@contextmanager
def component_progress(log_path: Path, out: TextIO | None = None) -> Iterator[_ComponentProgress]:
    """Show one line per component start and end on `out`; send everything else to `log_path`.

    TFX, Beam, pip and setuptools (TFX builds and installs the user-module wheels in subprocesses) write
    straight to file descriptors 1 and 2, so those are redirected to the log, not just Python's logging.
    """
    from absl import logging as absl_logging

    out = out or sys.stdout  # Looked up per call: tests and callers may have replaced it.
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out.flush()
    sys.stderr.flush()
    try:  # A private handle on the console, since fd 1 and 2 are about to point at the log.
        console: TextIO = os.fdopen(os.dup(out.fileno()), "w", buffering=1)
    except (AttributeError, OSError, io.UnsupportedOperation):
        console = out  # An in-memory stream (tests): it is not affected by the redirection.
    saved_fds = (os.dup(1), os.dup(2))
    saved_verbosity = absl_logging.get_verbosity()
    absl_logger = logging.getLogger("absl")
    saved_handlers = (absl_logger.handlers[:], absl_logger.propagate)
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        to_log = logging.StreamHandler(sys.stderr)
        to_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        absl_logging.set_verbosity(absl_logging.INFO)
        progress = _ComponentProgress(console)
        absl_logger.handlers[:] = [progress, to_log]
        absl_logger.propagate = False
        try:
            yield progress
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            absl_logger.handlers[:], absl_logger.propagate = saved_handlers
            absl_logging.set_verbosity(saved_verbosity)
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            if console is not out:
                console.close()
