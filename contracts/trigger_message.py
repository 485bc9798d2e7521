"""The trigger message: the one versioned schema of what a Pub/Sub message may ask the pipeline for.

    {"num_epochs": 3, "learning_rate": 1e-2}                    the article's message
    {"num_epochs": "3", "learning_rate": "1e-2"}                what its Cloud Scheduler job sends (strings)
    {"schema_version": 1, "num_epochs": 5, "learning_rate": 0.02, "span_start": 4, "span_end": 4,
     "enable_caching": false, "source": "scheduler", "idempotency_key": "weekly-2024-06-03",
     "pipeline": "diabetes"}

`pipeline` names the pipeline the message is for (its folder under pipelines/); a function runs one pipeline
and refuses a message naming another, and a message without it is for the function's own pipeline.

Everything else is refused with a MessageError naming the field: unknown fields, wrong types, booleans or null
where numbers belong, NaN and Infinity (also as the strings "nan", "inf"), values out of range.

The names and ranges are the pipeline's own (contracts/parameters.py), so a message accepts exactly what a
run accepts. Part of the leaf contracts package: the Cloud Function ships it in its deployed source.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.parameters import LEARNING_RATE, NUM_EPOCHS, SPAN_END, SPAN_START, Parameter, span_range_problem

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)

# A trigger message is a few hundred bytes; anything far larger is refused before it is parsed.
MAX_MESSAGE_BYTES = 64 * 1024
# Message fields that may also be given as Pub/Sub message attributes (the data wins only if they agree).
ATTRIBUTE_FIELDS = ("source", "idempotency_key")

# Vertex label values: lowercase letters, digits, '_' and '-', at most 63 characters.
_SOURCE = re.compile(r"^[a-z0-9_-]{1,63}$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A feature's name as a pipeline's schema has it (the monitor's drifted features).
_FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_DRIFTED_FEATURES = 32
# A pipeline's name: its folder under pipelines/ (a Python package) and a part of every per-pipeline resource
# name (contracts/environment.py: the naming rule), so lowercase letters and digits only.
PIPELINE_PATTERN = r"^[a-z][a-z0-9]{1,19}$"
_PIPELINE_RE = re.compile(PIPELINE_PATTERN)
_SOURCE_CHAR, _IDEMPOTENCY_KEY_CHAR = re.compile(r"[a-z0-9_-]"), re.compile(r"[A-Za-z0-9._:-]")
# A plain decimal number: no whitespace, no '_' separators, no hex; NaN and Infinity are refused separately.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = {"nan", "inf", "infinity", "snan"}


class MessageError(ValueError):
    """A message that can never become a run: `field` names what is wrong, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _show(value: object, limit: int = 40) -> str:
    """A short rendering of a value for an error message: a long string is described, never quoted."""
    if isinstance(value, str) and len(value) > 16:
        return f"a string of {len(value)} characters"
    text = json.dumps(value) if isinstance(value, (bool, type(None))) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _pattern_problem(value: str, allowed: re.Pattern[str], max_length: int, what: str) -> str:
    """Why `value` does not match: its length, or its first character that is not allowed (not the value)."""
    if not 1 <= len(value) <= max_length:
        return f"has {len(value)} characters; use 1-{max_length} {what}"
    position, char = next((i, c) for i, c in enumerate(value) if not allowed.fullmatch(c))
    return f"character {char!r} at position {position} is not allowed; use {what}"


def _name(key: object) -> str:
    """A field name from the input for an error message: shortened, control characters escaped."""
    text = key if isinstance(key, str) else repr(key)
    text = text.encode("unicode_escape").decode("ascii")
    if not text or text != text.strip():
        text = f'"{text}"'  # An empty name, or one with spaces around it, is shown quoted.
    return text if len(text) <= 64 else f"{text[:61]}..."


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _not_null(field: str, value: object, required: bool) -> None:
    if value is None:
        raise MessageError(field, "is required, got null" if required else "null is not allowed; omit the field")


def _text(field: str, value: Any, pattern: re.Pattern[str], expected: str, problem: Callable[[str], str]) -> str:
    """An optional text field: null refused, another type named, a value `pattern` does not match explained by
    `problem` (which never quotes what it must not)."""
    _not_null(field, value, required=False)
    if not isinstance(value, str):
        raise MessageError(field, f"expected {expected}, got {_json_type(value)}")
    if not pattern.fullmatch(value):
        raise MessageError(field, problem(value))
    return value


def _decimal_string(field: str, value: str) -> Decimal:
    """A numeric string ("3", "1e-2") as an exact Decimal; NaN/Infinity and anything else are refused."""
    if value.lower().lstrip("+-") in _NON_FINITE:
        raise MessageError(field, f"must be a finite number, got {_show(value)}")
    if not _DECIMAL.fullmatch(value):
        raise MessageError(field, f"expected a number or a numeric string, got {_show(value)}")
    try:
        return Decimal(value)
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only valid decimals.
        raise MessageError(field, f"expected a number, got {_show(value)}") from err


def _integer(field: str, value: object, low: int, high: int, required: bool = False) -> int:
    """A whole number in [low, high]: a JSON number with an integral value or a numeric string ("3").

    `schema_version` passes its own wide range; the pipeline's parameters go through `_whole`.
    """
    _not_null(field, value, required)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MessageError(field, f"expected a whole number, got {_json_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MessageError(field, f"must be a finite number, got {value}")
    number: int | float | Decimal = _decimal_string(field, value) if isinstance(value, str) else value
    # The range first: a huge value is refused without being converted.
    if not low <= number <= high:
        raise MessageError(field, f"{_show(value)} is outside [{low}, {high}]")
    if number != int(number):
        raise MessageError(field, f"expected a whole number, got {_show(value)}")
    return int(number)


def _whole(parameter: Parameter, value: object, required: bool = False) -> int:
    """An integer pipeline parameter (num_epochs, the spans) in its range, named by the parameter."""
    number = _integer(parameter.name, value, int(parameter.minimum), int(parameter.maximum), required)
    if not parameter.contains(number):  # An excluded minimum (none of today's integer parameters has one).
        raise MessageError(parameter.name, f"{_show(value)} is outside {parameter.range_text()}")
    return number


def _real(parameter: Parameter, value: object) -> float:
    """A float pipeline parameter (learning_rate) in its range: a JSON number or a numeric string ("1e-2")."""
    field = parameter.name
    _not_null(field, value, required=True)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MessageError(field, f"expected a number, got {_json_type(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MessageError(field, f"must be a finite number, got {value}")
    number: int | float | Decimal = _decimal_string(field, value) if isinstance(value, str) else value
    outside = f"{_show(value)} is outside {parameter.range_text()}"
    # The range first, exactly (a Decimal): a huge value is refused without being converted.
    if not parameter.contains(number):
        raise MessageError(field, outside)
    result = float(number)
    if not parameter.contains(result):  # e.g. "1e-400" rounds to 0.0.
        raise MessageError(field, outside)
    return result


def _bounds(parameter: Parameter) -> dict[str, Any]:
    """The parameter's range as pydantic Field constraints (the JSON schema; the validators enforce it)."""
    low = "gt" if parameter.exclusive_minimum else "ge"
    return {low: parameter.minimum, "le": parameter.maximum}


class TriggerMessage(BaseModel):
    """Version 1 of the trigger message. Validate with `parse_message` to get a MessageError naming the field."""

    # Inputs never appear in error texts: a message may carry something that must not reach the logs.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    schema_version: Literal[1] = 1
    num_epochs: int = Field(**_bounds(NUM_EPOCHS))
    learning_rate: float = Field(**_bounds(LEARNING_RATE), allow_inf_nan=False)
    # The data spans a run trains on: both 0 (the default) is the newest window, else 1 <= span_start <= span_end.
    span_start: int = Field(int(SPAN_START.default), **_bounds(SPAN_START))
    span_end: int = Field(int(SPAN_END.default), **_bounds(SPAN_END))
    enable_caching: bool = True
    # What kind of trigger sent the message; becomes the run's `source` label.
    source: str = Field("pubsub", pattern=_SOURCE.pattern)
    # Messages with the same key start one run, whatever their Pub/Sub message ids.
    idempotency_key: str | None = Field(None, pattern=_IDEMPOTENCY_KEY.pattern)
    # The pipeline the message is for; None: the receiving function's own.
    pipeline: str | None = Field(None, pattern=PIPELINE_PATTERN)
    # The monitor's reason to retrain (source: monitoring): the features (and "prediction") that drifted in its
    # window; the run carries them as its `drifted` label.
    drifted_features: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _check_version(cls, data: Any) -> Any:
        # Before anything else: another version may have other fields, so report the version, not them.
        if isinstance(data, Mapping) and "schema_version" in data:
            version = data["schema_version"]
            _not_null("schema_version", version, required=False)
            if isinstance(version, bool) or not isinstance(version, (int, float, str)):
                raise MessageError("schema_version", f"expected a whole number, got {_json_type(version)}")
            try:
                number = _integer("schema_version", version, -(2**63), 2**63)
            except MessageError:
                number = None
            if number not in SUPPORTED_SCHEMA_VERSIONS:
                supported = ", ".join(map(str, SUPPORTED_SCHEMA_VERSIONS))
                raise MessageError("schema_version", f"unsupported version {_show(version)} (supported: {supported})")
            data = {**data, "schema_version": number}
        return data

    @field_validator("num_epochs", mode="before")
    @classmethod
    def _num_epochs(cls, value: Any) -> int:
        return _whole(NUM_EPOCHS, value, required=True)

    @field_validator("learning_rate", mode="before")
    @classmethod
    def _learning_rate(cls, value: Any) -> float:
        return _real(LEARNING_RATE, value)

    @field_validator("span_start", "span_end", mode="before")
    @classmethod
    def _span(cls, value: Any, info: Any) -> int:
        return _whole(SPAN_START if info.field_name == SPAN_START.name else SPAN_END, value)

    @field_validator("enable_caching", mode="before")
    @classmethod
    def _enable_caching(cls, value: Any) -> bool:
        _not_null("enable_caching", value, required=False)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise MessageError("enable_caching", f"expected true or false, got {_json_type(value)} {_show(value)}")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> str:
        what = "lowercase letters, digits, '_' or '-'"
        return _text("source", value, _SOURCE, "a string", lambda v: _pattern_problem(v, _SOURCE_CHAR, 63, what))

    @field_validator("idempotency_key", mode="before")
    @classmethod
    def _idempotency_key(cls, value: Any) -> str:
        what = "letters, digits, '.', '_', ':' or '-'"
        return _text(
            "idempotency_key",
            value,
            _IDEMPOTENCY_KEY,
            "a string",
            lambda v: _pattern_problem(v, _IDEMPOTENCY_KEY_CHAR, 128, what),
        )

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline(cls, value: Any) -> str:
        return _text(
            "pipeline",
            value,
            _PIPELINE_RE,
            "a pipeline's name",
            lambda v: f"{_show(v)} is not a pipeline's name (2-20 lowercase letters and digits, a letter first)",
        )

    @field_validator("drifted_features", mode="before")
    @classmethod
    def _drifted_features(cls, value: Any) -> tuple[str, ...]:
        _not_null("drifted_features", value, required=False)
        if not isinstance(value, (list, tuple)):
            raise MessageError("drifted_features", f"expected a list of feature names, got {_json_type(value)}")
        if len(value) > MAX_DRIFTED_FEATURES:
            raise MessageError("drifted_features", f"at most {MAX_DRIFTED_FEATURES} names, got {len(value)}")
        for name in value:
            if not isinstance(name, str) or not _FEATURE.match(name):
                raise MessageError("drifted_features", f"{_show(name)} is not a feature's name")
        return tuple(value)

    @model_validator(mode="after")
    def _check_spans(self) -> TriggerMessage:
        # The pipeline's own span rule (contracts.parameters), naming the field to change.
        problem = span_range_problem(self.span_start, self.span_end)
        if problem is not None:
            raise MessageError(*problem)
        return self

    def for_pipeline(self, pipeline: str | None) -> TriggerMessage:
        """This message, checked to be for `pipeline` (the receiver's; None: a receiver of any pipeline):
        MessageError naming the field when it names another one."""
        if pipeline is not None and self.pipeline is not None and self.pipeline != pipeline:
            raise MessageError(
                "pipeline",
                f"the message is for pipeline {self.pipeline!r}; this function runs {pipeline!r} "
                f"(publish to {self.pipeline}'s trigger instead)",
            )
        return self

    def parameters(self) -> dict[str, int | float]:
        """The pipeline's runtime parameters, typed: what a PipelineJob or a local run receives."""
        return {
            NUM_EPOCHS.name: self.num_epochs,
            LEARNING_RATE.name: self.learning_rate,
            SPAN_START.name: self.span_start,
            SPAN_END.name: self.span_end,
        }


class _JSONObject(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers keys given more than once (json keeps only the last)."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _JSONObject:
    result = _JSONObject(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        result.duplicates = tuple(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
    return result


def _error_from(err: ValidationError) -> MessageError:
    """The first problem of a ValidationError as a MessageError (schema_version first), naming the others."""
    problems: list[MessageError] = []
    for error in err.errors(include_url=False):
        cause = error.get("ctx", {}).get("error")
        field = ".".join(str(part) for part in error["loc"])
        if isinstance(cause, MessageError):
            problems.append(cause)
        elif error["type"] == "extra_forbidden":
            known = ", ".join(TriggerMessage.model_fields)
            problems.append(MessageError(_name(error["loc"][0]), f"unknown field (known: {known})"))
        elif error["type"] == "missing":
            problems.append(MessageError(field, "is required"))
        elif error["type"] in ("model_type", "dict_type"):
            problems.append(MessageError("message", "expected a JSON object"))
        else:
            problems.append(MessageError(field or "message", str(error["msg"])))
    problems.sort(key=lambda problem: problem.field != "schema_version")
    first = problems[0]
    if len(problems) > 1:
        others = ", ".join(dict.fromkeys(problem.field for problem in problems[1:] if problem.field != first.field))
        if others:
            return MessageError(first.field, f"{first.reason} (also wrong: {others})")
    return first


def parse_message(
    data: bytes | bytearray | str | Mapping[str, Any], attributes: Mapping[str, str] | None = None
) -> TriggerMessage:
    """Validate a message: JSON text or bytes, or an already decoded object. Raises MessageError naming the field.

    `attributes` are the Pub/Sub message attributes: `source` and `idempotency_key` may be given there instead
    of in the data (if both, they must agree); other attributes are ignored.
    """
    if isinstance(data, (bytes, bytearray, str)):
        size = len(data.encode() if isinstance(data, str) else data)
        if size > MAX_MESSAGE_BYTES:
            raise MessageError("message", f"{size} bytes is larger than the limit of {MAX_MESSAGE_BYTES}")
        try:
            value = json.loads(data, object_pairs_hook=_object)
        except RecursionError:
            raise MessageError("message", "not JSON: nested too deeply") from None
        except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, an integer with too many digits.
            if isinstance(err, json.JSONDecodeError):
                reason = f"{err.msg} at line {err.lineno} column {err.colno}"
            else:  # These texts quote no input, at most a byte value and a position.
                reason = str(err)[:120]
            raise MessageError("message", f"not JSON: {reason}") from None
    else:
        value = data
    if not isinstance(value, Mapping):
        raise MessageError("message", f"expected a JSON object, got {_json_type(value)}")
    if isinstance(value, _JSONObject) and value.duplicates:
        raise MessageError(_name(value.duplicates[0]), "given more than once")
    fields = dict(value)
    for name in ATTRIBUTE_FIELDS:
        if attributes and name in attributes:
            if name in fields and fields[name] != attributes[name]:
                raise MessageError(name, "the data and the message attribute of that name disagree")
            fields[name] = attributes[name]
    try:
        return TriggerMessage.model_validate(fields)
    except ValidationError as err:
        raise _error_from(err) from None
