"""The model tests: what a version must pass to serve, and what the champion is held to when they change.

Not in the pipeline image. A version is tested as its pipeline's: the records and how they are judged belong
to the pipeline (pipelines/<name>/model_tests/ and its definition), and every caller knows the pipeline from
the config it works on (`config.dataset`). A promotion runs them before the alias moves (in a child process,
beside the registry's import), a local run runs them on the version it registered, and the `model-tests`
route (ci/routing.py) runs them on each pipeline's champion whenever this folder or a pipeline's model tests
change, recording the outcome with the version and rolling a failing champion back where the environment
says so.

    suite.py           the tests and their identity, per pipeline (this folder, the pipeline's records, its judgement)
    smoke.py           load and predict the pipeline's shipped records right (pipelines/<name>/model_tests/
                       smoke_records.json), judged as its definition says (pipelines/<name>/pipeline.py)
    behaviour.py       behavioural tests (batch consistency, every output)
    fetch.py           a version's SavedModel as a local folder (gs:// copied down through google-cloud-storage)
    records.py         outcomes, recorded with the version and the tests' digest
    process.py         the suite in a child process started at once
    run.py             the model-tests route: `python -m release.model_tests.run --env ENV [--pipeline NAME]`
"""


class ModelTestsNotRunError(Exception):
    """The tests could not run (the model's files unreadable, a cloud error): no verdict, nothing recorded."""
