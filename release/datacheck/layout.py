"""The check's store: the environment's data area (EnvironmentConfig.data_root; its layout is
contracts/data_layout.py), on Cloud Storage or under the local root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.google_apis import storage_client_options
from release.datacheck.store import Store


def open_store(config: EnvironmentConfig, local_root: Path | None = None, client: Any = None) -> Store:
    """The environment's data area: a GcsStore on Google Cloud (`client`: a storage.Client, default one with
    the ambient credentials), a LocalStore under the local root (--local-root wins over the file)."""
    if config.gcp is not None:
        from release.datacheck.gcs_store import GcsStore

        if client is None:
            from google.cloud import storage  # type: ignore[import-not-found]

            client = storage.Client(project=config.gcp.project, client_options=storage_client_options())
        return GcsStore.of(client, config.data_root())
    from release.datacheck.local_store import LocalStore

    return LocalStore(Path(config.data_root(local_root)))
