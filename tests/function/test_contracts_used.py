"""The function restates no contract: job ids, labels, ranges and the PipelineJob come from contracts/.

(Tests that compared restated copies with the pipeline's originals were needed while the function's folder
could not import the contracts; now it ships them, so these check that it uses them and defines none itself.)
"""

from __future__ import annotations

import ast

import submission
import vertex
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import run_request, trigger_message
from contracts.parameters import PIPELINE_PARAMETERS
from contracts.run_request import Lineage, RunRequest, job_id_for, lineage_labels
from contracts.trigger_message import parse_message
from tests.function import FUNCTION_DIR

# What contracts/ defines once; a function module defining one of these would be a second copy.
CONTRACT_NAMES = {
    name
    for module in (run_request, trigger_message)
    for name, value in vars(module).items()
    if callable(value) and getattr(value, "__module__", None) == module.__name__
}

CONTRACT_CONSTANTS = {
    name.upper() for module in (run_request, trigger_message) for name in vars(module) if name.lstrip("_").isupper()
}
PARAMETER_WORDS = (*(parameter.name.upper() for parameter in PIPELINE_PARAMETERS), "SPAN")


def test_no_function_module_defines_a_contract():
    for path in FUNCTION_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        defined = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        assert not defined & CONTRACT_NAMES, f"{path.name} restates {sorted(defined & CONTRACT_NAMES)}"
        assigned = [node.targets for node in ast.walk(tree) if isinstance(node, ast.Assign)]
        constants = {target.id.upper() for targets in assigned for target in targets if isinstance(target, ast.Name)}
        # No ranges of the pipeline's parameters, and none of the contracts' own rules (_JOB_ID, _LABEL, ...).
        restated = [c for c in constants if c in CONTRACT_CONSTANTS or any(word in c for word in PARAMETER_WORDS)]
        assert not restated, f"{path.name} restates {restated}"


def test_the_pipeline_job_is_the_contracts_construction():
    assert vertex.pipeline_job_arguments is run_request.pipeline_job_arguments
    source = (FUNCTION_DIR / "vertex.py").read_text()
    assert "aiplatform.PipelineJob(\n            **pipeline_job_arguments(" in source


@settings(max_examples=100, deadline=None, database=None)
@given(
    message_id=st.text(min_size=1, max_size=256),
    key=st.none() | st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True),
    commit=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
)
def test_a_submission_is_the_contracts_run_request(message_id, key, commit):
    """Job id by job_id_for (the key, else the message id), labels by lineage_labels: as CI builds them."""
    message = parse_message(
        {"num_epochs": 3, "learning_rate": 0.1, "idempotency_key": key}
        if key
        else {"num_epochs": 3, "learning_rate": 0.1}
    )
    lineage = Lineage(commit=commit, modules_sha256="a" * 64 if commit else None)
    built = submission.submission_for(message, message_id, "penguins-dev", lineage).request
    expected = RunRequest(
        job_id=job_id_for("penguins-dev", key or message_id),
        parameters=message.parameters(),
        labels=lineage_labels(lineage, source="pubsub", span_start=0, span_end=0, trigger=message_id),
    )
    assert built == expected
