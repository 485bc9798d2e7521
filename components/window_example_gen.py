"""WindowExampleGen: one Examples artifact from every span of a window, span_start..span_end.

TFX 1.16's CsvExampleGen reads one span per execution. This is the same FileBasedExampleGen with the
same driver, input pattern and 2:1 hash-bucket split, and TFX's own CSV-to-tf.Example DoFns; only the
executor reads all the window's spans (<input_base>/span-<N>/*.csv) into the one Beam pipeline, so a row
lands in the same split whichever window it is read in, and column types are inferred over the window.

Because it is a FileBasedExampleGen, both backends run TFX's ExampleGen driver before the cache check:
it resolves the window's newest span (the `range_config`) and fingerprints its files. On Vertex that
fingerprint (and the `window` property) is the cache key: older spans are never rewritten, the data check
only adds new ones. Locally, WindowDriver also fingerprints every older span of the window.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import apache_beam as beam
from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ExecutionParameter
from tfx.types.standard_component_specs import INPUT_BASE_KEY, FileBasedExampleGenSpec
from tfx.utils import io_utils
from tfx_bsl.coders import csv_decoder

# <input_base>/span-<N>/*.csv, N a decimal integer (span-10 is after span-9): contracts/data_layout.py.
from contracts.data_layout import SPAN_FILES, span_folder, span_number
from contracts.parameters import newest_window

WINDOW_KEY = "window"
# Set on the Examples artifact, next to the driver's `span` (the newest): every span it holds.
SPANS_PROPERTY = "spans"
_FILES_KEY = "_window_files"


def window_span_numbers(window: str, newest_span: int) -> list[int]:
    """The spans of a window: from its `span_start` to the newest span, or the newest `window_spans`."""
    spec = json.loads(window)
    if "span_start" in spec:
        start = int(spec["span_start"])
        if not 1 <= start <= newest_span:
            raise ValueError(f"window: span_start {start} is not in 1..{newest_span} (the newest span of the window)")
    else:
        start, _ = newest_window(newest_span, int(spec["window_spans"]))
    return list(range(start, newest_span + 1))


def span_folders(input_base: str) -> dict[int, str]:
    """The span folders under input_base by span number; two folders for one number are an error."""
    found: dict[int, str] = {}
    for entry in fileio.listdir(input_base) if fileio.isdir(input_base) else []:
        number = span_number(entry.rstrip("/"))
        if number is None:
            continue
        if number in found:
            raise ValueError(f"{input_base}: span {number} has two folders, {found[number]} and {entry.rstrip('/')}")
        found[number] = entry.rstrip("/")
    return found


def window_files(input_base: str, spans: list[int]) -> dict[int, list[str]]:
    """Each span's CSV files, sorted; a missing span or one without CSV files is an error naming it."""
    folders = span_folders(input_base)
    files: dict[int, list[str]] = {}
    for number in spans:
        if number not in folders:
            have = ", ".join(str(n) for n in sorted(folders)) or "none"
            raise ValueError(
                f"span {number} is missing: no folder {span_folder(number)} in {input_base} "
                f"(spans there: {have}); the window is spans {spans[0]}..{spans[-1]}"
            )
        found = sorted(fileio.glob(os.path.join(input_base, folders[number], SPAN_FILES)))
        if not found:
            raise ValueError(f"span {number}: no {SPAN_FILES} files in {os.path.join(input_base, folders[number])}")
        files[number] = found
    return files


class WindowDriver(example_gen_driver.FileBasedDriver):
    """TFX's ExampleGen driver (the newest span, its files' fingerprint), fingerprinting the whole window.

    Used by the local orchestrator; the Vertex compiler runs TFX's own driver for any FileBasedExampleGen.
    """

    def resolve_exec_properties(self, exec_properties, pipeline_info, component_info):
        exec_properties = super().resolve_exec_properties(exec_properties, pipeline_info, component_info)
        base = exec_properties[INPUT_BASE_KEY]
        spans = window_span_numbers(exec_properties[WINDOW_KEY], int(exec_properties[utils.SPAN_PROPERTY_NAME]))
        folders = span_folders(base)
        exec_properties[utils.FINGERPRINT_PROPERTY_NAME] = "\n".join(
            f"span {n}: " + io_utils.generate_fingerprint("single_split", os.path.join(base, folders[n], SPAN_FILES))
            for n in spans
            if n in folders  # The executor names a missing span; the fingerprint just leaves it out.
        )
        return exec_properties


@beam.ptransform_fn
def _window_csv_to_example(pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str):
    """TFX's CSV-to-tf.Example steps over every file of the window (the executor resolved them)."""
    csv_files = json.loads(exec_properties[_FILES_KEY])
    column_names = io_utils.load_csv_column_names(csv_files[0])
    for csv_file in csv_files[1:]:
        if io_utils.load_csv_column_names(csv_file) != column_names:
            raise ValueError(f"{csv_file}: its header differs from {csv_files[0]}'s; a window needs one header")
    parsed = (
        pipeline
        | "CreateFilenames" >> beam.Create(csv_files)
        | "ReadFromText" >> beam.ParDo(csv_executor._ReadCsvRecordsFromTextFile())
        | "ParseCSVLine" >> beam.ParDo(csv_decoder.ParseCSVLine(delimiter=","))
        | "ExtractParsedCSVLines" >> beam.Keys()
    )
    column_infos = beam.pvalue.AsSingleton(
        parsed
        | "InferColumnTypes"
        >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(column_names, skip_blank_lines=True))
    )
    return parsed | "ToTFExample" >> beam.ParDo(csv_executor._ParsedCsvToTfExample(), column_infos)


class Executor(BaseExampleGenExecutor):
    """Resolves the window's spans and files (failing before Beam starts), then TFX's ExampleGen executor."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return _window_csv_to_example

    def Do(self, input_dict, output_dict, exec_properties: dict[str, Any]) -> None:  # noqa: N802
        spans = window_span_numbers(exec_properties[WINDOW_KEY], int(exec_properties[utils.SPAN_PROPERTY_NAME]))
        files = window_files(exec_properties[INPUT_BASE_KEY], spans)
        exec_properties = {**exec_properties, _FILES_KEY: json.dumps([f for n in spans for f in files[n]])}
        examples = artifact_utils.get_single_instance(output_dict["examples"])
        examples.set_string_custom_property(SPANS_PROPERTY, ",".join(str(n) for n in spans))
        super().Do(input_dict, output_dict, exec_properties)


def example_spans(examples: types.Artifact) -> list[int]:
    """The spans an Examples artifact holds: its window's, else (another ExampleGen's) its one span."""
    if examples.has_custom_property(SPANS_PROPERTY):
        return [int(n) for n in examples.get_string_custom_property(SPANS_PROPERTY).split(",")]
    return [int(examples.get_int_custom_property(utils.SPAN_PROPERTY_NAME))]


class WindowExampleGenSpec(FileBasedExampleGenSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **FileBasedExampleGenSpec.PARAMETERS,
        # JSON from SpanRangeGen: {"span_start": N} or {"window_spans": W} (the newest W spans).
        WINDOW_KEY: ExecutionParameter(type=str),
    }


class WindowExampleGen(FileBasedExampleGen):
    SPEC_CLASS = WindowExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
    DRIVER_CLASS = WindowDriver

    def __init__(
        self,
        *,
        input_base: str,
        input_config: example_gen_pb2.Input,
        output_config: example_gen_pb2.Output,
        range_config: Any,
        window: Any,
    ) -> None:
        """`range_config` (the newest span) and `window` may be placeholders of SpanRangeGen's outputs."""
        spec = WindowExampleGenSpec(
            input_base=input_base,
            input_config=input_config,
            output_config=output_config,
            custom_config=None,
            range_config=range_config,
            window=window,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        # FileBasedExampleGen's __init__ builds its own spec class; BaseBeamComponent's takes ours.
        super(FileBasedExampleGen, self).__init__(spec=spec)
