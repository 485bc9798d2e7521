"""Lineage as registry tags (MLflow) or labels (Vertex): one flat key per value for searching and the
consoles, plus the whole lineage as JSON, the record the commands read back exactly."""

from __future__ import annotations

import json
import re

from contracts.registry import Lineage

LINEAGE = "lineage"
_LABEL_VALUE = re.compile(r"[^a-z0-9_-]+")


def lineage_tags(lineage: Lineage, content_sha256: str, blessed: bool) -> dict[str, str]:
    """MLflow model version tags: flat keys (commit, dirty, modules, spans, param.*, metric.*) and `lineage`
    (JSON)."""
    tags = {
        "content_sha256": content_sha256,
        "blessed": "true" if blessed else "false",
        "pipeline_run_id": lineage.pipeline_run_id,
        "spans": ",".join(f"{s.number}:{s.sha256[:12]}" for s in lineage.spans),
        LINEAGE: lineage.model_dump_json(),
    }
    for key in ("commit", "modules", "image", "template", "source"):
        value = getattr(lineage, key)
        if value:
            tags[key] = value
    if lineage.dirty is not None:
        tags["dirty"] = "true" if lineage.dirty else "false"
    tags.update({f"param.{k}": str(v) for k, v in lineage.parameters.items()})
    tags.update({f"metric.{k}": f"{v:.6f}" for k, v in lineage.metrics.items()})
    tags.update({f"baseline.{k}": f"{v:.6f}" for k, v in lineage.baseline_metrics.items()})
    return tags


def lineage_from_tags(tags: dict[str, str]) -> Lineage:
    return Lineage.model_validate_json(tags[LINEAGE])


def label_value(value: str) -> str:
    """A Vertex label value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    return _LABEL_VALUE.sub("-", value.lower())[:63]


def lineage_labels(lineage: Lineage, content_sha256: str, blessed: bool) -> dict[str, str]:
    """Vertex labels: what fits the label rules; the rest is in the version description (the lineage JSON)."""
    labels = {"content": content_sha256[:63], "blessed": "true" if blessed else "false"}
    for key in ("commit", "modules", "template", "source"):
        value = getattr(lineage, key)
        if value:
            labels[key] = label_value(value)
    if lineage.dirty is not None:
        labels["dirty"] = "true" if lineage.dirty else "false"
    if lineage.spans:
        labels["spans"] = label_value("-".join(str(s.number) for s in lineage.spans))
    labels["run"] = label_value(lineage.pipeline_run_id)
    return labels


def description(lineage: Lineage) -> str:
    return json.dumps({LINEAGE: json.loads(lineage.model_dump_json())}, sort_keys=True)


def lineage_from_description(text: str) -> Lineage:
    return Lineage.model_validate(json.loads(text)[LINEAGE])
