"""VertexTrainer: the custom job's settings come with the run (custom_config), its image with the template."""

import json

import pytest
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor

from components.vertex_trainer import Executor, with_worker_image
from contracts.config import load_environment
from contracts.environment_parameters import training_config

IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "3" * 64


def _pools(config):
    return config["ai_platform_training_args"]["job_spec"]["worker_pool_specs"]


def test_every_pool_runs_the_templates_image_and_keeps_its_machine(tmp_path):
    custom = training_config(load_environment("prod", "penguins"))
    completed = with_worker_image(custom, IMAGE)
    assert [pool["container_spec"] for pool in _pools(completed)] == [{"image_uri": IMAGE}]
    assert _pools(completed)[0]["machine_spec"] == {"machine_type": "n1-standard-4"}
    assert "container_spec" not in _pools(custom)[0]  # the run's value is not changed in place
    assert with_worker_image(completed, IMAGE) == completed  # naming the same image is fine


def test_a_pool_naming_another_image_is_refused():
    custom = training_config(load_environment("dev", "penguins"))
    _pools(custom)[0]["container_spec"] = {"image_uri": "elsewhere/image@sha256:" + "4" * 64}
    with pytest.raises(ValueError, match="the template's is"):
        with_worker_image(custom, IMAGE)


@pytest.mark.parametrize("custom", [{}, {"ai_platform_training_args": {"job_spec": {"worker_pool_specs": []}}}])
def test_a_custom_config_without_worker_pools_is_refused(custom):
    with pytest.raises(ValueError, match="custom_config"):
        with_worker_image(custom, IMAGE)


def test_the_executor_hands_tfx_the_completed_config(monkeypatch):
    calls = []
    monkeypatch.setattr(vertex_executor.GenericExecutor, "Do", lambda self, *args: calls.append(args))
    custom = json.dumps(training_config(load_environment("dev", "penguins")))
    Executor().Do({}, {}, {"custom_config": custom, "worker_image": IMAGE, "module_path": "m@gs://w.whl"})
    ((_, _, properties),) = calls
    assert "worker_image" not in properties and properties["module_path"] == "m@gs://w.whl"
    assert _pools(json.loads(properties["custom_config"]))[0]["container_spec"] == {"image_uri": IMAGE}
