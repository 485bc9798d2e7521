"""Run one step of a PipelineJob as Vertex AI would run it: the registry push (TFX environment, Python 3.10).

The step's executor is the real `components.registry_push.Executor` of the checkout it runs in. Its execution
properties come from the job the stand-in holds, as Vertex resolves them: the task's constants in the
compiled spec, its `componentInputParameter`s from the job's runtime parameters (or the pipeline's defaults),
and the `{{$.pipeline_job_resource_name}}` placeholder filled with the job's name. Its input artifacts are the
URIs the driver placed in the pipeline root; its Google credentials are the pipeline account's (the metadata
server in the environment).

    python -m rehearsal.pipeline_step REQUEST.json   # {"job": {...}, "task": "RegistryPush", "inputs": {...}}

Prints one JSON line: the pushed artifact's custom properties, or {"error": ...} with exit status 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any

JOB_NAME_PLACEHOLDER = "{{$.pipeline_job_resource_name}}"


def _value(found: Any) -> Any:
    """A KFP parameter value in either form: the old typed one ({"stringValue": ...}) or a plain JSON value."""
    if isinstance(found, dict) and len(found) == 1:
        key = next(iter(found))
        if key in ("stringValue", "intValue", "doubleValue", "boolValue"):
            value = found[key]
            return int(value) if key == "intValue" else value
    return found


def execution_properties(job: dict[str, Any], task: str) -> dict[str, Any]:
    spec = job["pipelineSpec"]
    runtime = job.get("runtimeConfig") or {}
    given = {
        **{k: _value(v) for k, v in (runtime.get("parameters") or {}).items()},
        **(runtime.get("parameterValues") or {}),
    }
    defaults = {
        name: _value(d.get("defaultValue"))
        for name, d in ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters", {}).items()
        if "defaultValue" in d
    }
    tasks = spec["root"]["dag"]["tasks"]
    if task not in tasks:
        raise KeyError(f"the compiled pipeline has no task {task!r} (tasks: {', '.join(sorted(tasks))})")
    properties: dict[str, Any] = {}
    for name, source in (tasks[task].get("inputs") or {}).get("parameters", {}).items():
        if "componentInputParameter" in source:
            key = source["componentInputParameter"]
            value = given.get(key, defaults.get(key))
        else:
            runtime_value = source.get("runtimeValue") or {}
            value = _value(runtime_value.get("constant", runtime_value.get("constantValue")))
        if value == JOB_NAME_PLACEHOLDER:
            value = job["name"]
        properties[name] = value
    return properties


def artifacts(inputs: dict[str, Any]) -> dict[str, list[Any]]:
    from tfx.types import standard_artifacts

    kinds = {
        "model": standard_artifacts.Model,
        "model_blessing": standard_artifacts.ModelBlessing,
        "evaluation": standard_artifacts.ModelEvaluation,
        "examples": standard_artifacts.Examples,
        "hyperparameters": standard_artifacts.HyperParameters,
        "pushed_model": standard_artifacts.PushedModel,
    }
    made: dict[str, list[Any]] = {}
    for name, spec in inputs.items():
        artifact = kinds[name]()
        artifact.uri = spec["uri"]
        for key, value in (spec.get("properties") or {}).items():
            if isinstance(value, int):
                artifact.set_int_custom_property(key, value)
            else:
                artifact.set_string_custom_property(key, str(value))
        made[name] = [artifact]
    return made


def main(argv: list[str] | None = None) -> int:
    with open((argv or sys.argv[1:])[0]) as handle:
        request = json.load(handle)
    try:
        from components.registry_push import Executor

        properties = execution_properties(request["job"], request["task"])
        given = artifacts(request["inputs"])
        outputs = {"pushed_model": given.pop("pushed_model")}
        Executor().Do(given, outputs, properties)
    except Exception as err:  # The driver prints the step's failure; the traceback is in the step's log.
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 1
    pushed = outputs["pushed_model"][0]
    print(
        json.dumps(
            {
                "properties": {k: pushed.get_custom_property(k) for k in pushed.mlmd_artifact.custom_properties},
                "execution_properties": sorted(properties),
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
