"""The files one step hands to the next (the image step's digest, publish's template URI, the main job's
record): written whole or not at all, read with an error naming the file and the step that writes it.

Standard library only: the CI steps, the release commands and the main job all read and write them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_result(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON result (a step's hand-over, the main job's record) in one rename: whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def result_value(path: Path, key: str, producer: str) -> str:
    """`key` of the JSON result file a step wrote for the next one; ValueError naming the file otherwise."""
    try:
        value = json.loads(path.read_text())[key]
    except FileNotFoundError:
        raise ValueError(f"{path}: no {producer} result (run the {producer} step first)") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a {producer} result ({err!r})") from None
    if not isinstance(value, str):
        raise ValueError(f"{path}: `{key}` must be a string")
    return value
