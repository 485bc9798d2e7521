"""The engines in the environment file: Vertex AI Training and Dataflow settings load, and bad ones stop at
config load naming the file and the field."""

import json

import pytest

from contracts.config import ConfigError, load_environment
from contracts.engines import ACCELERATORS, DATAFLOW_MACHINE_TYPES, TRAINING_MACHINE_TYPES


def _dev_with(tmp_path, change):
    raw = load_environment("dev", "penguins").model_dump(mode="json", exclude_none=True)
    change(raw["gcp"])
    path = tmp_path / "env.yaml"
    path.write_text(json.dumps(raw))
    return path


def test_dev_and_prod_use_both_engines_local_has_none():
    for name in ("dev", "prod"):
        gcp = load_environment(name).gcp
        assert gcp is not None and gcp.training.on_vertex and gcp.dataflow.enabled
        assert gcp.training.machine_type == "n1-standard-4"  # the article's machine
        assert gcp.dataflow.use_public_ips is False and gcp.dataflow.subnetwork
        assert gcp.dataflow_service_account == f"penguins-{name}-dataflow@my-{name}-project.iam.gserviceaccount.com"
    assert load_environment("local", "penguins").gcp is None


def test_defaults_keep_todays_behaviour(tmp_path):
    config = load_environment(_dev_with(tmp_path, lambda gcp: (gcp.pop("training"), gcp.pop("dataflow"))))
    assert config.gcp is not None
    assert not config.gcp.training.on_vertex and not config.gcp.dataflow.enabled
    assert config.gcp.dataflow_region == config.gcp.region


def test_the_allow_lists_hold_the_defaults():
    assert "n1-standard-4" in TRAINING_MACHINE_TYPES and "n1-standard-4" in DATAFLOW_MACHINE_TYPES
    assert "NVIDIA_TESLA_T4" in ACCELERATORS
    assert "n1-standard-1" not in TRAINING_MACHINE_TYPES  # Vertex training's smallest n1 is n1-standard-4


def test_an_accelerator_on_its_machine_family_loads(tmp_path):
    def change(gcp):
        gcp["training"].update(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1)

    assert load_environment(_dev_with(tmp_path, change)).gcp.training.accelerator_count == 1


def test_a_regional_subnetwork_url_and_a_network_load(tmp_path):
    url = "https://www.googleapis.com/compute/v1/projects/host-project/regions/europe-west4/subnetworks/df"
    config = load_environment(_dev_with(tmp_path, lambda gcp: gcp["dataflow"].update(subnetwork=url, network="vpc")))
    assert config.gcp.dataflow.subnetwork_region() == "europe-west4"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda g: g["training"].update(machine_type="n1-standard-5"), "gcp.training.machine_type", "n1-standard-5"),
        (lambda g: g["training"].update(engine="tpu"), "gcp.training.engine", "vertex-training"),
        (
            lambda g: g["training"].update(accelerator_type="NVIDIA_GTX_1080", accelerator_count=1),
            "gcp.training.accelerator_type",
            "NVIDIA_GTX_1080",
        ),
        (
            lambda g: g["training"].update(accelerator_type="NVIDIA_L4", accelerator_count=1),
            "gcp.training",
            "g2-standard-*",
        ),
        (
            lambda g: g["training"].update(accelerator_type="NVIDIA_TESLA_T4", accelerator_count=3),
            "gcp.training",
            "accelerator_count",
        ),
        (lambda g: g["training"].update(accelerator_count=1), "gcp.training", "accelerator_type is not"),
        (lambda g: g["training"].update(machine_type="a2-highgpu-1g"), "gcp.training", "comes with GPUs"),
        (lambda g: g["training"].update(replica_count=0), "gcp.training.replica_count", "greater than or equal"),
        (lambda g: g["training"].update(gpus=1), "gcp.training.gpus", "Extra inputs"),
        (lambda g: g["dataflow"].update(machine_type="f1-micro"), "gcp.dataflow.machine_type", "f1-micro"),
        (lambda g: g["dataflow"].update(region="europe-west99"), "gcp.dataflow.region", "europe-west99"),
        (lambda g: g["dataflow"].pop("subnetwork"), "gcp.dataflow", "needs a network or subnetwork"),
        (lambda g: g["dataflow"].update(subnetwork="my-subnet"), "gcp.dataflow.subnetwork", "regions/<region>"),
        (lambda g: g["dataflow"].update(network="My VPC"), "gcp.dataflow.network", "pattern"),
        (lambda g: g["dataflow"].update(max_workers=0), "gcp.dataflow.max_workers", "greater than or equal"),
        (lambda g: g["dataflow"].update(region="us-central1"), "gcp", "dataflow.subnetwork is in 'europe-west4'"),
    ],
)
def test_bad_engine_settings_stop_at_load_naming_file_and_field(tmp_path, change, field, message):
    path = _dev_with(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_environment(path)
    assert str(path) in str(err.value)
    assert f"{field}:" in str(err.value)
    assert message in str(err.value)


def test_public_ips_need_no_network(tmp_path):
    def change(gcp):
        gcp["dataflow"].pop("subnetwork")
        gcp["dataflow"]["use_public_ips"] = True

    assert load_environment(_dev_with(tmp_path, change)).gcp.dataflow.network is None


def test_disabled_dataflow_needs_no_network(tmp_path):
    def change(gcp):
        gcp["dataflow"].pop("subnetwork")
        gcp["dataflow"]["enabled"] = False

    assert not load_environment(_dev_with(tmp_path, change)).gcp.dataflow.enabled
