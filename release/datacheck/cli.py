"""The new-data check: `python -m release.datacheck [--env local|dev|prod] [--local-root DIR] [--json]`.

The data area is local files, or gs://<prefix>-data/<dataset>/ for an environment with a gcp section.

Freezes the labelled records waiting in incoming/ as a batch, quarantines the bad ones with their reasons,
makes the valid ones the next span, evaluates the champion on them by the gate's metric and submits a retraining
run when it is worse than data.retrain_bound (or always, by policy). Exit status: 0 done (or not enough records
yet), 1 the champion could not be evaluated (run again: the batch resumes), 2 bad input, 3 backend unavailable (retry),
4 Google Cloud refused: credentials, permission, not found (release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, EnvironmentConfig, add_pipeline_argument, load_pipeline_environment
from contracts.registry import CHAMPION, registry_target
from contracts.run_request import SubmissionError
from release.cloud_errors import exit_status
from release.datacheck.check import Check, Report
from release.datacheck.evaluate import evaluate
from release.datacheck.layout import open_store
from release.datacheck.lease import LeaseLostError
from release.datacheck.rules import Rules, load_rules


class EvaluationError(Exception):
    """The champion did not load or predict; the batch stays frozen and the next check resumes it."""


def champion_evaluator(config: EnvironmentConfig, local_root: Path | None, rules: Rules):
    """Evaluate the registry's champion on the rows; {"champion": None} when there is none yet."""

    def run(rows: list[list[str]]) -> dict[str, Any]:
        from components.registry import open_registry

        registry = open_registry(registry_target(config, local_root))
        version = registry.alias_version(CHAMPION)
        if version is None:
            return {"champion": None, "records": len(rows)}
        try:
            return evaluate(registry.get(version).uri, version, rows, rules, config.evaluation.gate)
        except Exception as err:  # Whatever stops the model loading or predicting (a TF error too).
            raise EvaluationError(f"champion {version} could not be evaluated: {type(err).__name__}: {err}") from err

    return run


def build_check(config: EnvironmentConfig, env: str, local_root: Path | None, template: str | None) -> Check:
    from pipelines.sources import pipeline_sources
    from pipelines.worktree import working_tree_lineage
    from release.submit import submitter_for

    sources = pipeline_sources(config.dataset)
    rules = load_rules(sources.schema_file, sources.definition().LABEL)
    store = open_store(config, local_root)
    # The shipped spans first: a check that ran before any pipeline run must not take span-1 from them.
    store.seed(sources.data_dir)
    return Check(
        config=config,
        store=store,
        rules=rules,
        evaluate=champion_evaluator(config, local_root, rules),
        submitter=submitter_for(config, env, template, local_root),
        lineage=working_tree_lineage(config.dataset),
    )


def describe(report: Report, config: EnvironmentConfig) -> str:
    lines = []
    for outcome in report.batches:
        evaluation = outcome["evaluation"]
        champion = evaluation.get("champion")
        score = (
            f"champion {champion}: {evaluation['metric']} {evaluation['value']:.3f}" if champion else "no champion yet"
        )
        per_class = ", ".join(
            f"{c} {v['accuracy']:.2f} ({v['records']})"
            for c, v in evaluation.get("per_class", {}).items()
            if v["accuracy"] is not None
        )
        lines.append(
            f"batch {outcome['batch']}: {outcome['records']} valid records -> span-{outcome['span']}, "
            f"{outcome['quarantined']} quarantined; {score}" + (f" [{per_class}]" if per_class else "")
        )
        files = outcome.get("files", [])
        if files:
            lines.append("  files: " + ", ".join(f"{f['name']} ({f['valid']} valid, {f['bad']} bad)" for f in files))
        reasons = outcome.get("reasons", [])
        for reason in reasons:
            lines.append(f"  quarantined: {reason['file']} line {reason['line']}: {reason['reason']}")
        if outcome["quarantined"] > len(reasons):
            more = outcome["quarantined"] - len(reasons)
            lines.append(f"  quarantined: {more} more, every one in quarantine/{outcome['batch']}.jsonl")
        run = "no run"
        if outcome["submitted"]:
            spans = outcome.get("spans")
            run = outcome["submitted"]["job_id"] + (f" on spans {spans[0]}-{spans[1]}" if spans else "")
        lines.append(f"  retrain: {'yes' if outcome['retrain'] else 'no'} ({outcome['why']}): {run}")
    for redelivered in report.redelivered:
        lines.append(f"redelivered, set aside in processed/redelivered/: {redelivered}")
    if report.waiting_valid or report.waiting_bad or not report.batches:
        lines.append(
            f"waiting in incoming/: {report.waiting_valid} valid, {report.waiting_bad} bad records "
            f"(a batch needs {config.data.min_new_records} valid)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.datacheck", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    parser.add_argument(
        "--template",
        help="vertex: the template the run submits (sha256 or commit:<sha>); default: the environment's pin, else "
        "its current-template pointer",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
        report = build_check(config, args.env, args.local_root, args.template).run()
    except (ConfigError, SubmissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except LeaseLostError as err:
        print(f"error (run the check again: finished steps are kept): {err}", file=sys.stderr)
        return 3
    except EvaluationError as err:
        print(f"error: {err}; the batch stays frozen and the next check resumes it", file=sys.stderr)
        return 1
    except Exception as err:  # cloud failures, BackendUnavailableError among them: 3 retry, 4 set-up
        return exit_status(err, note=" (finished steps are kept)")
    print(json.dumps(report.as_dict(), indent=2, sort_keys=True) if args.json else describe(report, config))
    return 0
