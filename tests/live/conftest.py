"""Live tests against Google Cloud: they run only with credentials and skip, saying why, without them.

Credentials are looked for as files only (GOOGLE_APPLICATION_CREDENTIALS or gcloud's application-default
file): google.auth.default() would otherwise probe the GCE metadata server, which these tests must not do.
"""

import os
from pathlib import Path

import pytest

ADC_FILE = Path.home() / ".config" / "gcloud" / "application_default_credentials.json"


def credentials_file() -> Path | None:
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    return ADC_FILE if ADC_FILE.is_file() else None


def pytest_collection_modifyitems(config, items):
    if credentials_file() is not None:
        return
    skip = pytest.mark.skip(
        reason="no Google Cloud credentials (set GOOGLE_APPLICATION_CREDENTIALS or run "
        "`gcloud auth application-default login`); live tests talk to the dev project"
    )
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
