"""The engines' settings: what the template fixes (cloud_engines) and what each environment gives at submit time
(contracts.environment_parameters: the Vertex AI Training custom_config, the Dataflow arguments' values)."""

import json

import pytest

from contracts.config import load_environment
from contracts.environment_parameters import (
    DATAFLOW_ARGUMENTS,
    TemplateShape,
    dataflow_values,
    placeholder,
    shape_differences,
    template_shape,
    training_config,
)
from pipelines.cloud_engines import dataflow_beam_args, training_image

IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64


def _dev_with(tmp_path, change, name="dev"):
    raw = load_environment(name).model_dump(mode="json", exclude_none=True)
    change(raw["gcp"])
    path = tmp_path / f"{name}-changed.yaml"
    path.write_text(json.dumps(raw))
    return load_environment(path, "penguins")


def test_local_and_in_step_environments_get_nothing(tmp_path):
    def in_step(gcp):
        gcp["training"]["engine"] = "in-step"
        gcp["dataflow"]["enabled"] = False

    for config in (load_environment("local", "penguins"), _dev_with(tmp_path, in_step)):
        assert template_shape(config) == TemplateShape()
        assert training_config(config) is None and dataflow_values(config) == {}
        assert dataflow_beam_args(template_shape(config), image=IMAGE) == []
        assert training_image(template_shape(config), image=IMAGE) is None


def test_the_tfx_extension_keys_are_spelled_as_tfx_spells_them():
    from tfx.extensions.google_cloud_ai_platform import constants

    from contracts import environment_parameters as contract

    assert contract.ENABLE_VERTEX_KEY == constants.ENABLE_VERTEX_KEY
    assert contract.VERTEX_REGION_KEY == constants.VERTEX_REGION_KEY
    assert contract.TRAINING_ARGS_KEY == "ai_platform_training_args"  # the executor module's TRAINING_ARGS_KEY
    from tfx.extensions.google_cloud_ai_platform.trainer import executor

    assert contract.TRAINING_ARGS_KEY == executor.TRAINING_ARGS_KEY


def test_custom_job_runs_as_the_pipeline_account_with_no_image_of_its_own():
    config = load_environment("dev", "penguins")
    custom = training_config(config)
    assert custom["ai_platform_enable_vertex"] is True and custom["ai_platform_vertex_region"] == "europe-west4"
    args = custom["ai_platform_training_args"]
    assert args["project"] == "my-dev-project"
    assert args["job_spec"]["service_account"] == config.gcp.pipeline_service_account
    assert "network" not in args["job_spec"]  # dev sets no gcp.network: Google's default
    # The image is the template's: components/vertex_trainer.py adds it in the Trainer's step.
    assert args["job_spec"]["worker_pool_specs"] == [
        {"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1}
    ]


def test_accelerators_replicas_and_network_reach_the_job(tmp_path):
    def change(gcp):
        gcp["network"] = "projects/123/global/networks/vpc"
        gcp["training"].update(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=2, replica_count=3)

    job_spec = training_config(_dev_with(tmp_path, change))["ai_platform_training_args"]["job_spec"]
    chief, workers = job_spec["worker_pool_specs"]
    machine = {"machine_type": "n1-standard-4", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 2}
    assert chief == {"machine_spec": machine, "replica_count": 1}
    assert workers == {"machine_spec": machine, "replica_count": 2}
    assert job_spec["network"] == "projects/123/global/networks/vpc"


def test_the_template_holds_placeholders_where_environments_differ():
    args = dataflow_beam_args(template_shape(load_environment("dev", "penguins")), image=IMAGE)
    assert args == [
        "--runner=DataflowRunner",
        "--project={{$.inputs.parameters['dataflow_project']}}",
        "--region={{$.inputs.parameters['dataflow_region']}}",
        "--temp_location={{$.inputs.parameters['dataflow_temp_location']}}",
        "--service_account_email={{$.inputs.parameters['dataflow_service_account']}}",
        "--machine_type={{$.inputs.parameters['dataflow_machine_type']}}",
        "--max_num_workers={{$.inputs.parameters['dataflow_max_workers']}}",
        "--network={{$.inputs.parameters['dataflow_network']}}",
        "--subnetwork={{$.inputs.parameters['dataflow_subnetwork']}}",
        f"--sdk_container_image={IMAGE}",
        "--sdk_location=container",
        "--experiments=use_runner_v2",
        "--no_use_public_ips",
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            "dev",
            {
                "dataflow_project": "my-dev-project",
                "dataflow_region": "europe-west4",
                "dataflow_temp_location": "gs://penguins-dev-pipeline-root/penguins-dev/dataflow/tmp",
                "dataflow_service_account": "penguins-dev-dataflow@my-dev-project.iam.gserviceaccount.com",
                "dataflow_machine_type": "n1-standard-4",
                "dataflow_max_workers": "4",
                "dataflow_network": "",
                "dataflow_subnetwork": "regions/europe-west4/subnetworks/penguins-dev-dataflow",
            },
        ),
        (
            "prod",
            {
                "dataflow_project": "my-prod-project",
                "dataflow_region": "europe-west4",
                "dataflow_temp_location": "gs://penguins-prod-pipeline-root/penguins-prod/dataflow/tmp",
                "dataflow_service_account": "penguins-prod-dataflow@my-prod-project.iam.gserviceaccount.com",
                "dataflow_machine_type": "n1-standard-4",
                "dataflow_max_workers": "20",
                "dataflow_network": "",
                "dataflow_subnetwork": "regions/europe-west4/subnetworks/penguins-prod-dataflow",
            },
        ),
    ],
)
def test_each_environment_gives_its_own_dataflow_values(env, expected):
    values = dataflow_values(load_environment(env, "penguins"))
    assert values == expected
    assert list(values) == [name for _, name in DATAFLOW_ARGUMENTS]


def test_public_ips_and_a_network_name(tmp_path):
    def change(gcp):
        gcp["dataflow"].pop("subnetwork")
        gcp["dataflow"].update(network="shared-vpc", use_public_ips=True, region="us-central1")

    config = _dev_with(tmp_path, change)
    values = dataflow_values(config)
    assert values["dataflow_network"] == "shared-vpc" and values["dataflow_region"] == "us-central1"
    assert values["dataflow_subnetwork"] == ""
    assert "--no_use_public_ips" not in dataflow_beam_args(template_shape(config), image=IMAGE)


def test_settings_that_change_the_dag_are_named_between_environments(tmp_path):
    def public(gcp):
        gcp["dataflow"]["use_public_ips"] = True

    def in_step(gcp):
        gcp["training"]["engine"] = "in-step"

    dev = load_environment("dev", "penguins")
    assert shape_differences(dev, load_environment("prod", "penguins")) == []
    assert shape_differences(dev, _dev_with(tmp_path, public, "prod")) == [
        "gcp.dataflow.use_public_ips (dev: False, prod: True)"
    ]
    assert shape_differences(dev, _dev_with(tmp_path, in_step, "prod")) == [
        "gcp.training.engine (dev: True, prod: False)"
    ]


def test_placeholders_are_kfps_input_parameter_placeholders():
    from kfp.dsl import placeholders

    assert placeholder("dataflow_project") == str(placeholders.InputValuePlaceholder("dataflow_project"))
