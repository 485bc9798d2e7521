"""The model-tests route: an environment's champion held to the model tests as they are now.

    python -m release.model_tests.run [--env local] [--local-root DIR] [--build BUILD_ID] [--json]

Runs when release/model_tests/ changes (ci/routing.py: `model-tests`; locally `nox -s cicd` runs it). It
loads the environment's current champion, runs the tests (suite.py) and records the outcome with the version
and the tests' digest (records.py; a verdict already recorded for both is reused, the tests being
deterministic). A champion that fails is reported, and where the environment says
`release.on_failed_model_tests: rollback`, rolled back to the champion before it, provided that one passes
the same tests; the rollback is a recorded move like any other (release/promotion/).
Exit status: 0 the champion passed (or there is none), 1 it failed (rolled back or not), 2 bad input,
3 retry (Google Cloud unavailable, a move in progress), 4 Google Cloud refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contracts.config import ConfigError
from contracts.registry import RegistryError, SmokeTestFailedError, registry_target
from release.cloud_errors import UNAVAILABLE, exit_status
from release.model_tests import ModelTestsNotRunError
from release.promotion.targets import load_target


@dataclass
class Report:
    environment: str
    champion: str | None = None
    tests_sha256: str = ""
    passed: bool | None = None
    detail: str = ""
    rolled_back_to: str | None = None
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        if self.champion is None:
            return f"{self.environment}: no champion to test"
        verdict = "passed" if self.passed else f"FAILED: {self.detail}"
        lines = [f"{self.environment}: champion {self.champion}, model tests {self.tests_sha256[:12]}: {verdict}"]
        if self.rolled_back_to:
            lines.append(f"  rolled back to version {self.rolled_back_to}")
        return "\n".join(lines + [f"  {note}" for note in self.notes])


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="model_tests", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="environment: a name in envs/, or a file")
    parser.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    parser.add_argument("--build", metavar="BUILD_ID", help="Google Cloud: the build this runs in (for the records)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def check_champion(config: Any, local_root: Path | None, by: str) -> Report:
    """Test the champion of `config`'s registry, record the verdict, roll back where the environment says so."""
    from components.registry import open_registry
    from release.model_tests.records import outcomes_for
    from release.model_tests.suite import run_suite, suite_sha256
    from release.promotion.moves import ModelTestGate, open_mover

    registry = open_registry(registry_target(config, local_root))
    mover = open_mover(registry)
    report = Report(config.name, tests_sha256=suite_sha256())
    with mover.locked():
        report.notes += [f"settled {e.describe()}" for e in mover.settle()]
        report.champion = mover.current()
    if report.champion is None:
        return report
    project = registry.target.project

    def tester(version: Any) -> None:
        run_suite(version, project=project)

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
    try:
        config = load_target(args.env)
        report = check_champion(config, args.local_root, f"model-tests{f' build {args.build}' if args.build else ''}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (RegistryError, ModelTestsNotRunError) as err:
        from release.promotion.vertex_journal import MoveInProgressError

        print(f"error: {err}", file=sys.stderr)
        return UNAVAILABLE if isinstance(err, MoveInProgressError) else 2 if isinstance(err, RegistryError) else 1
    except Exception as err:
        return exit_status(err)
    print(json.dumps(asdict(report), indent=2) if args.json else report.text())
    return 0 if report.passed is not False else 1


if __name__ == "__main__":
    sys.exit(main())
