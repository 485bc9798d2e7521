"""The environment's runtime parameter values (contracts.environment_parameters), the baseline and the pointer
record: one computation for every submitter, and clear refusals of values that do not fit the template."""

import json

import pytest

from contracts.config import load_environment
from contracts.current_template import CurrentTemplate, current_location, read_current
from contracts.environment_parameters import (
    BASELINE_MODEL,
    champion_baseline,
    check_environment_values,
    environment_parameters,
    environment_values,
    template_shape,
    with_baseline,
)
from contracts.registry import ModelVersion, RegistryError, RegistryTarget, baseline_uri, model_root
from contracts.run_request import (
    Baseline,
    Lineage,
    RunRequest,
    SubmissionError,
    lineage_labels,
    pipeline_job_arguments,
    submission_labels,
)

SHA = "a" * 64


def test_dev_and_prod_give_their_own_values_for_the_same_parameters():
    dev, prod = (environment_values(load_environment(name, "penguins")) for name in ("dev", "prod"))
    assert set(dev) == set(prod)
    assert set(dev) | {BASELINE_MODEL} == set(template_shape(load_environment("dev", "penguins")).parameter_types())
    assert (
        dev["data_root"] == "gs://penguins-dev-data/penguins"
        and prod["data_root"] == "gs://penguins-prod-data/penguins"
    )
    gate = ("gate_metric", "gate_direction", "gate_bound", "gate_max_regression")
    assert [dev[name] for name in gate] == ["SparseCategoricalAccuracy", "higher", 0.9, 0.01]
    assert [prod[name] for name in gate] == ["SparseCategoricalAccuracy", "higher", 0.95, 0.0]
    assert dev["window_spans"] == prod["window_spans"] == 3
    registry = RegistryTarget.model_validate_json(prod["registry"])
    assert (registry.model_name, registry.project, registry.auto_promote) == (
        "penguins-prod-penguins-model",
        "my-prod-project",
        False,
    )
    custom = json.loads(prod["training_config"])
    assert custom["ai_platform_training_args"]["project"] == "my-prod-project"
    assert prod["dataflow_max_workers"] == "20" and dev["dataflow_max_workers"] == "4"


def test_a_local_environment_gives_its_folders_under_the_root_it_runs_in(tmp_path):
    values = environment_parameters(load_environment("local", "penguins"), baseline_model="", local_root=tmp_path)
    assert values["data_root"] == str(tmp_path / "data" / "penguins")
    assert RegistryTarget.model_validate_json(values["registry"]).root == str(tmp_path / "registry")
    assert values[BASELINE_MODEL] == "" and "training_config" not in values
    assert not any(name.startswith("dataflow_") for name in values)


def test_the_baseline_is_added_per_run_and_the_values_are_checked():
    values = environment_values(load_environment("dev", "penguins"))
    assert with_baseline(values, "gs://r/m/abc")[BASELINE_MODEL] == "gs://r/m/abc"
    # What infra gives the function survives JSON: the same checks pass on it.
    assert check_environment_values(json.loads(json.dumps(values))) == values


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v: v.pop("data_root"), "missing data_root"),
        (lambda v: v.update(batch_size=3), "unknown batch_size"),
        (lambda v: v.update(window_spans="3"), "window_spans: expected int"),
        (lambda v: v.update(gate_bound=True), "gate_bound: expected float"),
        (lambda v: v.update(gate_metric=1), "gate_metric: expected str"),
        (lambda v: v.pop("dataflow_region"), "missing dataflow_region"),
        (lambda v: v.update(baseline_model=""), "unknown baseline_model"),
    ],
)
def test_values_that_do_not_fit_a_template_are_refused_naming_the_parameter(change, message):
    values = dict(environment_values(load_environment("dev", "penguins")))
    change(values)
    with pytest.raises(ValueError, match=message):
        with_baseline(values, "")


class _Registry:
    def __init__(self, champion, uri):
        self.champion, self.uri = champion, uri

    def alias_version(self, alias):
        assert alias == "champion"
        return self.champion

    def get(self, version):
        return ModelVersion.model_construct(version=version, uri=self.uri)


def test_the_champion_is_the_baseline_by_its_model_root():
    baseline = champion_baseline(_Registry("3", "gs://penguins-dev-registry/m/" + SHA + "/Format-Serving"))
    assert baseline == Baseline("3", f"gs://penguins-dev-registry/m/{SHA}")
    assert baseline.label == "3"
    assert champion_baseline(_Registry(None, "")) == Baseline() and Baseline().label == "none"


def test_a_champion_without_a_model_root_is_refused_naming_it():
    with pytest.raises(RegistryError, match=r"champion 2 cannot be a baseline.*Format-Serving"):
        champion_baseline(_Registry("2", "gs://old-pipeline-root/Trainer/model/7"))
    assert model_root("/r/artifacts/x/Format-Serving/") == "/r/artifacts/x"
    assert baseline_uri(ModelVersion.model_construct(uri="/r/x/Format-Serving")) == "/r/x"


def test_a_baseline_needs_both_or_neither():
    with pytest.raises(ValueError, match="baseline"):
        Baseline("3", "")
    with pytest.raises(ValueError, match="baseline"):
        Baseline(None, "gs://x")


def test_the_submitter_labels_the_template_its_source_and_the_baseline():
    request_labels = lineage_labels(Lineage(commit="c" * 40), source="ci", span_start=0, span_end=0, trigger="b-1")
    lineage = Lineage(commit="d" * 40, modules_sha256="e" * 64, template_sha256=SHA)
    added = submission_labels(lineage, "pointer", Baseline("7", "gs://r/x"))
    assert added == {"commit": "d" * 12, "modules": "e" * 12, "template": "a" * 12, "template_source": "pointer",
                     "baseline": "7"}  # fmt: skip
    labels = {**request_labels, **added}
    assert labels["source"] == "ci" and labels["commit"] == "d" * 12
    # What the template's lineage does not know stays as the request had it.
    assert submission_labels(Lineage(), "pin", Baseline()) == {"template_source": "pin", "baseline": "none"}


def test_environment_and_run_parameters_make_one_job_and_never_overlap():
    request = RunRequest("penguins-dev-x", {"num_epochs": 3, "learning_rate": 0.1, "span_start": 0, "span_end": 0})
    environment = environment_parameters(load_environment("dev", "penguins"), baseline_model="")
    arguments = pipeline_job_arguments(
        request, pipeline_name="p", template="/t.json", pipeline_root="gs://r", project="p", location="l",
        environment=environment,
    )  # fmt: skip
    assert arguments["parameter_values"] == {**environment, **request.parameters}
    with pytest.raises(SubmissionError, match="num_epochs: both"):
        pipeline_job_arguments(
            request, pipeline_name="p", template="/t.json", pipeline_root="gs://r", project="p", location="l",
            environment={**environment, "num_epochs": 4},
        )  # fmt: skip


def _record(**changes):
    record = {
        "template": f"gs://penguins-dev-artifacts/templates/{SHA}/pipeline.json",
        "template_sha256": SHA,
        "commit": "c" * 40,
        "modules_sha256": "d" * 64,
        "image": "img@sha256:" + "0" * 64,
        "job_id": "penguins-dev-ci-1",
        "set_at": "2026-11-25T10:00:00+00:00",
        "set_by": "ci:build-1",
        "submitted_at": 1_800_000_000.5,
    }
    record.update(changes)
    return json.dumps(record).encode()


def test_the_pointer_record_round_trips_and_gives_its_lineage():
    current = read_current(_record(), "gs://b/templates/current/penguins.json")
    assert read_current(current.to_bytes(), "again") == current
    assert current.lineage() == Lineage("c" * 40, "d" * 64, SHA, "img@sha256:" + "0" * 64)
    assert (
        current_location("gs://penguins-prod-artifacts/", "penguins")
        == "gs://penguins-prod-artifacts/templates/current/penguins.json"
    )
    assert isinstance(current, CurrentTemplate)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "invalid JSON"),
        (b"[]", "expected a JSON object"),
        (_record(template_sha256="b" * 64), "is not the sha256 in template"),
        (_record(job_id=""), "job_id must be a non-empty string"),
        (_record(modules_sha256="short"), "modules_sha256 'short' is not a sha256"),
        (_record(submitted_at="yesterday"), "submitted_at must be a number"),
        (json.dumps({"template": "x"}).encode(), "missing"),
    ],
)
def test_a_broken_pointer_record_is_refused_naming_the_field(data, message):
    with pytest.raises(ValueError, match=message) as error:
        read_current(data, "gs://b/templates/current/penguins.json")
    assert "gs://b/templates/current/penguins.json" in str(error.value)
