"""The model-tests route: a pipeline's champion held to the model tests as they are now.

    python -m release.model_tests.run [--env local] [--pipeline NAME | --all-pipelines] [--local-root DIR]
                                      [--build BUILD_ID] [--json]

Runs when release/model_tests/ or a pipeline's model tests change (ci/routing.py: `model-tests`; locally
`nox -s cicd` runs it). It loads the pipeline's current champion, runs that pipeline's tests (suite.py) and
records the outcome with the version and the tests' digest (records.py; a verdict already recorded for both
is reused, the tests being deterministic). A champion that fails is reported, and where the environment says
`release.on_failed_model_tests: rollback`, rolled back to the champion before it, provided that one passes
the same tests; the rollback is a recorded move like any other (release/promotion/).
--pipeline is needed when the environment has several pipelines (without it: exit status 2, listing them);
--all-pipelines tests each pipeline's champion in turn (what the route runs) and reports each.
Exit status: 0 the champion passed (or there is none), 1 it failed (rolled back or not; with --all-pipelines,
one of them), 2 bad input, 3 retry (Google Cloud unavailable, a move in progress), 4 Google Cloud refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, add_pipeline_argument
from contracts.registry import RegistryError, SmokeTestFailedError, registry_target
from release.cloud_errors import UNAVAILABLE, exit_status
from release.model_tests import ModelTestsNotRunError
from release.promotion.targets import load_pipeline_target, load_target


@dataclass
class Report:
    environment: str
    pipeline: str
    # The registered model: <pipeline>-<environment>.
    model: str
    champion: str | None = None
    tests_sha256: str = ""
    passed: bool | None = None
    detail: str = ""
    rolled_back_to: str | None = None
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.champion is None:
            return f"{self.model}: no champion to test"
        verdict = "passed" if self.passed else f"FAILED: {self.detail}"
        lines = [f"{self.model}: champion {self.champion}, model tests {self.tests_sha256[:12]}: {verdict}"]
        if self.rolled_back_to:
            lines.append(f"  rolled back to version {self.rolled_back_to}")
        return "\n".join(lines + [f"  {note}" for note in self.notes])


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="model_tests", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="environment: a name in envs/, or a file")
    add_pipeline_argument(parser)
    parser.add_argument(
        "--all-pipelines", action="store_true", help="test each pipeline's champion in turn (the model-tests route)"
    )
    parser.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    parser.add_argument("--build", metavar="BUILD_ID", help="Google Cloud: the build this runs in (for the records)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def check_champion(config: Any, local_root: Path | None, by: str) -> Report:
    """Test the champion of `config`'s pipeline (a config for one pipeline) with that pipeline's tests, record the
    verdict, roll back where the environment says so."""
    from components.registry import open_registry
    from release.model_tests.records import outcomes_for
    from release.model_tests.suite import run_suite, suite_sha256
    from release.promotion.moves import ModelTestGate, open_mover

    pipeline = config.dataset
    registry = open_registry(registry_target(config, local_root))
    mover = open_mover(registry)
    report = Report(config.name, pipeline, config.pipeline_name, tests_sha256=suite_sha256(pipeline))
    with mover.locked():
        report.notes += [f"settled {e.describe()}" for e in mover.settle()]
        report.champion = mover.current()
    if report.champion is None:
        return report
    project = registry.target.project

    def tester(version: Any) -> None:
        run_suite(version, pipeline=pipeline, project=project)

    gate = ModelTestGate(outcomes_for(registry.target), report.tests_sha256, lambda: tester, by)
    try:
        gate.require(registry, report.champion)
        report.passed, report.detail = True, "passed"
    except SmokeTestFailedError as err:
        report.passed, report.detail = False, str(err)
        if config.release.on_failed_model_tests == "rollback":
            _roll_back(mover, gate, report, by)
    return report


def _roll_back(mover: Any, gate: Any, report: Report, by: str) -> None:
    """Back to the champion before the failing one, if that one passes the same tests."""
    from release.promotion.journal import committed
    from release.promotion.moves import rollback
    from release.promotion.rules import previous_champion

    try:
        with mover.locked():
            target = previous_champion(committed(mover.entries()), report.champion)
        gate.require(mover.registry, target)
    except (RegistryError, ModelTestsNotRunError) as err:
        report.notes.append(f"not rolled back: {err}")
        return
    policy = "release.on_failed_model_tests: rollback"
    move = rollback(
        mover,
        gate,
        to=target,
        by=by,
        reason=f"champion {report.champion} failed model tests {report.tests_sha256[:12]}: {report.detail}",
        approved_by=f"{report.environment}'s policy ({policy})",
    )
    report.rolled_back_to = move.to_version


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    args = _parse(argv)
    by = f"model-tests{f' build {args.build}' if args.build else ''}"
    try:
        if args.all_pipelines and args.pipeline:
            raise ConfigError("--pipeline and --all-pipelines: give one")
        if args.all_pipelines:
            configs = load_target(args.env).each_pipeline()
        else:
            configs = [load_pipeline_target(args.env, args.pipeline)]
        reports = [check_champion(config, args.local_root, by) for config in configs]
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (RegistryError, ModelTestsNotRunError) as err:
        from release.promotion.vertex_journal import MoveInProgressError

        print(f"error: {err}", file=sys.stderr)
        return UNAVAILABLE if isinstance(err, MoveInProgressError) else 2 if isinstance(err, RegistryError) else 1
    except Exception as err:
        return exit_status(err)
    if args.json:
        data: Any = [asdict(r) for r in reports] if args.all_pipelines else asdict(reports[0])
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(report.text() for report in reports))
    return 0 if all(report.passed is not False for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
