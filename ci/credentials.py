"""Where Google Cloud credentials are, as files only (standard library: the noxfile imports it).

google.auth.default() would also probe the GCE metadata server; the live tests and the Terraform plan must
not, so both ask this instead: GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application-default file.
"""

from __future__ import annotations

import os
from pathlib import Path

ADC_FILE = Path.home() / ".config" / "gcloud" / "application_default_credentials.json"
MISSING = (
    "no Google Cloud credentials (set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`)"
)


def credentials_file() -> Path | None:
    """The credentials file to use, or None when there is none."""
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    return ADC_FILE if ADC_FILE.is_file() else None
