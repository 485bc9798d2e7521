"""SpanRangeGen: turns the `span_start`/`span_end` pipeline parameters into CsvExampleGen's range config.

A RuntimeParameter cannot be given to ExampleGen's `range_config` directly (the KFP v2 compiler drops
it), so this component emits the config as a String artifact that ExampleGen reads via a placeholder.
"""

import json

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from contracts.parameters import validate_span_range


def range_config_json(span_start: int, span_end: int) -> str:
    """RangeConfig JSON: the newest span for 0..0, else the static range span_start..span_end."""
    start, end = validate_span_range(span_start, span_end)
    if start == 0:
        return json.dumps({"rolling_range": {"num_spans": 1}})
    return json.dumps({"static_range": {"start_span_number": start, "end_span_number": end}})


@component
def SpanRangeGen(  # noqa: N802 - TFX components are named like classes.
    span_start: Parameter[int],
    span_end: Parameter[int],
    range_config: OutputArtifact[standard_artifacts.String],
) -> None:
    """Validate the span range and emit it as a RangeConfig in JSON."""
    range_config.value = range_config_json(span_start, span_end)
