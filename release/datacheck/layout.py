"""Where the check keeps each thing, from the environment's naming rule (contracts.environment.data_area)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from contracts.config import EnvironmentConfig


@dataclass(frozen=True)
class Layout:
    data_root: Path  # span-<N>/ folders: what the pipeline reads
    incoming: Path
    quarantine: Path
    processed: Path
    batches: Path

    @classmethod
    def of(cls, config: EnvironmentConfig, local_root: Path | None = None) -> Layout:
        if config.gcp is not None:
            raise NotImplementedError(
                f"environment {config.name!r}: the check runs on the local data area only so far "
                f"({config.data_area('incoming')} is not read yet)"
            )
        data_root = config.local_paths(local_root).data / config.dataset
        return cls(data_root, *(data_root / area for area in ("incoming", "quarantine", "processed", "batches")))

    def batch(self, batch: str) -> Path:
        return self.batches / batch

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One check at a time on this data area; a second one waits, then finds the batch already done."""
        self.data_root.mkdir(parents=True, exist_ok=True)
        with open(self.data_root / ".datacheck.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # Released by the kernel when the process dies, even by SIGKILL.
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
