"""What follows a registered version: its model tests, then auto-promotion where the environment promotes
automatically. The consumer of RegistryPush's announcement.

On Google Cloud the announcement is a Pub/Sub message that starts the `<prefix>-<pipeline>-autopromote` build
(ci/cloudbuild/promote.yaml, `models auto-promote VERSION`); locally the run worker and `nox -s pipeline`
call `after_registration` once their run has registered a version. Either way it is idempotent: a rerun
after a crash between the registration and the promotion promotes the version (release/promotion/rules.py).
"""

from __future__ import annotations

from pathlib import Path

from contracts.environment import EnvironmentConfig
from contracts.registry import ModelVersion, RegistryError, registry_target
from release.model_tests import ModelTestsNotRunError


def after_registration(config: EnvironmentConfig, local_root: Path | None, version: str, *, by: str) -> str:
    """Test `version` of `config`'s pipeline (in this process: a local run has TensorFlow loaded) and auto-promote
    it; what happened. `config` is for one pipeline (the run's): its registered model, its model tests.

    "champion", "already champion", "canary at N%" (release.canary.percent, beside a champion), "tested; ..."
    (where promotion needs an approval) or "not promoted: <why>".
    A refusal or a failed test is said, not raised: the run that registered the version succeeded whatever
    happens here.
    """
    from components.registry import open_registry
    from release.model_tests.records import outcomes_for
    from release.model_tests.suite import run_suite, suite_sha256
    from release.promotion.moves import ModelTestGate, auto_promote, open_mover

    pipeline = config.dataset
    registry = open_registry(registry_target(config, local_root))

    def tester(candidate: ModelVersion) -> None:
        run_suite(candidate, pipeline=pipeline)

    gate = ModelTestGate(outcomes_for(registry.target), suite_sha256(pipeline), lambda: tester, by)
    try:
        if not config.release.auto_promote:
            gate.require(registry, version)
            return "tested; promotion needs an approval here (release.auto_promote is false)"
        percent = config.release.canary.percent
        if percent is not None and open_mover(registry).current() is not None:
            from release.promotion import canary

            # With a champion to serve beside, a rollout of canaries starts one; the monitor ends it.
            reason = f"auto-promotion as a canary (release.canary.percent: {percent})"
            started = canary.start(open_mover(registry), version, percent, gate, by=by, reason=reason, auto=True)
            return "already champion or canary" if started is None else f"canary at {percent}%"
        move = auto_promote(open_mover(registry), version, gate, by=by)
    except (RegistryError, ModelTestsNotRunError) as err:  # a failed test, a refusal: said, not raised
        return f"not promoted: {err}"
    return "already champion" if move is None else "champion"
