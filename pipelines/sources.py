"""Where each pipeline's sources live in the repository: the one path rule that the local runner, the compile,
publish, submit and the data check use (standard library and contracts only).

A pipeline is a folder, pipelines/<name>/:

    pipeline.py          what the pipeline is: its task, label, the metrics its Evaluator computes
                         (`eval_config()`), and for a classifier its classes (plain constants; TFMA is imported
                         only by `eval_config`)
    modules/             preprocessing.py (Transform) and model.py (Trainer): the unit the fast `modules`
                         workflow ships, never part of the pipeline image
    schema/schema.pbtxt  the curated schema ExampleValidator and the data check apply
    data/span-<N>/*.csv  the shipped spans (with the script that derived them and its README)

The shared machinery (the factory pipelines/pipeline.py, the runners, components/) names no pipeline.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from contracts.config import REPO_ROOT

PIPELINES_DIR = REPO_ROOT / "pipelines"
DEFINITION = "pipeline.py"


@dataclass(frozen=True)
class PipelineSources:
    name: str
    folder: Path

    @property
    def modules_dir(self) -> Path:
        """The unit the fast `modules` workflow ships: preprocessing.py and model.py."""
        return self.folder / "modules"

    @property
    def schema_file(self) -> Path:
        return self.folder / "schema" / "schema.pbtxt"

    @property
    def data_dir(self) -> Path:
        """The shipped spans: <data_dir>/span-<N>/*.csv (contracts/data_layout.py)."""
        return self.folder / "data"

    def definition(self) -> ModuleType:
        """pipelines/<name>/pipeline.py: TASK, LABEL, LABEL_XF, METRICS, eval_config() (and CLASSES)."""
        return importlib.import_module(f"pipelines.{self.name}.pipeline")


def pipeline_names(root: Path = PIPELINES_DIR) -> tuple[str, ...]:
    """The pipelines in the repository: the folders of pipelines/ that hold a pipeline.py."""
    return tuple(sorted(p.parent.name for p in root.glob(f"*/{DEFINITION}")))


def pipeline_sources(name: str, root: Path = PIPELINES_DIR) -> PipelineSources:
    """The sources of pipeline `name`; ValueError naming the pipelines there are if it has no folder."""
    folder = root / name
    if not (folder / DEFINITION).is_file():
        known = ", ".join(pipeline_names(root)) or "none"
        raise ValueError(
            f"no pipeline {name!r}: no {folder.relative_to(root.parent)}/{DEFINITION} (pipelines: {known})"
        )
    return PipelineSources(name, folder)
