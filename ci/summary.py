"""The main job's closing summary: each workflow's steps and seconds, and per pipeline its run, blessing and
model version.

Standard library only. Reads what the steps handed over in the run's work folder: image.json (the image
step), and <pipeline>/publish.json and <pipeline>/submit.json (each pipeline's publish and submit steps'
--result-file).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.runner import StepResult


@dataclass(frozen=True)
class Summary:
    text: str
    data: dict[str, Any]


def _read(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data


def _image_note(image: dict[str, Any]) -> str:
    if not image:
        return ""
    if image.get("built"):
        return f"built {image['image']}"
    if image.get("existing"):
        return f"existing {image['image']}"
    return f"build skipped: {image.get('reason', 'unknown reason')}"


def render_summary(
    work_dir: Path, results: list[tuple[str, StepResult]], *, started: float, run_id: str, workflows: list[str]
) -> Summary:
    image = _read(work_dir / "image.json")
    submits = {path.parent.name: _read(path) for path in sorted(work_dir.glob("*/submit.json"))}
    lines = [f"=== cicd summary ({run_id})"]
    data: dict[str, Any] = {"run_id": run_id, "workflows": workflows, "steps": []}
    # The step column as wide as its longest name (a pipeline's steps carry its name: set current diabetes).
    width = max([18, *(len(result.step.name) + 2 for _, result in results)])
    for workflow, result in results:
        note = _image_note(image) if result.step.session == "image" and result.status == "ok" else result.detail
        lines.append(
            f"  {workflow:<12}{result.step.name:<{width}}{result.status:<8}{result.seconds:7.1f}s  {note}".rstrip()
        )
        data["steps"].append(
            {
                "workflow": workflow,
                "step": result.step.name,
                "session": result.step.session,
                "status": result.status,
                "seconds": round(result.seconds, 2),
                "detail": note,
            }
        )
    lines.append(f"  total {time.time() - started:.1f}s")
    data["pipelines"] = {}
    for pipeline, submit in submits.items():
        if not submit:
            continue
        submitted_after = submit.get("submitted_at", started) - started
        data["pipelines"][pipeline] = {**submit, "submitted_after_seconds": round(submitted_after, 2)}
        status = submit.get("status", "submitted")
        lines.append(f"{pipeline}: pipeline run {submit.get('job_id')} ({submit.get('backend')}): {status}")
        lines.append(f"  submitted {submitted_after:.1f}s after the job started")
        if submit.get("blessed") is not None:
            lines.append(f"  blessed: {'yes' if submit['blessed'] else 'NO'}")
        version = submit.get("pushed_version")
        if version:
            how = "new" if submit.get("pushed_by_this_run") else "unchanged: pushed by an earlier run"
            lines.append(f"  model version: {version} ({how})")
        elif submit.get("blessed") is not None:
            lines.append("  model version: none pushed")
    return Summary("\n".join(lines), data)
