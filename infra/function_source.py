"""The trigger function's deployable source as a deterministic zip: same files, same bytes, same name.

    python -m infra.function_source [--out build/function]   # writes trigger_pipeline.zip, prints its sha256

The zip holds the function's folder (its code and locked requirements) at the top, and under contracts/ the
modules of the leaf contracts package that the code imports, found from the source (ci/import_graph.py), so
the unzipped folder runs on its own. The local backend's lazy import of localcloud/ is not followed: the
deployed function never runs it, and the archive does not hold it.

The object is named by the sha256 of the zip, so a deploy uploads a new object exactly when the code changed
and Terraform redeploys the function only then. A zip of a folder is not deterministic by itself (timestamps,
permissions, order, __pycache__), so this one takes only the deployable files, sorted, with fixed metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ci.import_graph import closure
from contracts.environment import REPO_ROOT

FUNCTION_DIR = REPO_ROOT / "cloudfunctions" / "trigger_pipeline"
# What Cloud Functions needs from the folder: the code and the locked requirements (not README.md, .in).
INCLUDE = ("*.py", "requirements.txt")
# The only part of the repository a deployed function may import (the leaf contracts package) ...
SHIPPED = REPO_ROOT / "contracts"
# ... and the part only its local backend imports, lazily: local-only, never followed or shipped.
LOCAL_ONLY = REPO_ROOT / "localcloud"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # The earliest time a zip can hold.


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str


def deployable_files(source: Path = FUNCTION_DIR) -> list[Path]:
    """The function folder's own deployable files."""
    files = {path for pattern in INCLUDE for path in source.glob(pattern) if path.is_file()}
    if not any(path.name == "main.py" for path in files):
        raise FileNotFoundError(f"{source}: no main.py, not a function source folder")
    return sorted(files, key=lambda path: path.name)


def repository_imports(source: Path = FUNCTION_DIR, repo_root: Path = REPO_ROOT) -> list[Path]:
    """The repository files the folder's code imports, transitively, up to (not into) localcloud/.

    Raises ValueError naming a file the archive could not ship: anything outside contracts/ and localcloud/.
    """
    source, repo_root = source.resolve(), repo_root.resolve()
    shipped, local_only = repo_root / SHIPPED.name, repo_root / LOCAL_ONLY.name
    seen = closure(source.glob("*.py"), [source, repo_root], stop_at=[local_only])
    outside = sorted(path for path in seen if source not in path.parents and local_only not in path.parents)
    unshippable = [path.relative_to(repo_root).as_posix() for path in outside if shipped not in path.parents]
    if unshippable:
        raise ValueError(
            f"{source.name} imports {', '.join(unshippable)}: a deployed function may import only "
            f"{shipped.name}/ from the repository (and localcloud/ lazily, in its local backend)"
        )
    return outside


def archive_members(source: Path = FUNCTION_DIR, repo_root: Path = REPO_ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file) for everything the archive holds, sorted by name."""
    members = [(path.name, path) for path in deployable_files(source)]
    members += [
        (path.relative_to(repo_root.resolve()).as_posix(), path) for path in repository_imports(source, repo_root)
    ]
    return sorted(members)


def build_archive(dest_dir: Path, source: Path = FUNCTION_DIR, repo_root: Path = REPO_ROOT) -> Archive:
    """Write `<dest_dir>/<name>.zip` and return it with its sha256."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{source.name}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, file in archive_members(source, repo_root):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return Archive(path, hashlib.sha256(path.read_bytes()).hexdigest())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.function_source", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "function", help="folder for the zip")
    args = parser.parse_args(argv)
    try:
        archive = build_archive(args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{archive.path}\n  sha256: {archive.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
