"""The publish and submit commands: validation first, idempotent publishing, pinned templates."""

import json

import pytest

from release import publish, submit
from release.publishing.store import LocalStore
from tests.compile.test_vertex_compile import compiled  # noqa: F401 - the module-scoped compile fixture.

COMMIT = "a" * 40


def test_publish_twice_is_a_no_op_and_pins_the_template(compiled, tmp_path, capsys):  # noqa: F811
    out_dir = compiled[0].spec_path.parent
    argv = [
        "--env",
        "dev",
        "--pipeline",
        "penguins",
        "--compiled",
        str(out_dir),
        "--commit",
        COMMIT,
        "--branch",
        "main",
        "--to",
        str(tmp_path),
    ]
    assert publish.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert publish.main(argv) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == files
    assert first["template"] == str(tmp_path / "templates" / first["template_sha256"] / "pipeline.json")
    # Everything the template references by URI was published beside it.
    for key in compiled[0].artifacts:
        assert (tmp_path / key).is_file()
    assert f"templates/commits/penguins/{COMMIT}.json" in files  # the dev environment's one pipeline
    # The lineage record beside the template: what the trigger function labels event runs of it with.
    lineage = json.loads((tmp_path / "templates" / first["template_sha256"] / "lineage.json").read_text())
    assert lineage["commit"] == COMMIT and lineage["modules_sha256"] == first["modules_sha256"]
    assert lineage["image"] == compiled[0].image


def test_publish_refuses_bad_input(tmp_path, capsys):
    assert (
        publish.main(
            [
                "--env",
                "dev",
                "--pipeline",
                "penguins",
                "--compiled",
                str(tmp_path),
                "--commit",
                COMMIT,
                "--branch",
                "m",
                "--to",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no compiled template" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--num-epochs", "0"], "num_epochs"),
        (["--num-epochs", "1000000000"], "num_epochs"),
        (["--learning-rate", "0"], "learning_rate"),
        (["--learning-rate", "nan"], "learning_rate"),
        (["--learning-rate", "1.5"], "learning_rate"),
        (["--span-start", "2", "--span-end", "1"], "span_start"),
    ],
)
@pytest.mark.parametrize("env", ["local", "dev"])
def test_submit_rejects_bad_parameters_before_submitting(tmp_path, capsys, env, extra, message):
    argv = ["--env", env, "--pipeline", "penguins", "--local-root", str(tmp_path / "root")]
    argv += ["--template", str(tmp_path / "t.json"), *extra]
    assert submit.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "root").exists()


def test_submit_vertex_without_a_template_needs_the_current_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("release.publishing.store.store_for", lambda uri, client=None: LocalStore(tmp_path))
    monkeypatch.setattr("release.publishing.current.store_for", lambda uri, client=None: LocalStore(tmp_path))
    assert submit.main(["--env", "dev", "--pipeline", "penguins"]) == 2
    err = capsys.readouterr().err
    assert (
        "environment 'dev' has no current template of penguins yet" in err
        and "templates/current/penguins.json does not exist" in err
    )


def test_submit_vertex_resolves_a_commit_to_its_immutable_template(compiled, tmp_path, monkeypatch, capsys):  # noqa: F811
    store = LocalStore(tmp_path)
    published = publish.publish_compiled(store, compiled[0].spec_path.parent, commit_sha=COMMIT, branch="main")
    sent = []

    class Recorder:
        def __init__(self, config, template, credentials=None):
            self.template = template
            sent.append(template)

        def submit(self, request):
            sent.append(request)
            return submit.SubmitResult(request.job_id, "vertex", True, "https://console")

    monkeypatch.setattr("release.publishing.store.store_for", lambda uri, client=None: store)
    monkeypatch.setattr("release.vertex.VertexSubmitter", Recorder)
    argv = [
        "--env",
        "dev",
        "--pipeline",
        "penguins",
        "--template",
        f"commit:{COMMIT}",
        "--trigger-id",
        "msg-1",
        "--num-epochs",
        "4",
    ]
    assert submit.main(argv) == 0
    template, request = sent
    assert template.uri == published["template"] and template.source == "explicit"
    assert template.sha256 == published["template_sha256"]
    assert request.job_id == submit.job_id_for("penguins-dev", "msg-1")
    assert request.parameters == {"num_epochs": 4, "learning_rate": 0.01, "span_start": 0, "span_end": 0}
    assert request.labels["source"] == "manual" and request.labels["spans"] == "newest"
    assert len(request.labels["modules"]) == 12 and request.labels["trigger"] == "msg-1"
    # The working tree's lineage, by the rule event runs are labelled by too (contracts.run_request).
    lineage = submit.working_tree_lineage("penguins")
    assert request.labels["commit"] == lineage.commit[:12] and request.labels["modules"] == lineage.modules_sha256[:12]
    assert "submitted" in capsys.readouterr().out


def test_same_trigger_same_job_id():
    assert submit.job_id_for("penguins-dev", "1234") == submit.job_id_for("penguins-dev", "1234")
    assert submit.job_id_for("penguins-dev", "1234") != submit.job_id_for("penguins-dev", "1235")
