"""The trigger function's deployable source as a deterministic zip: same files, same bytes, same name.

The object is named by the sha256 of the zip, so a deploy uploads a new object exactly when the code changed
and Terraform redeploys the function only then. A zip of a folder is not deterministic by itself (timestamps,
permissions, order, __pycache__), so this one takes only the deployable files, sorted, with fixed metadata.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from contracts.environment import REPO_ROOT

FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
# What Cloud Functions needs: the code and the locked requirements (README.md and requirements.in are not).
INCLUDE = ("*.py", "requirements.txt")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # The earliest time a zip can hold.


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str


def deployable_files(source: Path = FUNCTION_DIR) -> list[Path]:
    files = {path for pattern in INCLUDE for path in source.glob(pattern) if path.is_file()}
    if not any(path.name == "main.py" for path in files):
        raise FileNotFoundError(f"{source}: no main.py, not a function source folder")
    return sorted(files, key=lambda path: path.name)


def build_archive(dest_dir: Path, source: Path = FUNCTION_DIR) -> Archive:
    """Write `<dest_dir>/<name>.zip` and return it with its sha256."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{source.name}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for file in deployable_files(source):
            info = zipfile.ZipInfo(file.name, date_time=_EPOCH)
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return Archive(path, hashlib.sha256(path.read_bytes()).hexdigest())
