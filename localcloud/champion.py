"""The champion a local server serves, followed as it moves: a promotion or rollback is picked up within one
poll interval, without a restart and without dropping a request.

The new version is loaded beside the old one and swapped in with one assignment, so a request in flight
finishes on the model it started with and the next one gets the new model.
The previous champion stays loaded, so a rollback needs no load.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Any

from contracts.registry import CHAMPION, Registry


@dataclass(frozen=True)
class Serving:
    version: str
    predictor: Any  # components.registry.predictor.Predictor


class ChampionWatcher:
    def __init__(self, registry: Registry, poll_seconds: float = 1.0) -> None:
        self.registry = registry
        self.poll_seconds = poll_seconds
        self.current: Serving | None = None
        self._loaded: dict[str, Serving] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="champion-watcher", daemon=True)

    def refresh(self) -> Serving | None:
        """Load the champion if it moved; keep serving the old one if the new one does not load."""
        from components.registry.predictor import Predictor

        version = self.registry.alias_version(CHAMPION)
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
            print(f"serving version {version}", file=sys.stderr, flush=True)
        except Exception as err:  # A broken version must not take the server down; the old one keeps serving.
            print(
                f"warning: champion {version} did not load, still serving {current and current.version}: {err}",
                file=sys.stderr,
                flush=True,
            )
        return self.current

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception as err:  # E.g. the database briefly locked by a promotion: try again next poll.
                print(f"warning: could not read the champion: {err}", file=sys.stderr, flush=True)
