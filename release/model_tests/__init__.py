"""The model tests: what a version must pass to serve, and what the champion is held to when they change.

Not in the pipeline image. A promotion runs them before the alias moves (in a child process, beside the
registry's import), a local run runs them on the version it registered, and the `model-tests` route
(ci/routing.py) runs them on each environment's champion whenever this folder changes, recording the outcome
with the version and rolling a failing champion back where the environment says so.

    suite.py           the tests and their identity (the sha256 of this folder)
    smoke.py           load and predict the shipped records right (smoke_records.json)
    behaviour.py       behavioural tests (batch consistency)
    fetch.py           a version's SavedModel as a local folder (gs:// copied down through google-cloud-storage)
    records.py         outcomes, recorded with the version and the tests' digest
    process.py         the suite in a child process started at once
    run.py             the model-tests route: `python -m release.model_tests.run --env ENV`
"""


class ModelTestsNotRunError(Exception):
    """The tests could not run (the model's files unreadable, a cloud error): no verdict, nothing recorded."""
