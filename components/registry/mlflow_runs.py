"""Where local pipeline runs are in MLflow: one experiment per pipeline, named like its registered model, and
one MLflow run per pipeline run, tagged with the pipeline run id.

pipelines/tracking.py creates and fills the runs; the local registry finds the run of the pipeline run that
registers a version by that tag, to link the version to it. By the tag, not by passing the MLflow run id
into the pipeline: RegistryPush's parameters are part of TFX's cache key, and a new id every run would make
an identical rerun re-execute it instead of being fully cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PIPELINE_RUN_TAG = "pipeline_run_id"
# MLflow 3's UI shows an experiment of this kind as model training (runs, metric charts), not as GenAI evaluations.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(client: Any, name: str, artifact_location: Path) -> str:
    """The id of experiment `name`, created (its artifacts under `artifact_location`) if it does not exist."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location.as_uri(), tags=EXPERIMENT_KIND))
    except MlflowException:
        found = client.get_experiment_by_name(name)  # Another process created it meanwhile.
        if found is None:
            raise
        return str(found.experiment_id)


def find_run(client: Any, experiment_name: str, pipeline_run_id: str) -> str | None:
    """The MLflow run recording pipeline run `pipeline_run_id`, or None (a run started without tracking)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None or "'" in pipeline_run_id:  # Run ids have no quotes; one would break the filter.
        return None
    query = f"tags.{PIPELINE_RUN_TAG} = '{pipeline_run_id}'"
    runs = client.search_runs([experiment.experiment_id], query, max_results=1)
    return str(runs[0].info.run_id) if runs else None
