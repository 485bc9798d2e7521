"""Property-based fuzzing of the trigger function (hypothesis), through functions-framework's app.

Whatever a message carries, the function never crashes on it (a bad message is acknowledged with a 2xx and one
WARNING line) and never submits an invalid run: every dry-run log line re-validates with TriggerMessage and with
the run request contract, contracts.run_request.RunRequest, that every submission path builds.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from decimal import Decimal

import functions_framework
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from contracts.run_request import RunRequest
from contracts.trigger_message import TriggerMessage
from tests.function import EVENT_MODES, FUNCTION_ENV, MAIN, log_lines, pubsub_envelope, read_log

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MESSAGE_IDS = itertools.count()

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
numeric_strings = st.sampled_from(
    ["3", "+3", "3.0", "3.5", "1e3", "1e-2", ".5", "0", "-1", " 3", "", "nan", "NaN", "inf", "-Infinity", "1_0",
     "0x10", "1e-400", "1e400", "three", "١"]
)  # fmt: skip
num_epochs = st.one_of(
    st.integers(1, 1000), st.integers(1, 1000).map(str), st.integers(-3, 1003), st.integers(), st.floats(),
    st.booleans(), st.none(), numeric_strings, json_values,
)  # fmt: skip
learning_rate = st.one_of(
    st.floats(min_value=0, max_value=1, exclude_min=True), st.floats(min_value=1e-6, max_value=1).map(repr),
    st.floats(), st.integers(-2, 2), st.booleans(), st.none(), numeric_strings, json_values,
)  # fmt: skip
span = st.one_of(st.integers(0, 3), st.integers(0, 3).map(str), st.integers(), st.floats(), st.booleans(), st.none())
optional_fields = {
    "schema_version": st.sampled_from([1, "1", 1.0, 2, 0, "2", None, True, "v1"]),
    "span_start": span,
    "span_end": span,
    "enable_caching": st.one_of(st.booleans(), st.sampled_from(["true", "false", "TRUE", "yes", 0, 1, None])),
    "source": st.one_of(st.from_regex(r"[a-z0-9_-]{1,63}", fullmatch=True), st.text(max_size=70)),
    "idempotency_key": st.one_of(st.from_regex(r"[A-Za-z0-9._:-]{1,12}", fullmatch=True), st.text(max_size=130)),
}
near_valid = st.fixed_dictionaries({"num_epochs": num_epochs, "learning_rate": learning_rate}, optional=optional_fields)
with_extras = st.builds(
    lambda message, extra: {**message, **extra},
    near_valid,
    st.dictionaries(st.text(max_size=10), json_values, max_size=2),
)
# Valid messages in every accepted form, and each with one field replaced by anything at all.
valid_messages = st.builds(
    lambda required, spans, optional: {**required, **spans, **optional},
    st.fixed_dictionaries(
        {
            "num_epochs": st.one_of(st.integers(1, 1000), st.integers(1, 1000).map(str)),
            "learning_rate": st.one_of(
                st.floats(min_value=0, max_value=1, exclude_min=True),
                st.floats(min_value=1e-6, max_value=1).map(repr),
                st.sampled_from([1, "1e-2", "1E-3", ".5"]),
            ),
        }
    ),
    st.one_of(st.just({}), st.integers(0, 5).map(lambda n: {"span_start": n, "span_end": str(n)})),
    st.fixed_dictionaries(
        {},
        optional={
            "schema_version": st.sampled_from([1, "1"]),
            "enable_caching": st.one_of(st.booleans(), st.sampled_from(["true", "false"])),
            "source": st.from_regex(r"[a-z0-9_-]{1,63}", fullmatch=True),
            "idempotency_key": st.from_regex(r"[A-Za-z0-9._:-]{1,12}", fullmatch=True),
        },
    ),
)
# Values at and around the edges of every range, in every form.
edge_values = st.one_of(
    st.floats(-2, 1002),
    st.floats(-2, 1002).map(repr),
    st.integers(-2, 1002).map(lambda n: f"{n}.0"),
    st.sampled_from([0, 1, 1000, 1001, 0.0, 1.0, 1.0000001, 3.5, "3.5", True, False, 5e-324, 1e-400]),
    numeric_strings,
)
one_field_replaced = st.builds(
    lambda message, name, value: {**message, name: value},
    valid_messages,
    st.sampled_from(["num_epochs", "num_epochs", "learning_rate", "learning_rate", *optional_fields]),
    st.one_of(edge_values, edge_values, scalars, json_values),
)
payloads = st.one_of(
    valid_messages,
    one_field_replaced,
    near_valid,
    near_valid.map(lambda m: {k: v for k, v in m.items() if k != "learning_rate"}),
    with_extras,
    json_values,
)
raw_payloads = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    valid_messages.map(lambda m: json.dumps(m).encode()),
    near_valid.map(lambda m: json.dumps(m).encode()),  # NaN and Infinity as JSON constants.
    near_valid.map(lambda m: json.dumps(m).encode()[:-3]),  # Truncated JSON.
)
attributes = st.one_of(
    st.just({}),
    st.dictionaries(
        st.sampled_from(["source", "idempotency_key", "other"]),
        st.one_of(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), st.text(max_size=10)),
        max_size=2,
    ),
)
modes = st.sampled_from(sorted(EVENT_MODES))


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    log = tmp_path_factory.mktemp("fuzz") / "dry-run.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        for name in FUNCTION_ENV:
            patch.delenv(name, raising=False)
        patch.setenv("TRIGGER_BACKEND", "dry-run")
        patch.setenv("DRY_RUN_LOG", str(log))
        app = functions_framework.create_app(target="trigger_pipeline", source=str(MAIN), signature_type="cloudevent")
        yield app.test_client(), log


def deliver(client, envelope, message_id: str, mode: str) -> tuple[int, list[dict]]:
    headers, body = EVENT_MODES[mode](envelope, message_id)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        status = client.post("/", headers=headers, data=body).status_code
    return status, log_lines(output.getvalue())


def check_submission(line: dict) -> TriggerMessage:
    """A submitted run is valid by both contracts, and is exactly what its message asked for."""
    message = TriggerMessage.model_validate(line["message"])
    request = RunRequest(
        job_id=line["job_id"],
        parameters=line["parameters"],
        labels=line["labels"],
        enable_caching=line["enable_caching"],
    )
    assert request.parameters == message.parameters() == line["parameters"]
    assert request.enable_caching == message.enable_caching
    assert line["labels"]["source"] == message.source
    return message


def as_number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    return None


def check_outcome(status: int, entries: list[dict], new_lines: list[dict], payload) -> None:
    assert 200 <= status < 300, entries  # Never a crash: a bad message is acknowledged, not retried.
    assert len(entries) == 1, entries  # One structured line per delivery.
    (entry,) = entries
    event("submitted" if entry.get("created") else "duplicate" if entry["severity"] == "INFO" else "refused")
    if entry["severity"] == "WARNING":
        assert entry["field"] and entry["reason"] and new_lines == []
        return
    assert entry["severity"] == "INFO", entry
    assert len(new_lines) == (1 if entry["created"] else 0)
    for line in new_lines:
        message = check_submission(line)
        assert line["job_id"] == entry["job_id"]
        if isinstance(payload, dict):
            # What was asked for, converted exactly: "1e-2" is 0.01, "3" is 3.
            assert Decimal(message.num_epochs) == as_number(payload["num_epochs"])
            assert message.learning_rate == float(as_number(payload["learning_rate"]))


@FUZZ
@given(payload=payloads, mode=modes, attrs=attributes)
def test_fuzzed_messages_never_crash_and_never_submit_an_invalid_run(fuzz_env, payload, mode, attrs):
    client, log = fuzz_env
    before = len(read_log(log))
    message_id = f"fuzz-{next(MESSAGE_IDS)}"
    status, entries = deliver(client, pubsub_envelope(payload, message_id, attrs), message_id, mode)
    check_outcome(status, entries, read_log(log)[before:], payload)


@FUZZ
@given(data=raw_payloads, mode=modes)
def test_fuzzed_bytes_never_crash_and_never_submit_an_invalid_run(fuzz_env, data, mode):
    client, log = fuzz_env
    before = len(read_log(log))
    message_id = f"fuzz-raw-{next(MESSAGE_IDS)}"
    status, entries = deliver(client, pubsub_envelope(data, message_id, raw=True), message_id, mode)
    check_outcome(status, entries, read_log(log)[before:], None)


@FUZZ
@given(envelope=st.one_of(json_values, st.fixed_dictionaries({"message": json_values})), mode=modes)
def test_fuzzed_envelopes_are_acknowledged(fuzz_env, envelope, mode):
    client, log = fuzz_env
    before = len(read_log(log))
    status, entries = deliver(client, envelope, f"fuzz-envelope-{next(MESSAGE_IDS)}", mode)
    assert 200 <= status < 300
    assert [entry["severity"] for entry in entries] in (["WARNING"], ["INFO"])
    for line in read_log(log)[before:]:
        check_submission(line)
