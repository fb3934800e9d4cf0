"""The `rnnzoo` command (issue 21), in process through click's runner: every subcommand answers, bad input gets
exit status 2 and a message saying what is allowed, and `predict` prints what the pipeline answers."""
import json

import pytest
from click.testing import CliRunner

import zoo
from rnnzoo.cli import main

RECORD = "Time,Parameter,Value\n00:00,Age,54\n00:07,HR,73\n00:37,HR,77\n"


def run(*arguments: str):
    return CliRunner().invoke(main, list(arguments), catch_exceptions=False)


def test_help_lists_every_command_and_each_command_has_help():
    result = run("--help")
    assert result.exit_code == 0
    for command in ("list", "info", "predict", "serve", "validate", "bench", "train"):
        assert command in result.output
        assert run(command, "--help").exit_code == 0


def test_list_marks_each_tasks_default_and_shows_what_does_not_ship():
    result = run("list")
    assert result.exit_code == 0
    lines = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert set(lines) == set(zoo.list_models())
    assert lines[zoo.best_model("speech")].startswith("*") and "isolated_digit_accuracy" in lines["digits-gru"]
    everything = [json.loads(line) for line in run("list", "--all", "--json").output.splitlines()]
    assert {"test-sst2-gru"} <= {row["name"] for row in everything if not row["shipped"]}
    assert [row["name"] for row in map(json.loads, run("list", "--task", "vitals", "--json").output.splitlines())] \
        == zoo.list_models("vitals")


def test_info_prints_the_card_readably_or_as_stored():
    result = run("info", "stock-gru")
    assert result.exit_code == 0
    for section in ("# stock-gru", "## Intended use", "## Limitations", "## Evaluation", "random walk", "## Export"):
        assert section in result.output
    assert json.loads(run("info", "stock-gru", "--json").output)["name"] == "stock-gru"
    unknown = run("info", "stock-transformer")
    assert unknown.exit_code == 2 and "unknown model 'stock-transformer'; valid names:" in unknown.output
    unshipped = run("info", "test-stock-gru")
    assert unshipped.exit_code == 2 and "does not ship" in unshipped.output


@pytest.mark.parametrize("arguments, expected", [
    (["sentiment", "a gorgeous, witty film", "dull"], lambda: zoo.pipeline("sentiment")(["a gorgeous, witty film", "dull"])),
    (["generation", "ROMEO:", "-o", "max_new_tokens=30", "-o", "seed=7"],
     lambda: zoo.pipeline("generation")("ROMEO:", max_new_tokens=30, seed=7)),
    (["music", "[[60, 64, 67]]", "-o", "steps=4", "-o", "seed=1", "--model", "jsb-gru"],
     lambda: zoo.pipeline("music", "jsb-gru")([[60, 64, 67]], steps=4, seed=1)),
    (["translation", "Zwei Hunde spielen im Schnee.", "-o", "beam_size=2"],
     lambda: zoo.pipeline("translation")("Zwei Hunde spielen im Schnee.", beam_size=2)),
])
def test_predict_prints_the_pipelines_answer(arguments, expected):
    result = run("predict", *arguments)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(expected()))


def test_predict_reads_files_for_the_tasks_that_take_them(tmp_path, data_dir):
    (tmp_path / "closes.txt").write_text("\n".join(f"{100 * 1.001 ** i:.2f}" for i in range(70)))
    (tmp_path / "stay.txt").write_text(RECORD)
    forecast = json.loads(run("predict", "forecasting", str(tmp_path / "closes.txt"), "-o", "horizon=3").output)
    assert [day["day"] for day in forecast["forecast"]] == [1, 2, 3]
    assert json.loads(run("predict", "vitals", str(tmp_path / "stay.txt")).output)["hours_observed"] == 1
    heard = json.loads(run("predict", "speech", str(data_dir / "fsdd" / "recordings" / "7_george_3.wav")).output)
    assert heard["text"] == "7"


@pytest.mark.parametrize("arguments, message", [
    (["predict", "generation", "ROMEO:", "-o", "tempo=1"], "generation has no option tempo; its options: max_new_tokens"),
    (["predict", "generation", "ROMEO:", "-o", "seed"], "write options as KEY=VALUE"),
    (["predict", "generation", "ROMEO:", "-o", "temperature=0"], "temperature is 0; allowed: (0, 2]"),
    (["predict", "forecasting", "1", "2", "x"], "closes must be numbers"),
    (["predict", "speech", "missing.wav"], "No such file or directory"),
    (["predict", "speech", "a.wav", "b.wav"], "send one WAV file"),
    (["predict", "sentiment", "fine", "--model", "stock-gru"], "stock-gru is a forecasting model, not sentiment"),
    (["predict", "poetry", "x"], "'poetry' is not one of"),
])
def test_bad_input_exits_2_saying_what_is_allowed(arguments, message):
    result = run(*arguments)
    assert result.exit_code == 2 and message in result.output, result.output


def test_validate_checks_folders_as_the_service_does(tmp_path):
    assert run("validate", "zoo/artifacts/stock-gru").exit_code == 0
    broken = tmp_path / "stock-gru"
    broken.mkdir()
    for path in (zoo.load("stock-gru").directory).iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    (broken / "model.onnx").write_bytes(b"not the model")
    result = run("validate", str(broken))
    assert result.exit_code == 1 and "FAIL" in result.output and "sha256" in result.output
