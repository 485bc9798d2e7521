"""What the Vertex compile hands `create_pipeline` to run the heavy components on Google Cloud's engines.

Built from the environment file's `gcp.training` and `gcp.dataflow` (contracts/engines.py):
- the Trainer's custom_config for TFX's Vertex AI Training extension: a custom job whose worker pools run the
  pipeline image by digest as the pipeline service account;
- DataflowRunner arguments for the Beam components, with the pipeline image as the SDK container.
Off (the default, and always for a local environment): None and no arguments, so the Trainer and Beam's
DirectRunner run inside their pipeline steps, as today.
"""

from __future__ import annotations

from typing import Any

from contracts.config import EnvironmentConfig
from contracts.environment import Gcp

# Beam's option, not TFX's: with the SDK in the container, Dataflow stages no SDK tarball for the workers.
_SDK_IN_CONTAINER = "--sdk_location=container"


def vertex_training_config(config: EnvironmentConfig, *, image: str) -> dict[str, Any] | None:
    """The Trainer's custom_config for Vertex AI Training, or None when the Trainer runs in its step."""
    gcp = config.gcp
    if gcp is None or not gcp.training.on_vertex:
        return None
    # The extension's own keys (plain strings; importing them loads no Vertex client).
    from tfx.extensions.google_cloud_ai_platform.constants import ENABLE_VERTEX_KEY, VERTEX_REGION_KEY

    job_spec: dict[str, Any] = {
        "worker_pool_specs": worker_pools(gcp, image),
        # The job runs as the pipeline account, which reads the pipeline root and the module wheels.
        "service_account": gcp.pipeline_service_account,
    }
    if gcp.network:
        job_spec["network"] = gcp.network
    return {
        ENABLE_VERTEX_KEY: True,
        VERTEX_REGION_KEY: gcp.region,
        # TRAINING_ARGS_KEY: the extension's executor module imports aiplatform, so its value is spelled here.
        "ai_platform_training_args": {"project": gcp.project, "job_spec": job_spec},
    }


def worker_pools(gcp: Gcp, image: str) -> list[dict[str, Any]]:
    """One chief, then the other replicas in a second pool (Vertex wants exactly one replica in the first)."""
    training = gcp.training
    machine: dict[str, Any] = {"machine_type": training.machine_type}
    if training.accelerator_type:
        machine |= {"accelerator_type": training.accelerator_type, "accelerator_count": training.accelerator_count}

    def pool(replicas: int) -> dict[str, Any]:
        # TFX sets the container's command (its run_executor entry point); the image is the step's, by digest.
        return {"machine_spec": dict(machine), "replica_count": replicas, "container_spec": {"image_uri": image}}

    pools = [pool(1)]
    if training.replica_count > 1:
        pools.append(pool(training.replica_count - 1))
    return pools


def dataflow_beam_args(config: EnvironmentConfig, *, image: str) -> list[str]:
    """DataflowRunner arguments for every Beam component, or none: DirectRunner inside the step."""
    gcp = config.gcp
    if gcp is None or not gcp.dataflow.enabled:
        return []
    dataflow = gcp.dataflow
    args = [
        "--runner=DataflowRunner",
        f"--project={gcp.project}",
        f"--region={gcp.dataflow_region}",
        # On the pipeline-root bucket, whose objects expire: staging and temp files are disposable.
        f"--temp_location={config.pipeline_root()}/dataflow/tmp",
        f"--service_account_email={gcp.dataflow_service_account}",
        # Workers run the pipeline image: TFX, the components and Beam are installed, so TFX builds no sdist
        # per component (it skips that when an SDK container is set) and nothing is pip-installed on workers.
        f"--sdk_container_image={image}",
        _SDK_IN_CONTAINER,
        f"--machine_type={dataflow.machine_type}",
        f"--max_num_workers={dataflow.max_workers}",
        # Custom SDK containers run on Dataflow Runner v2 only.
        "--experiments=use_runner_v2",
    ]
    if dataflow.network:
        args.append(f"--network={dataflow.network}")
    if dataflow.subnetwork:
        args.append(f"--subnetwork={dataflow.subnetwork}")
    if not dataflow.use_public_ips:
        args.append("--no_use_public_ips")
    return args
