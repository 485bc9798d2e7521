"""The champion a local server serves, followed as it moves: a promotion or rollback is picked up without a
restart and without dropping a request.

What serves is what the champion's pointer names (<registry>/models/<model>/aliases/champion.json): every move
replaces it in one rename as a step of its transaction (release/promotion/local_mover.py), before MLflow's
alias moves, so the server loads the new version while the command is still importing MLflow; a move that
stops half way is settled by the next command, which puts the pointer back where the alias is. A stat()
every `watch_seconds` is cheap, and the pointer is also read every `poll_seconds` regardless, so a move the
stat missed is still picked up. Without a pointer (a registry no move has touched yet) the alias is read.

One watcher follows one registered model (a pipeline's); the local server runs one per pipeline it serves.

The new version is loaded beside the old one and swapped in with one assignment, so a request in flight
finishes on the model it started with and the next one gets the new model.
The previous champion stays loaded, so a rollback needs no load.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from contracts.registry import CHAMPION, Registry
from release.promotion.local_journal import LocalJournal
from serving.http import Serving


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    """What changes when the pointer is replaced (a new inode each time): None when there is none."""
    try:
        st = os.stat(path) if path else None
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size) if st else None


class ChampionWatcher:
    """Follows one alias of one registered model: the champion (by default), or a canary's candidate, whose
    pointer also carries its share of the traffic (`percent`)."""

    def __init__(
        self, registry: Registry, poll_seconds: float = 1.0, watch_seconds: float = 0.05, alias: str = CHAMPION
    ) -> None:
        self.registry = registry
        self.alias = alias
        self.poll_seconds, self.watch_seconds = poll_seconds, watch_seconds
        root = registry.target.root if registry.target.backend == "mlflow" else None
        self._journal = LocalJournal(Path(root), registry.target.model_name) if root else None
        self.pointer: Path | None = self._journal.pointer_file(alias) if self._journal else None
        self.current: Serving | None = None
        self.percent: int | None = None
        self._loaded: dict[str, Serving] = {}
        self._stop = threading.Event()
        name = f"champion-watcher {registry.target.model_name}"
        self._thread = threading.Thread(target=self._follow, name=name, daemon=True)

    def refresh(self) -> Serving | None:
        """Load the champion if it moved; keep serving the old one if the new one does not load."""
        from components.registry.predictor import Predictor

        version = self._champion()
        current = self.current
        if version is None or (current is not None and current.version == version):
            return current
        try:
            serving = self._loaded.get(version)
            if serving is None:
                model = self.registry.get(version)
                serving = Serving(version, Predictor(model.uri, version))
            # The one it replaces stays loaded: a rollback to it is a swap, not a load.
            self._loaded = {v: s for v, s in self._loaded.items() if current and v == current.version}
            self._loaded[version] = serving
            self.current = serving
            what = "" if self.alias == CHAMPION else f" as the {self.alias}"
            print(f"serving version {version} of {self.registry.target.model_name}{what}", file=sys.stderr, flush=True)
        except Exception as err:  # A broken version must not take the server down; the old one keeps serving.
            print(
                f"warning: {self.registry.target.model_name}: champion {version} did not load, still serving "
                f"{current and current.version}: {err}",
                file=sys.stderr,
                flush=True,
            )
        return self.current

    def _champion(self) -> str | None:
        record = self._journal.pointer_record(self.alias) if self._journal else None
        if record is not None:
            self.percent = record.get("percent")
            return str(record["version"])
        return self.registry.alias_version(self.alias)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _follow(self) -> None:
        stamp, last_read = _stamp(self.pointer), time.monotonic()
        interval = min(self.watch_seconds, self.poll_seconds) if self.pointer else self.poll_seconds
        while not self._stop.wait(interval):
            seen = _stamp(self.pointer)
            if seen == stamp and time.monotonic() - last_read < self.poll_seconds:
                continue
            try:
                self.refresh()
                stamp, last_read = seen, time.monotonic()
            except Exception as err:  # E.g. the database briefly locked by a promotion: try again next time.
                print(f"warning: could not read the champion: {err}", file=sys.stderr, flush=True)
                last_read = time.monotonic()
