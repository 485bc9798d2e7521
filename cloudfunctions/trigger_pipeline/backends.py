"""Which backend a message's run goes to: TRIGGER_BACKEND, one backend object per distinct settings."""

from __future__ import annotations

import functools

from dry_run import DryRunBackend
from local import LocalBackend
from settings import Settings
from submission import Backend
from vertex import VertexBackend


@functools.lru_cache(maxsize=8)
def backend_for(settings: Settings) -> Backend:
    """Reused across calls: the vertex one keeps its clients and a pinned template's lineage, the local one its
    environment."""
    if settings.backend == "dry-run":
        assert settings.dry_run_log is not None
        return DryRunBackend(settings.dry_run_log)
    if settings.backend == "vertex":
        return VertexBackend(settings)
    return LocalBackend(settings)
