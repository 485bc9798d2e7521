"""The data check's command line: exit 2 naming bad input, 4 for a cloud refusal, the report of what waits."""

from release.datacheck import cli

ACCURACY = "SparseCategoricalAccuracy"
HEADER = "species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex"


def test_an_unknown_environment_is_exit_2_naming_it(capsys):
    assert cli.main(["--env", "nope"]) == 2
    assert "nope.yaml: environment file not found" in capsys.readouterr().err


def test_a_cloud_environment_without_credentials_stops_saying_so(tmp_path, monkeypatch, capsys):
    """--env dev reads gs://penguins-dev-data/penguins/: without credentials it stops before any request."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud application-default credentials here
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # and no metadata server to ask
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    # A cloud refusal, told apart from bad input (2) and retry (3).
    assert cli.main(["--env", "dev", "--pipeline", "penguins"]) == 4
    err = capsys.readouterr().err
    assert "no Google Cloud credentials" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_backend_that_does_not_answer_is_exit_3_saying_to_retry(monkeypatch, capsys):
    """A submission that found the backend unavailable: retry later (3), the finished steps kept, one line."""
    from contracts.run_request import BackendUnavailableError

    class Unavailable:
        def run(self):
            raise BackendUnavailableError("Vertex AI answered 503")

    monkeypatch.setattr(cli, "build_check", lambda *args: Unavailable())
    assert cli.main(["--pipeline", "penguins"]) == 3
    err = capsys.readouterr().err
    assert err == "error (transient, retry): Vertex AI answered 503 (finished steps are kept)\n"


def test_too_few_records_are_reported_and_stay_and_the_shipped_spans_are_seeded_first(tmp_path, capsys):
    incoming = tmp_path / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "a.csv").write_text(
        f"{HEADER}\nAdelie,Dream,39.0,18.0,190,3800,male\nAdelie,Dream,x,18,190,3800,male\n"
    )
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    assert "waiting in incoming/: 1 valid, 1 bad records (a batch needs 50 valid)" in capsys.readouterr().out
    assert (incoming / "a.csv").is_file()
    assert (tmp_path / "data" / "penguins" / "span-1" / "penguins.csv").is_file()  # the shipped span, not a batch


def test_a_champion_that_does_not_load_is_exit_1_and_the_batch_resumes(tmp_path, capsys, monkeypatch):
    from release.datacheck import evaluate

    incoming = tmp_path / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True)
    rows = [f"Adelie,Dream,39.0,18.0,190,{3000 + i},male" for i in range(50)]
    (incoming / "a.csv").write_text("\n".join([HEADER, *rows]) + "\n")

    class Registry:
        def alias_version(self, alias):
            return "7"

        def get(self, version):
            return type("V", (), {"uri": str(tmp_path / "no-such-model")})()

    monkeypatch.setattr("components.registry.open_registry", lambda target: Registry())
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "champion 7 could not be evaluated" in err and "the next check resumes it" in err
    [batch] = (tmp_path / "data" / "penguins" / "batches").iterdir()
    assert (batch / "manifest.json").is_file() and not (batch / "done.json").exists()
    assert (incoming / "a.csv").is_file()  # nothing moved before the span exists

    monkeypatch.setattr(
        evaluate,
        "evaluate",
        lambda *a: {"champion": "7", "metric": ACCURACY, "value": 1.0, "per_class": {}},
    )
    monkeypatch.setattr(cli, "evaluate", evaluate.evaluate)
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    assert (
        "50 valid records -> span-2, 0 quarantined; champion 7: SparseCategoricalAccuracy 1.000"
        in capsys.readouterr().out
    )
    assert (batch / "done.json").is_file() and not (incoming / "a.csv").exists()


def test_json_reports_the_batch_for_machines(tmp_path, capsys, monkeypatch):
    import json

    incoming = tmp_path / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True)
    rows = [f"Gentoo,Biscoe,47.0,15.0,215,{4000 + i},female" for i in range(50)]
    (incoming / "a.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    monkeypatch.setattr(
        cli,
        "champion_evaluator",
        lambda *a: lambda rows: {"champion": "3", "metric": ACCURACY, "value": 0.95},
    )
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path), "--json"]) == 0
    [batch] = json.loads(capsys.readouterr().out)["batches"]
    assert (batch["span"], batch["records"], batch["retrain"], batch["submitted"]) == (2, 50, False, None)


def test_the_report_names_the_files_the_quarantine_reasons_and_the_runs_spans(tmp_path, capsys, monkeypatch):
    from types import SimpleNamespace

    incoming = tmp_path / "data" / "penguins" / "incoming"
    incoming.mkdir(parents=True)
    rows = [f"Gentoo,Biscoe,47.0,15.0,215,{4000 + i},female" for i in range(50)]
    bad = [f"Emperor,Biscoe,47.0,15.0,215,{4000 + i},female" for i in range(12)]
    (incoming / "a.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (incoming / "b.csv").write_text("\n".join([HEADER, *bad]) + "\n")
    submitted = []

    class Submitter:
        def submit(self, request):
            submitted.append(request)
            return SimpleNamespace(job_id=request.job_id, location="here")

    monkeypatch.setattr(
        cli,
        "champion_evaluator",
        lambda *a: lambda rows: {"champion": "3", "metric": ACCURACY, "value": 0.5},
    )
    monkeypatch.setattr("release.submit.submitter_for", lambda *a: Submitter())
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "files: a.csv (50 valid, 0 bad), b.csv (0 valid, 12 bad)" in out
    assert out.count("quarantined: b.csv line ") == 10
    assert "quarantined: b.csv line 2: species: 'Emperor' is not one of" in out
    assert "quarantined: 2 more, every one in quarantine/" in out
    [request] = submitted
    assert (request.parameters["span_start"], request.parameters["span_end"]) == (1, 2)
    assert f"retrain: yes (champion SparseCategoricalAccuracy 0.500 < 0.9): {request.job_id} on spans 1-2" in out
