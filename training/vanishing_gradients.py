"""Vanishing gradients, measured: the adding problem at lengths 10 to 200 for RNN, LSTM (also with its forget
bias started at 1) and GRU.

Each sequence is T steps of (value, marker): values uniform in [0, 1), markers 1 at one step in the first
half and one in the second, 0 elsewhere. The target is the sum of the two marked values, so the answer at
the last step depends on an input about T/2 to T steps back. Predicting 1.0 every time scores the
variance of the sum, 2/12 = 0.167 MSE: a model near that learned nothing.

Every model is the zoo's own RecurrentCore (one layer) with a linear head on the last step, trained with
Adam and the same gradient-norm clipping as the training scripts. The gradient norm through time is
||dL/dh_t||, the loss's gradient with respect to the hidden state t steps before the end, measured by
stepping the core one step at a time with its explicit state.

    python -m training.vanishing_gradients                 # writes zoo/docs/figures/ and zoo/docs/vanishing-gradients.md
    python -m training.vanishing_gradients --steps 20 --lengths 10,20 --out-dir /tmp/vg   # smoke run
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.cli import parse_config
from zoo.leaderboard import replace_table
from zoo.models import RecurrentCore

BASELINE_MSE = 2 / 12  # Var(U1 + U2) for independent U(0, 1): the score of always answering 1.0
SOLVED_MSE = 0.01  # 6% of the baseline: the model found and added the two marked values
DOCS_DIR = Path(__file__).resolve().parent.parent / "zoo" / "docs"
BEGIN, END = "<!-- vanishing-table:begin -->", "<!-- vanishing-table:end -->"
READING_BEGIN, READING_END = "<!-- vanishing-reading:begin -->", "<!-- vanishing-reading:end -->"


@dataclass
class Config:
    lengths: str = "10,25,50,100,200"  # comma-separated sequence lengths T
    cells: str = "rnn,lstm,lstm-fb1,gru"  # lstm-fb1: the LSTM with its forget-gate bias started at 1
    hidden_size: int = 64
    steps: int = 5000  # optimiser steps per (cell, length), a fresh batch each
    batch_size: int = 64
    learning_rate: float = 2e-3
    clip_norm: float = 1.0  # as training/*/train.py: a bounded step when the gradient explodes
    evaluate_every: int = 250
    test_size: int = 1000
    seed: int = 0
    threads: int = 1
    out_dir: str = ""  # default zoo/docs: figures/ and the table in vanishing-gradients.md
    replot: bool = False  # redraw the figures and the table from figures/vanishing_gradients.json, no training


CELL_ORDER = ["rnn", "lstm", "lstm-fb1", "gru"]
LABELS = {"rnn": "RNN", "lstm": "LSTM", "lstm-fb1": "LSTM, forget bias 1", "gru": "GRU"}
COLOURS = {"rnn": "tab:red", "lstm": "tab:blue", "lstm-fb1": "tab:purple", "gru": "tab:green"}


class AddingModel(nn.Module):
    """(B, T, 2) sequence -> RecurrentCore -> the last step's output -> (B,) predicted sum."""

    def __init__(self, cell: str, hidden_size: int):
        super().__init__()
        core_cell = "lstm" if cell == "lstm-fb1" else cell
        self.core = RecurrentCore(core_cell, input_size=2, hidden_size=hidden_size, num_layers=1, dropout=0.0)
        self.head = nn.Linear(hidden_size, 1)
        if cell == "lstm-fb1":
            # Gers et al. (2000), Jozefowicz et al. (2015): start the forget gate at sigmoid(1) = 0.73 instead
            # of about 0.5, so the cell state keeps most of itself from the first step. PyTorch's gate order
            # is input, forget, candidate, output; the two biases add up.
            with torch.no_grad():
                self.core.rnn.bias_ih_l0[hidden_size : 2 * hidden_size] = 1.0
                self.core.rnn.bias_hh_l0[hidden_size : 2 * hidden_size] = 0.0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.core(inputs)  # (B, T, H)
        return self.head(outputs[:, -1]).squeeze(-1)  # (B,)

    def gradient_through_time(self, inputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        """(T,) mean over the batch of ||dL/dh_t||, index 0 the first step. One step per call, so every
        h_t is a tensor of its own whose gradient autograd keeps; in float64 on a copy, because the plain
        RNN's gradient falls below float32's smallest number (1e-38) within about 100 steps."""
        if next(self.parameters()).dtype != torch.float64:
            return copy.deepcopy(self).double().gradient_through_time(inputs.double(), targets.double())
        state = self.core.initial_state(inputs.shape[0])
        hidden = []
        for t in range(inputs.shape[1]):
            _, state = self.core(inputs[:, t : t + 1], state)  # state: (h,) or (h, c), each (1, B, H)
            state[0].retain_grad()  # h_t, which every later step and the head read
            hidden.append(state[0])
        loss = nn.functional.mse_loss(self.head(hidden[-1][0]).squeeze(-1), targets, reduction="sum")
        loss.backward()
        return np.array([h.grad[0].norm(dim=-1).mean().item() for h in hidden])


def adding_batch(batch_size: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, 2) inputs and (B,) targets of the adding problem."""
    values = torch.rand(batch_size, length, generator=generator)  # (B, T)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, length, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, length)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), targets


@dataclass
class Run:
    cell: str
    length: int
    test_mse: float  # after the last step
    best_test_mse: float
    solved_at_step: int | None  # first evaluation with test MSE below SOLVED_MSE
    curve: list[tuple[int, float]] = field(default_factory=list)  # (step, test MSE)
    gradient_at_init: list[float] = field(default_factory=list)  # ||dL/dh_t||, t = 0..T-1
    gradient_trained: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_one(cell: str, length: int, config: Config) -> Run:
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    test_inputs, test_targets = adding_batch(config.test_size, length, torch.Generator().manual_seed(10_000 + length))
    model = AddingModel(cell, config.hidden_size)
    probe_inputs, probe_targets = test_inputs[:256], test_targets[:256]
    run = Run(cell, length, math.nan, math.inf, None, gradient_at_init=model.gradient_through_time(
        probe_inputs, probe_targets).tolist())
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    started = time.perf_counter()
    for step in range(1, config.steps + 1):
        inputs, targets = adding_batch(config.batch_size, length, generator)
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        if step % config.evaluate_every == 0 or step == config.steps:
            with torch.no_grad():
                test_mse = nn.functional.mse_loss(model(test_inputs), test_targets).item()
            run.curve.append((step, test_mse))
            run.best_test_mse = min(run.best_test_mse, test_mse)
            if run.solved_at_step is None and test_mse < SOLVED_MSE:
                run.solved_at_step = step
    run.seconds = time.perf_counter() - started
    run.test_mse = run.curve[-1][1]
    model.zero_grad(set_to_none=True)
    run.gradient_trained = model.gradient_through_time(probe_inputs, probe_targets).tolist()
    return run


def plot(runs: list[Run], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = sorted({r.cell for r in runs}, key=CELL_ORDER.index)
    lengths = sorted({r.length for r in runs})
    figure, axis = plt.subplots(figsize=(8.4, 4))
    for cell in cells:
        of_cell = sorted((r for r in runs if r.cell == cell), key=lambda r: r.length)
        axis.plot([r.length for r in of_cell], [r.best_test_mse for r in of_cell], "o-", color=COLOURS[cell],
                  label=LABELS[cell])
    axis.axhline(BASELINE_MSE, color="grey", linestyle="--", label="always 1.0 (baseline)")
    axis.axhline(SOLVED_MSE, color="grey", linestyle=":", label="solved")
    axis.set(xscale="log", yscale="log", xlabel="sequence length T", ylabel="best test MSE",
             title="Adding problem: where each cell stops learning")
    axis.set_xticks(lengths, [str(n) for n in lengths])
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize="small")  # outside: no point hidden
    figure.tight_layout()
    mse_path = out_dir / "vanishing_gradients_mse.png"
    figure.savefig(mse_path, dpi=110)
    plt.close(figure)

    longest = lengths[-1]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, key, title in ((axes[0], "gradient_at_init", "at initialisation"),
                             (axes[1], "gradient_trained", "after training")):
        for run in (r for r in runs if r.length == longest):
            norms = np.array(getattr(run, key))[::-1]  # index k: k steps before the end
            axis.plot(np.arange(len(norms)), norms, color=COLOURS[run.cell], label=LABELS[run.cell])
        axis.set(yscale="log", xlabel="k: steps before the last (the state h_t with t = T - k)",
                 title=f"||dL/dh_t||, T={longest}, {title}")
        axis.legend()
    axes[0].set_ylabel("gradient norm (mean over 256 sequences)")
    figure.tight_layout()
    norms_path = out_dir / "vanishing_gradients_norms.png"
    figure.savefig(norms_path, dpi=110)
    plt.close(figure)
    return [mse_path, norms_path]


def table(runs: list[Run], config: Config) -> str:
    """Markdown: best test MSE per cell and length (bold when solved), and the gradient ratio."""
    cells = sorted({r.cell for r in runs}, key=CELL_ORDER.index)
    lengths = sorted({r.length for r in runs})
    by_key = {(r.cell, r.length): r for r in runs}
    lines = [f"Best test MSE on {config.test_size} sequences after {config.steps} steps of batch {config.batch_size} "
             f"(hidden size {config.hidden_size}, Adam {config.learning_rate}, clipping {config.clip_norm}, seed "
             f"{config.seed}); the baseline (always 1.0) scores {BASELINE_MSE:.3f}; **bold** is solved "
             f"(MSE < {SOLVED_MSE}), with the step it was first solved at.", "",
             "| cell | " + " | ".join(f"T={n}" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
    for cell in cells:
        values = []
        for n in lengths:
            run = by_key[(cell, n)]
            text = f"{run.best_test_mse:.4f}"
            values.append(f"**{text}** (step {run.solved_at_step})" if run.solved_at_step else text)
        lines.append(f"| {LABELS[cell]} | " + " | ".join(values) + " |")
    longest = lengths[-1]
    lines += ["", f"Gradient reaching the first step, relative to the last (||dL/dh_1|| / ||dL/dh_T||, T={longest}):", "",
              "| cell | at initialisation | after training |", "|---|---|---|"]
    for cell in cells:
        run = by_key[(cell, longest)]
        ratios = [g[0] / g[-1] for g in (run.gradient_at_init, run.gradient_trained)]
        lines.append(f"| {LABELS[cell]} | {ratios[0]:.1e} | {ratios[1]:.1e} |")
    return "\n".join(lines)


def reading(runs: list[Run]) -> str:
    """What the table says, written from the numbers: for each cell the longest length it solved and the
    first it did not, and how much gradient reached the first step of the longest sequences."""
    cells = sorted({r.cell for r in runs}, key=CELL_ORDER.index)
    lines = []
    for cell in cells:
        of_cell = sorted((r for r in runs if r.cell == cell), key=lambda r: r.length)
        solved = [r.length for r in of_cell if r.solved_at_step]
        failed = [r for r in of_cell if not r.solved_at_step]
        if not solved:
            text = "solved no length"
        elif not failed:
            text = f"solved every length up to T={of_cell[-1].length}"
        else:
            first = failed[0]
            verdict = "learned nothing" if first.best_test_mse > 0.5 * BASELINE_MSE else "learned only part of it"
            text = (f"solved up to T={max(solved)}; at T={first.length} it {verdict} "
                    f"(best MSE {first.best_test_mse:.3f} against the baseline's {BASELINE_MSE:.3f})")
            nothing = next((r for r in failed if r.best_test_mse > 0.5 * BASELINE_MSE), None)
            if nothing is not None and nothing is not first:
                text += f", and from T={nothing.length} on nothing (best MSE {nothing.best_test_mse:.3f})"
        lines.append(f"- **{LABELS[cell]}** {text}.")
    longest = max(r.length for r in runs)
    trained = {r.cell: r.gradient_trained[0] / r.gradient_trained[-1] for r in runs if r.length == longest}
    ranked = sorted(trained, key=trained.get)
    lines.append(f"- After training at T={longest}, the gradient reaching the first step is "
                 + ", ".join(f"{trained[c]:.0e} of the last step's for the {LABELS[c]}" for c in ranked)
                 + " (the larger, the further back the loss still teaches the network).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Run]:
    config = parse_config(Config, argv, __doc__)
    torch.set_num_threads(config.threads)
    out_dir = Path(config.out_dir) if config.out_dir else DOCS_DIR
    figures = out_dir / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    results = figures / "vanishing_gradients.json"
    if config.replot:
        saved = json.loads(results.read_text())
        config = Config(**{**saved["config"], "out_dir": config.out_dir})
        runs = [Run(**{**run, "curve": [tuple(point) for point in run["curve"]]}) for run in saved["runs"]]
    else:
        runs = []
        for length in (int(n) for n in config.lengths.split(",")):
            for cell in config.cells.split(","):
                run = train_one(cell, length, config)
                print(f"{cell:>4} T={length:<4} best test MSE {run.best_test_mse:.4f} last {run.test_mse:.4f} "
                      f"solved at {run.solved_at_step} ({run.seconds:.0f} s)", flush=True)
                runs.append(run)
        results.write_text(json.dumps({"config": asdict(config), "baseline_mse": BASELINE_MSE,
                                       "solved_mse": SOLVED_MSE, "runs": [asdict(r) for r in runs]}, indent=1) + "\n")
    plot(runs, figures)
    page = out_dir / "vanishing-gradients.md"
    if page.exists():
        text = replace_table(page.read_text(), table(runs, config), BEGIN, END)
        page.write_text(replace_table(text, reading(runs), READING_BEGIN, READING_END))
    else:
        print(table(runs, config))
        print(reading(runs))
    return runs


if __name__ == "__main__":
    main()
