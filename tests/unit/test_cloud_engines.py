"""What the compile hands create_pipeline for Vertex AI Training and Dataflow, from the environment file."""

import json

from contracts.config import load_environment
from pipelines.cloud_engines import dataflow_beam_args, vertex_training_config, worker_pools

IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64


def _dev_with(tmp_path, change):
    raw = load_environment("dev").model_dump(mode="json", exclude_none=True)
    change(raw["gcp"])
    path = tmp_path / "env.yaml"
    path.write_text(json.dumps(raw))
    return load_environment(path)


def test_local_and_in_step_environments_get_nothing(tmp_path):
    local = load_environment("local")
    assert vertex_training_config(local, image=IMAGE) is None and dataflow_beam_args(local, image=IMAGE) == []

    def in_step(gcp):
        gcp["training"]["engine"] = "in-step"
        gcp["dataflow"]["enabled"] = False

    config = _dev_with(tmp_path, in_step)
    assert vertex_training_config(config, image=IMAGE) is None and dataflow_beam_args(config, image=IMAGE) == []


def test_custom_job_runs_the_image_as_the_pipeline_account():
    config = load_environment("dev")
    custom = vertex_training_config(config, image=IMAGE)
    assert custom["ai_platform_enable_vertex"] is True and custom["ai_platform_vertex_region"] == "europe-west4"
    args = custom["ai_platform_training_args"]
    assert args["project"] == "my-dev-project"
    assert args["job_spec"]["service_account"] == config.gcp.pipeline_service_account
    assert "network" not in args["job_spec"]  # dev sets no gcp.network: Google's default
    assert args["job_spec"]["worker_pool_specs"] == [
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1, "container_spec": {"image_uri": IMAGE}}
    ]


def test_accelerators_replicas_and_network_reach_the_job(tmp_path):
    def change(gcp):
        gcp["network"] = "projects/123/global/networks/vpc"
        gcp["training"].update(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2, replica_count=3)

    config = _dev_with(tmp_path, change)
    chief, workers = worker_pools(config.gcp, IMAGE)
    machine = {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 2}
    assert chief == {"machine_spec": machine, "replica_count": 1, "container_spec": {"image_uri": IMAGE}}
    assert workers["replica_count"] == 2 and workers["machine_spec"] == machine
    job_spec = vertex_training_config(config, image=IMAGE)["ai_platform_training_args"]["job_spec"]
    assert job_spec["network"] == "projects/123/global/networks/vpc"


def test_dataflow_args_from_the_environment():
    args = dataflow_beam_args(load_environment("dev"), image=IMAGE)
    assert args == [
        "--runner=DataflowRunner",
        "--project=my-dev-project",
        "--region=europe-west4",
        "--temp_location=gs://penguins-dev-pipeline-root/penguins-dev/dataflow/tmp",
        "--service_account_email=penguins-dev-dataflow@my-dev-project.iam.gserviceaccount.com",
        f"--sdk_container_image={IMAGE}",
        "--sdk_location=container",
        "--machine_type=n1-standard-4",
        "--max_num_workers=4",
        "--experiments=use_runner_v2",
        "--subnetwork=regions/europe-west4/subnetworks/penguins-dev-dataflow",
        "--no_use_public_ips",
    ]


def test_public_ips_and_a_network_name(tmp_path):
    def change(gcp):
        gcp["dataflow"].pop("subnetwork")
        gcp["dataflow"].update(network="shared-vpc", use_public_ips=True, region="us-central1")

    args = dataflow_beam_args(_dev_with(tmp_path, change), image=IMAGE)
    assert "--network=shared-vpc" in args and "--region=us-central1" in args
    assert "--no_use_public_ips" not in args and not any(a.startswith("--subnetwork") for a in args)
