"""SpanRangeGen: turns the `span_start`/`span_end` pipeline parameters into WindowExampleGen's inputs.

A RuntimeParameter cannot be given to ExampleGen's `range_config` directly (the KFP v2 compiler drops
it), so this component emits the configs as String artifacts that ExampleGen reads via placeholders:
- `range_config`: the newest span of the window, for TFX's ExampleGen driver, which resolves exactly one
  span and fingerprints its files for the cache key (locally WindowDriver adds the window's older spans);
- `window`: where the window starts, for WindowExampleGen's executor, which reads every span of it.
"""

import json

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from contracts.parameters import WINDOW_SPANS, validate_span_range


def range_config_json(span_start: int, span_end: int) -> str:
    """RangeConfig JSON for the window's newest span: the newest span for 0..0, else span_end."""
    start, end = validate_span_range(span_start, span_end)
    if start == 0:
        return json.dumps({"rolling_range": {"num_spans": 1}})
    return json.dumps({"static_range": {"start_span_number": end, "end_span_number": end}})


def window_json(span_start: int, span_end: int, window_spans: int) -> str:
    """The window's start: span_start itself, or for 0..0 the newest `window_spans` spans."""
    start, _ = validate_span_range(span_start, span_end)
    if start == 0:
        return json.dumps({"window_spans": int(WINDOW_SPANS.validate(window_spans))})
    return json.dumps({"span_start": start})


@component
def SpanRangeGen(  # noqa: N802 - TFX components are named like classes.
    span_start: Parameter[int],
    span_end: Parameter[int],
    window_spans: Parameter[int],
    range_config: OutputArtifact[standard_artifacts.String],
    window: OutputArtifact[standard_artifacts.String],
) -> None:
    """Validate the span range and emit the newest span's RangeConfig and the window's start, in JSON."""
    range_config.value = range_config_json(span_start, span_end)
    window.value = window_json(span_start, span_end, window_spans)
