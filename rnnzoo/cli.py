"""`rnnzoo`: the zoo from a shell.

    rnnzoo list [--task T] [--all]           the models, their headline metric and size; * marks each task's default
    rnnzoo info NAME                         a model's card, readable (--json: as stored)
    rnnzoo predict TASK INPUT... [-o k=v]    run a model in this process and print its answer (the endpoint's JSON)
    rnnzoo serve [--port 3000]               the HTTP service (bentoml serve)
    rnnzoo validate FOLDER...                check artifact folders as the service does at start-up
    rnnzoo bench [ARGS]                      the performance harness (source checkout)
    rnnzoo train TASK [ARGS]                 train and export a model (the `train` extra: torch)

Click, because BentoML already depends on it: the command costs the base install nothing. The service, the
training scripts and the benchmarks run as child processes (`python -m ...`), so this module imports only `zoo`
and the base install, without torch, has every command but `train`.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import click

import zoo
from zoo.artifacts import ARTIFACTS_DIR, ArtifactError
from zoo.card_markdown import markdown
from zoo.cards import CARD_FILE, CardError, ModelCard, load_cards
from zoo.registry import get_spec
from zoo.tasks import TASKS
from zoo.validate import main as validate_main

SERVICE = "service.service:RNNZoo"  # as pyproject.toml's [tool.bentoml.build] `service`
BENCHMARK = "benchmarks.performance"

main = click.Group("rnnzoo", help="RNN Zoo: small RNN, LSTM and GRU models on onnxruntime, in process or over HTTP. "
                                  "`rnnzoo COMMAND --help` tells more of each command.",
                   context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
passthrough = {"ignore_unknown_options": True, "allow_extra_args": True}  # the rest goes to the child process


def shipped_card(name: str) -> ModelCard | None:
    folder = ARTIFACTS_DIR / name
    return ModelCard.load(folder) if (folder / CARD_FILE).is_file() else None


def fail(message: str, code: int = 2):
    click.echo(f"rnnzoo: {message}", err=True)
    sys.exit(code)


@main.command("list")
@click.option("--task", type=click.Choice(list(TASKS)), help="only this task's models")
@click.option("--all", "everything", is_flag=True, help="also the registered models that do not ship (test twins)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model")
def list_models(task: str | None, everything: bool, as_json: bool) -> None:
    """The registered models: task, headline metric on the card's split, size; * marks each task's default."""
    cards = {card.name: card for card in load_cards()}  # read once: the defaults come from the same cards
    defaults = {TASKS[t].best(list(cards.values())) for t in TASKS}
    rows = []
    for name in zoo.list_models(task, shipped=None if everything else True):
        spec, card = get_spec(name), cards.get(name)
        metric = TASKS[spec.task].headline_metric
        rows.append({"name": name, "task": spec.task, "default": name in defaults, "metric": metric,
                     "value": card.metric(metric).value if card else None,
                     "megabytes": round(sum(e.size_bytes for e in [card.export, *(g.export for g in card.graphs)])
                                        / 1e6, 2) if card else None,
                     "shipped": card is not None})
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    width = max([len(row["name"]) for row in rows] + [4])
    click.echo(f"  {'name':<{width}}  {'task':<11}  {'headline metric':<34}  {'MB':>6}")
    for row in rows:
        value = f"{row['metric']} {row['value']:.4g}" if row["shipped"] else "(not shipped)"
        size = f"{row['megabytes']:6.2f}" if row["shipped"] else "     -"
        click.echo(f"{'*' if row['default'] else ' '} {row['name']:<{width}}  {row['task']:<11}  {value:<34}  {size}")


@main.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="the card.json as stored")
def info(name: str, as_json: bool) -> None:
    """A model's card: what it is for, its limits, data, training, metrics beside baselines, export."""
    try:
        get_spec(name)
        card = shipped_card(name)
    except (KeyError, CardError) as error:
        fail(str(error))
    if card is None:
        fail(f"{name} is registered but does not ship; train it with `rnnzoo train {get_spec(name).task}`")
    click.echo(json.dumps(card.to_dict(), indent=2) if as_json else markdown(card, with_front_matter=False))


def option_value(text: str):
    """-o key=value: the value read as JSON (numbers, true, null, lists), else as a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@main.command()
@click.argument("task", type=click.Choice(list(TASKS)))
@click.argument("inputs", nargs=-1)
@click.option("--model", "-m", help="a model of the task (rnnzoo list); default: the task's best")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="an option of the task's endpoint, e.g. -o max_new_tokens=100 -o seed=7 (repeat)")
def predict(task: str, inputs: tuple[str, ...], model: str | None, options: tuple[str, ...]) -> None:
    """Run a model in this process and print its answer: the JSON its HTTP endpoint gives.

    \b
    INPUTS per task:
      sentiment    texts                 rnnzoo predict sentiment "a gorgeous film" "dull"
      generation   the prompt            rnnzoo predict generation "ROMEO:" -o max_new_tokens=200 -o seed=7
      forecasting  closes, or a file     rnnzoo predict forecasting closes.txt -o horizon=5
      vitals       a record file         rnnzoo predict vitals 132539.txt
      music        primer JSON or file   rnnzoo predict music "[[60,64,67]]" -o steps=32 -o seed=1
      speech       a WAV file            rnnzoo predict speech 7_george_3.wav
      translation  German texts          rnnzoo predict translation "Zwei Hunde spielen im Schnee." -o beam_size=4
    """
    parsed = {}
    for option in options:
        key, equals, value = option.partition("=")
        if not equals or not key:
            fail(f"-o {option!r}: write options as KEY=VALUE, e.g. -o seed=7")
        parsed[key.replace("-", "_")] = option_value(value)
    try:
        pipeline = zoo.pipeline(task, model)
        allowed = [name for name in inspect.signature(pipeline.__call__).parameters][1:]  # the first is the input
        if unknown := sorted(set(parsed) - set(allowed)):
            fail(f"{task} has no option {', '.join(unknown)}; its options: {', '.join(allowed) or 'none'}")
        answer = pipeline.from_command_line(list(inputs), parsed)
    except (ValueError, KeyError, ArtifactError, OSError) as error:  # InputError, CardError, a wrong model
        fail(str(error))
    except TypeError as error:  # an option the command line fills from the inputs (vitals' record)
        fail(f"{error}: give it as the input, not as -o")
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@main.command(context_settings=passthrough)
@click.option("--host", default="127.0.0.1", show_default=True, help="0.0.0.0 to listen on every interface")
@click.option("--port", default=3000, show_default=True, type=int)
@click.pass_context
def serve(context: click.Context, host: str, port: int) -> None:
    """Serve every model over HTTP: `bentoml serve` of the zoo's service; further arguments go to it.
    RNNZOO_* environment variables configure it (service/docs/configuration.md)."""
    command = [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port), *context.args]
    os.execv(sys.executable, command)  # the server replaces this process: signals reach bentoml directly


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def validate(folders: tuple[Path, ...]) -> None:
    """Check artifact folders as the service does at start-up: checksums, the task's contract, parity vectors."""
    sys.exit(validate_main([str(folder) for folder in folders]))


def run_module(module: str, arguments: list[str]) -> None:
    sys.exit(subprocess.call([sys.executable, "-m", module, *arguments]))


@main.command(context_settings=passthrough)
@click.pass_context
def bench(context: click.Context) -> None:
    """The performance harness (benchmarks/performance.py; --smoke for a quick run; `-- --help`: its options).
    It lives in the source checkout, beside its peers (Triton, a naive server)."""
    # run from the checkout's root: the child `python -m` finds benchmarks/ there (it is not installed)
    if importlib.util.find_spec("benchmarks") is None and not (Path.cwd() / "benchmarks" / "performance.py").is_file():
        fail("the benchmarks are in the source checkout: git clone the project, pip install -e '.[train,dev]', "
             "and run rnnzoo bench from its root")
    run_module(BENCHMARK, context.args)


@main.command(context_settings=passthrough)
@click.argument("task", type=click.Choice(list(TASKS)))
@click.pass_context
def train(context: click.Context, task: str) -> None:
    """Train and export a model of TASK: training/<task>/train.py with the arguments after TASK
    (rnnzoo train speech --model digits-gru); `rnnzoo train speech -- --help` lists them."""
    if importlib.util.find_spec("torch") is None:
        fail("training needs the `train` extra: pip install 'rnn-zoo[train]' (torch==2.13.0, the CPU build)")
    run_module(f"training.{task}.train", context.args)
