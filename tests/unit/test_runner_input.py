"""The local runner rejects bad input before anything runs, and writes nothing."""

import pytest

from pipelines import local_runner


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "staging"], "staging.yaml: environment file not found"),
        (["--env", "dev"], "uses backend 'vertex'"),
        (["--num-epochs", "0"], "num_epochs: 0 is outside"),
        (["--learning-rate", "nan"], "learning_rate: must be a finite number"),
        (["--learning-rate", "2"], "learning_rate: 2.0 is outside"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    root = tmp_path / "root"
    assert local_runner.main([*argv, "--pipeline", "penguins", "--local-root", str(root)]) == 2
    assert message in capsys.readouterr().err
    assert not root.exists()


def test_invalid_environment_file_names_file_and_field(tmp_path, capsys):
    env = tmp_path / "broken.yaml"
    gate = "{metric: SparseCategoricalAccuracy, direction: higher, bound: 2, max_regression: 0}"
    env.write_text(f"name: local\nbackend: local\npipelines: {{penguins: {{evaluation: {gate}}}}}\n")
    assert local_runner.main(["--env", str(env), "--local-root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    assert str(env) in err
    assert "evaluation: Value error, bound: SparseCategoricalAccuracy is a fraction; 2 is outside [0, 1]" in err
    assert not (tmp_path / "root").exists()
