"""The trigger message contract: what is accepted, what is converted, and what is refused naming the field.

contracts/trigger_message.py, shipped in the function's archive: the function, the Scheduler payloads infra
writes (contracts/environment.py) and the local trigger command all validate with it.
"""

from __future__ import annotations

import json
import math

import pytest

from contracts import trigger_message
from contracts.parameters import LEARNING_RATE, NUM_EPOCHS, SPAN_END, SPAN_START, validate_span_range
from contracts.run_request import validate_parameters
from contracts.trigger_message import MessageError, TriggerMessage, parse_message
from tests.function import ARTICLE_MESSAGE, SCHEDULER_MESSAGE

BASE = {"num_epochs": 3, "learning_rate": 0.01}


def with_(**changes):
    message = dict(BASE)
    for key, value in changes.items():
        if value is DROP:
            message.pop(key, None)
        else:
            message[key] = value
    return message


DROP = object()

VALID = [
    pytest.param(ARTICLE_MESSAGE, {"num_epochs": 3, "learning_rate": 0.01}, id="article"),
    pytest.param(SCHEDULER_MESSAGE, {"num_epochs": 3, "learning_rate": 0.01}, id="scheduler-strings"),
    pytest.param(with_(num_epochs=1, learning_rate=1), {"num_epochs": 1, "learning_rate": 1.0}, id="lower-upper"),
    pytest.param(with_(num_epochs=1000, learning_rate=5e-324), {"num_epochs": 1000}, id="max-epochs-tiny-lr"),
    pytest.param(with_(num_epochs=3.0), {"num_epochs": 3}, id="integral-float"),
    pytest.param(with_(num_epochs="1e3"), {"num_epochs": 1000}, id="exponent-string"),
    pytest.param(with_(num_epochs="+7", learning_rate=".5"), {"num_epochs": 7, "learning_rate": 0.5}, id="signs"),
    pytest.param(with_(learning_rate="1E-2"), {"learning_rate": 0.01}, id="upper-e"),
    pytest.param(with_(schema_version=1), {"schema_version": 1}, id="version"),
    pytest.param(with_(schema_version="1"), {"schema_version": 1}, id="version-string"),
    pytest.param(with_(span_start=4, span_end=4), {"span_start": 4, "span_end": 4}, id="one-span"),
    pytest.param(with_(span_start="4", span_end="4"), {"span_start": 4, "span_end": 4}, id="span-strings"),
    pytest.param(with_(span_start=0, span_end=0), {"span_start": 0, "span_end": 0}, id="newest-explicit"),
    pytest.param(with_(span_start=3, span_end=5), {"span_start": 3, "span_end": 5}, id="window"),
    pytest.param(with_(enable_caching=False), {"enable_caching": False}, id="no-cache"),
    pytest.param(with_(enable_caching="false"), {"enable_caching": False}, id="no-cache-string"),
    pytest.param(with_(source="cloud-scheduler_1"), {"source": "cloud-scheduler_1"}, id="source"),
    pytest.param(with_(idempotency_key="weekly:2024-06-03.v1_A"), {"idempotency_key": "weekly:2024-06-03.v1_A"}),
    pytest.param(with_(idempotency_key="k" * 128), {"idempotency_key": "k" * 128}, id="key-128"),
]


@pytest.mark.parametrize(("payload", "expected"), VALID)
@pytest.mark.parametrize("form", ["dict", "str", "bytes"])
def test_valid_messages(payload, expected, form):
    data = {"dict": payload, "str": json.dumps(payload), "bytes": json.dumps(payload).encode()}[form]
    message = parse_message(data)
    dumped = message.model_dump()
    for key, value in expected.items():
        assert dumped[key] == value and type(dumped[key]) is type(value), key
    assert type(message.num_epochs) is int and type(message.learning_rate) is float


def test_defaults_and_parameters():
    message = parse_message(ARTICLE_MESSAGE)
    assert message.schema_version == 1
    assert message.enable_caching is True
    assert message.source == "pubsub"
    assert message.idempotency_key is None
    assert message.parameters() == {"num_epochs": 3, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    # What a message asks for is what the pipeline's own contract accepts, unchanged.
    assert validate_parameters(message.parameters()) == message.parameters()


REJECTED = [
    # unknown fields
    pytest.param(with_(batch_size=8), "batch_size", "unknown field", id="unknown-field"),
    pytest.param(with_(numEpochs=3), "numEpochs", "unknown field", id="unknown-camel"),
    pytest.param({"num_epochs": 3, "learning_rate": 0.1, "num_epochs ": 4}, '"num_epochs "', "unknown", id="space"),
    # wrong types
    pytest.param(with_(num_epochs="three"), "num_epochs", "numeric string", id="epochs-word"),
    pytest.param(with_(num_epochs="3.5"), "num_epochs", "whole number", id="epochs-3.5-string"),
    pytest.param(with_(num_epochs=3.5), "num_epochs", "whole number", id="epochs-3.5"),
    pytest.param(with_(num_epochs=" 3"), "num_epochs", "numeric string", id="epochs-whitespace"),
    pytest.param(with_(num_epochs="1_000"), "num_epochs", "numeric string", id="epochs-underscore"),
    pytest.param(with_(num_epochs="0x10"), "num_epochs", "numeric string", id="epochs-hex"),
    pytest.param(with_(num_epochs=[3]), "num_epochs", "array", id="epochs-list"),
    pytest.param(with_(num_epochs={"value": 3}), "num_epochs", "object", id="epochs-object"),
    pytest.param(with_(learning_rate="fast"), "learning_rate", "numeric string", id="lr-word"),
    pytest.param(with_(learning_rate=""), "learning_rate", "numeric string", id="lr-empty"),
    pytest.param(with_(enable_caching="yes"), "enable_caching", "true or false", id="caching-yes"),
    pytest.param(with_(enable_caching=1), "enable_caching", "true or false", id="caching-1"),
    pytest.param(with_(source=7), "source", "string", id="source-number"),
    pytest.param(with_(pipeline="Penguins"), "pipeline", "not a pipeline's name", id="pipeline-uppercase"),
    pytest.param(with_(pipeline="p"), "pipeline", "2-20 lowercase letters", id="pipeline-too-short"),
    pytest.param(with_(pipeline=None), "pipeline", "null is not allowed", id="pipeline-null"),
    pytest.param(
        with_(pipeline=["penguins"]), "pipeline", "expected a pipeline's name, got an array", id="pipeline-list"
    ),
    pytest.param(with_(source="Cloud Scheduler"), "source", "character 'C' at position 0", id="source-label"),
    pytest.param(with_(source=""), "source", "has 0 characters; use 1-63", id="source-empty"),
    pytest.param(with_(source="s" * 64), "source", "has 64 characters", id="source-64"),
    pytest.param(with_(schema_version=2), "schema_version", "unsupported version 2", id="version-2"),
    pytest.param({"schema_version": 2, "epochs": 3}, "schema_version", "unsupported", id="version-2-first"),
    pytest.param(with_(schema_version="one"), "schema_version", "unsupported", id="version-word"),
    pytest.param(with_(schema_version=True), "schema_version", "boolean", id="version-bool"),
    # out of range
    pytest.param(with_(num_epochs=0), "num_epochs", "outside [1, 1000]", id="epochs-0"),
    pytest.param(with_(num_epochs=1001), "num_epochs", "outside [1, 1000]", id="epochs-1001"),
    pytest.param(with_(num_epochs=-3), "num_epochs", "outside", id="epochs-negative"),
    pytest.param(with_(num_epochs=10**30), "num_epochs", "outside", id="epochs-huge"),
    pytest.param(with_(num_epochs="1e400"), "num_epochs", "outside", id="epochs-huge-string"),
    pytest.param(with_(learning_rate=0), "learning_rate", "outside (0, 1]", id="lr-0"),
    pytest.param(with_(learning_rate="0.0"), "learning_rate", "outside (0, 1]", id="lr-0-string"),
    pytest.param(with_(learning_rate=1.0000001), "learning_rate", "outside", id="lr-above-1"),
    pytest.param(with_(learning_rate=-0.1), "learning_rate", "outside", id="lr-negative"),
    pytest.param(with_(learning_rate="1e-400"), "learning_rate", "outside", id="lr-underflows-to-0"),
    pytest.param(with_(learning_rate=10**400), "learning_rate", "outside", id="lr-huge-int"),
    pytest.param(with_(span_start=1_000_001, span_end=1_000_001), "span_start", "outside", id="span-huge"),
    pytest.param(with_(span_start=-1, span_end=-1), "span_start", "outside", id="span-negative"),
    # NaN and Infinity, as JSON constants (Python's json reads them) and as strings
    pytest.param(with_(learning_rate=math.nan), "learning_rate", "finite", id="lr-nan"),
    pytest.param(with_(learning_rate=math.inf), "learning_rate", "finite", id="lr-inf"),
    pytest.param(with_(learning_rate=-math.inf), "learning_rate", "finite", id="lr-minus-inf"),
    pytest.param(with_(learning_rate="nan"), "learning_rate", "finite", id="lr-nan-string"),
    pytest.param(with_(learning_rate="NaN"), "learning_rate", "finite", id="lr-NaN-string"),
    pytest.param(with_(learning_rate="inf"), "learning_rate", "finite", id="lr-inf-string"),
    pytest.param(with_(learning_rate="-Infinity"), "learning_rate", "finite", id="lr-minus-infinity-string"),
    pytest.param(with_(num_epochs=math.nan), "num_epochs", "finite", id="epochs-nan"),
    pytest.param(with_(num_epochs="Infinity"), "num_epochs", "finite", id="epochs-infinity-string"),
    # booleans where numbers belong
    pytest.param(with_(num_epochs=True), "num_epochs", "boolean", id="epochs-true"),
    pytest.param(with_(learning_rate=True), "learning_rate", "boolean", id="lr-true"),
    pytest.param(with_(learning_rate=False), "learning_rate", "boolean", id="lr-false"),
    pytest.param(with_(span_start=True, span_end=True), "span_start", "boolean", id="span-true"),
    # null
    pytest.param(with_(num_epochs=None), "num_epochs", "required, got null", id="epochs-null"),
    pytest.param(with_(learning_rate=None), "learning_rate", "required, got null", id="lr-null"),
    pytest.param(with_(span_start=None), "span_start", "null", id="span-null"),
    pytest.param(with_(enable_caching=None), "enable_caching", "null", id="caching-null"),
    pytest.param(with_(idempotency_key=None), "idempotency_key", "null", id="key-null"),
    pytest.param(with_(num_epochs=DROP), "num_epochs", "required", id="epochs-missing"),
    pytest.param(with_(learning_rate=DROP), "learning_rate", "required", id="lr-missing"),
    pytest.param({}, "num_epochs", "required", id="empty-object"),
    # bad idempotency keys
    pytest.param(with_(idempotency_key=""), "idempotency_key", "has 0 characters; use 1-128", id="key-empty"),
    pytest.param(with_(idempotency_key="k" * 129), "idempotency_key", "has 129 characters", id="key-129"),
    pytest.param(with_(idempotency_key="a b"), "idempotency_key", "' ' at position 1", id="key-space"),
    pytest.param(with_(idempotency_key="a/b"), "idempotency_key", "'/' at position 1", id="key-slash"),
    pytest.param(with_(idempotency_key="key\n"), "idempotency_key", "'\\n' at position 3", id="key-newline"),
    pytest.param(with_(idempotency_key="clé"), "idempotency_key", "'é' at position 2", id="key-non-ascii"),
    pytest.param(with_(idempotency_key=12), "idempotency_key", "string", id="key-number"),
    # bad span combinations (contracts.parameters.validate_span_range)
    pytest.param(with_(span_start=3), "span_end", "give both", id="start-only"),
    pytest.param(with_(span_end=3), "span_start", "give both", id="end-only"),
    pytest.param(with_(span_start=3, span_end=0), "span_end", "give both", id="end-zero"),
    pytest.param(with_(span_start=5, span_end=3), "span_start", "after span_end", id="start-after-end"),
    pytest.param(with_(span_start=1, span_end=101), "span_end", "at most 100 spans", id="window-too-long"),
]


@pytest.mark.parametrize(("payload", "field", "reason"), REJECTED)
def test_rejected_messages_name_the_field(payload, field, reason):
    with pytest.raises(MessageError) as caught:
        parse_message(payload)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{field}: ")
    # The same through JSON text (NaN and Infinity as JSON constants; huge numbers as digits).
    with pytest.raises(MessageError) as again:
        parse_message(json.dumps(payload))
    assert again.value.field == field


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"not json", "not JSON", id="text"),
        pytest.param(b"", "not JSON", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", "not JSON", id="binary"),
        pytest.param(b'{"num_epochs": 3,', "not JSON", id="truncated"),
        pytest.param("[" * 50_000, "not JSON", id="deeply-nested"),
        pytest.param('{"num_epochs": ' + "9" * 5000 + "}", "not JSON", id="too-many-digits"),
        pytest.param(b" " * (64 * 1024 + 1), "larger than", id="too-large"),
        pytest.param(b"[1, 2]", "JSON object, got an array", id="array"),
        pytest.param(b'"a string"', "JSON object, got a string", id="string"),
        pytest.param(b"3", "JSON object, got a number", id="number"),
        pytest.param(b"null", "JSON object, got null", id="null"),
        pytest.param(b"true", "JSON object, got a boolean", id="boolean"),
    ],
)
def test_non_json_and_non_objects_are_refused(data, reason):
    with pytest.raises(MessageError) as caught:
        parse_message(data)
    assert caught.value.field == "message"
    assert reason in caught.value.reason


def test_a_field_given_twice_is_refused():
    with pytest.raises(MessageError) as caught:
        parse_message(b'{"num_epochs": 3, "learning_rate": 0.1, "num_epochs": 500}')
    assert caught.value.field == "num_epochs"
    assert "more than once" in caught.value.reason


def test_an_empty_field_name_is_shown_quoted():
    with pytest.raises(MessageError) as caught:
        parse_message({**BASE, "": 1})
    assert caught.value.field == '""' and "unknown field" in caught.value.reason


def test_several_problems_name_the_others_too():
    with pytest.raises(MessageError) as caught:
        parse_message({"num_epochs": 0, "learning_rate": "nan", "batch": 1})
    assert caught.value.field == "num_epochs"
    assert "learning_rate" in caught.value.reason and "batch" in caught.value.reason


def test_errors_never_echo_a_long_value():
    secret = "s3cr3t-" * 40
    for payload in (with_(num_epochs=secret), with_(idempotency_key=secret), with_(**{secret: 1})):
        with pytest.raises(MessageError) as caught:
            parse_message(payload)
        assert secret not in str(caught.value)
        assert len(str(caught.value)) < 400


def test_attributes_may_carry_source_and_idempotency_key():
    message = parse_message(ARTICLE_MESSAGE, {"source": "scheduler", "idempotency_key": "k1", "other": "ignored"})
    assert (message.source, message.idempotency_key) == ("scheduler", "k1")
    agreed = parse_message(with_(source="scheduler"), {"source": "scheduler"})
    assert agreed.source == "scheduler"
    with pytest.raises(MessageError) as caught:
        parse_message(with_(source="ci"), {"source": "scheduler"})
    assert caught.value.field == "source"
    with pytest.raises(MessageError) as caught:
        parse_message(ARTICLE_MESSAGE, {"idempotency_key": "not ok"})
    assert caught.value.field == "idempotency_key"


def test_a_validated_message_round_trips():
    message = parse_message(with_(span_start="2", span_end=2, idempotency_key="k", enable_caching="true"))
    dumped = message.model_dump(mode="json", exclude_none=True)
    assert TriggerMessage.model_validate(dumped) == message
    assert parse_message(json.dumps(dumped)) == message


@pytest.mark.parametrize("parameter", [NUM_EPOCHS, LEARNING_RATE, SPAN_START, SPAN_END], ids=lambda p: p.name)
def test_the_ranges_are_the_pipeline_parameters(parameter):
    """The message takes each range from contracts/parameters.py: its edges are accepted, just past them refused."""
    spans = {"span_start": 0, "span_end": 0}

    def message(value):
        fields = {**BASE, **spans, parameter.name: value}
        if parameter in (SPAN_START, SPAN_END):  # One span: both ends equal.
            fields.update(span_start=value, span_end=value)
        return fields

    low = parameter.minimum if not parameter.exclusive_minimum else parameter.minimum + 1e-9
    assert parse_message(message(low)).parameters()[parameter.name] == low
    assert parse_message(message(parameter.maximum)).parameters()[parameter.name] == parameter.maximum
    for outside in (parameter.minimum if parameter.exclusive_minimum else parameter.minimum - 1, parameter.maximum + 1):
        with pytest.raises(MessageError) as caught:
            parse_message(message(outside))
        assert caught.value.field in (parameter.name, "span_start")
        assert f"outside {parameter.range_text()}" in caught.value.reason
    # No range of its own: the module holds no bounds but the parameters'.
    assert not [name for name in vars(trigger_message) if name.endswith(("_MIN", "_MAX"))]


def test_the_span_rule_is_the_pipelines():
    """The same verdict as validate_span_range on a grid around the edges, with the reason it gives."""
    for start in (0, 1, 2, 5):
        for end in (0, 1, 2, 5, 100, 101):
            try:
                validate_span_range(start, end)
                pipeline_error = None
            except ValueError as err:
                pipeline_error = str(err)
            try:
                parse_message(with_(span_start=start, span_end=end))
                message_error = None
            except MessageError as err:
                message_error = str(err)
            assert message_error == pipeline_error, (start, end)


def test_a_message_may_name_its_pipeline_and_is_refused_by_another_pipelines_receiver():
    message = parse_message({**ARTICLE_MESSAGE, "pipeline": "diabetes"})
    assert message.pipeline == "diabetes" and "pipeline" not in message.parameters()
    assert message.for_pipeline("diabetes") is message and message.for_pipeline(None) is message
    with pytest.raises(MessageError, match=r"^pipeline: the message is for pipeline 'diabetes'; this function runs"):
        message.for_pipeline("penguins")
    # A message naming none is for whichever pipeline receives it (the article's message).
    assert parse_message(ARTICLE_MESSAGE).for_pipeline("penguins").pipeline is None
