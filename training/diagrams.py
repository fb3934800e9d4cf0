"""The diagrams of zoo/docs/concepts.md, drawn with matplotlib: a recurrent network folded and unrolled, the
LSTM and GRU cells, and the four sequence shapes of the zoo's tasks.

They are written as SVG whose bytes depend only on this file and matplotlib's version, so a test can tell a
figure that was not regenerated after an edit (tests/docs/test_diagrams.py).

    python -m training.diagrams                           # writes zoo/docs/figures/*.svg
    python -m training.diagrams --out-dir /tmp/diagrams   # elsewhere, to look before committing
"""
from __future__ import annotations

import argparse
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.path import Path as LinePath

FIGURES_DIR = Path(__file__).resolve().parent.parent / "zoo" / "docs" / "figures"
# Deterministic SVG: ids hashed from a fixed salt instead of random ones, no date, text kept as text (smaller,
# searchable, and readers' browsers draw it in their own sans-serif font).
SVG_SETTINGS = {"svg.hashsalt": "rnnzoo", "svg.fonttype": "none", "font.family": "sans-serif",
                "font.size": 11, "mathtext.fontset": "dejavusans"}
SVG_METADATA = {"Date": None}  # no date; the default creator names the matplotlib version, which the test reads
MATH_FONT = re.compile(r"font-family: 'DejaVu Sans'(?=[;\"])")


@dataclass(frozen=True)
class Ink:
    line: str
    fill: str


# One colour per role, the same in every figure, so a learner can tell them apart at a glance.
INPUT_OUTPUT = Ink("#2b6cb0", "#dbeafe")  # blue: what the network reads and what it answers
STATE = Ink("#c05621", "#feebc8")  # orange: the memory carried from one step to the next (h, c)
GATE = Ink("#6b46c1", "#ede4fb")  # purple: learned layers, the sigmoid gates and the tanh candidate
CELL = Ink("#4a5568", "#f4f6f9")  # grey: a cell's outline, pointwise operations, plain wiring
NOTE = "#4a5568"  # captions and annotations


# --- drawing primitives, in data units of an axis with equal aspect ------------------------------------------

def canvas(width: float, height: float, bottom: float = 0.0, scale: float = 0.72) -> tuple[Figure, Axes]:
    """A blank figure whose axis spans it: x from 0 to `width`, y from `bottom` up `height` data units, `scale`
    inches per unit. A bare Figure, not pyplot's: nothing global to select or close."""
    figure = Figure(figsize=(width * scale, height * scale))
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set(xlim=(0, width), ylim=(bottom, bottom + height), aspect="equal")
    axis.axis("off")
    return figure, axis


def box(axis: Axes, centre: tuple[float, float], width: float, height: float, ink: Ink, label: str,
        fontsize: float = 11, caption: str = "") -> None:
    """A rounded box with a centred label and, when given, a smaller caption under the label inside it."""
    x, y = centre
    axis.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                  boxstyle="round,pad=0,rounding_size=0.12", facecolor=ink.fill,
                                  edgecolor=ink.line, linewidth=1.4, zorder=3))
    if caption:
        axis.text(x, y + 0.14 * height, label, ha="center", va="center", fontsize=fontsize, zorder=4)
        axis.text(x, y - 0.24 * height, caption, ha="center", va="center", fontsize=9.5, color=ink.line, zorder=4)
    else:
        axis.text(x, y, label, ha="center", va="center", fontsize=fontsize, zorder=4)


def operation(axis: Axes, centre: tuple[float, float], symbol: str, radius: float = 0.22) -> None:
    """A pointwise operation: × multiplies element by element, + adds, 1− subtracts from one. No weights."""
    axis.add_patch(Circle(centre, radius, facecolor="white", edgecolor=CELL.line, linewidth=1.4, zorder=3))
    axis.text(*centre, symbol, ha="center", va="center", fontsize=12 if len(symbol) == 1 else 9, zorder=4)


def wire(axis: Axes, points: list[tuple[float, float]], ink: Ink, width: float = 1.6, head: bool = True,
         zorder: float = 2) -> None:
    """A line through `points`, with an arrowhead at the last one."""
    codes = [LinePath.MOVETO] + [LinePath.LINETO] * (len(points) - 1)
    axis.add_patch(FancyArrowPatch(path=LinePath(points, codes), arrowstyle="-|>" if head else "-", mutation_scale=11,
                                   color=ink.line, linewidth=width, zorder=zorder, joinstyle="miter", capstyle="butt"))


def bridge(axis: Axes, point: tuple[float, float]) -> None:
    """A gap in the vertical wire under `point`, for a wire drawn across it above zorder 2.1: a crossing, not a
    junction."""
    x, y = point
    axis.plot([x, x], [y - 0.22, y + 0.22], color=CELL.fill, linewidth=4, solid_capstyle="butt", zorder=2.1)


def junction(axis: Axes, point: tuple[float, float], ink: Ink = CELL) -> None:
    """Where one wire splits in two, or two wires are joined side by side (concatenated)."""
    axis.add_patch(Circle(point, 0.07, color=ink.line, zorder=3))


def note(axis: Axes, point: tuple[float, float], text: str, ha: str = "center", va: str = "center",
         fontsize: float = 10, color: str = NOTE, **style) -> None:
    axis.text(*point, text, ha=ha, va=va, fontsize=fontsize, color=color, zorder=4, **style)


def cell_outline(axis: Axes, left: float, bottom: float, width: float, height: float, title: str) -> None:
    axis.add_patch(FancyBboxPatch((left, bottom), width, height, boxstyle="round,pad=0,rounding_size=0.3",
                                  facecolor=CELL.fill, edgecolor=CELL.line, linewidth=1.2, zorder=1))
    note(axis, (left + 0.2, bottom + height - 0.25), title, ha="left", fontsize=11, fontweight="bold")


def legend(axis: Axes, origin: tuple[float, float], entries: list[tuple[str, str]], gap: float = 0.6) -> None:
    """A row of swatches under a figure. `entries`: (kind, text), kind "io", "state", "gate" or "operation"."""
    to_data = axis.transData.inverted()
    x, y = origin
    for kind, text in entries:
        if kind == "operation":
            operation(axis, (x + 0.2, y), "×", radius=0.17)
        else:
            ink = {"io": INPUT_OUTPUT, "state": STATE, "gate": GATE}[kind]
            axis.add_patch(Rectangle((x, y - 0.15), 0.4, 0.3, facecolor=ink.fill, edgecolor=ink.line, linewidth=1.2))
        label = axis.text(x + 0.55, y, text, ha="left", va="center", fontsize=9.5, color=NOTE)
        x = to_data.transform((label.get_window_extent().x1, 0))[0] + gap  # the next swatch after the text


# --- the figures ---------------------------------------------------------------------------------------------

def unrolled_rnn() -> Figure:
    """One cell with a loop, and the same cell unrolled over 4 steps of 'hell' -> 'ello': one set of weights."""
    figure, axis = canvas(15.4, 7.6)
    row_in, row_cell, row_out = 2.0, 3.9, 5.8
    note(axis, (7.7, 7.2), r"$h_t = \tanh(W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh})$", fontsize=13,
         color="black")

    # Folded: one cell whose output state comes back as its next input.
    fold = 1.7
    note(axis, (fold, 0.95), "folded", fontsize=10, fontstyle="italic")
    box(axis, (fold, row_in), 0.9, 0.6, INPUT_OUTPUT, "$x_t$")
    box(axis, (fold, row_out), 0.9, 0.6, INPUT_OUTPUT, "$y_t$")
    box(axis, (fold, row_cell), 1.7, 1.0, CELL, "RNN cell", caption=r"$W_{ih},\ W_{hh}$")
    wire(axis, [(fold, row_in + 0.3), (fold, row_cell - 0.5)], INPUT_OUTPUT)
    wire(axis, [(fold, row_cell + 0.5), (fold, row_out - 0.3)], INPUT_OUTPUT)
    # The loop re-enters beside x_t's wire, not across it.
    loop = [(fold + 0.85, row_cell), (fold + 1.4, row_cell), (fold + 1.4, row_cell - 0.95),
            (fold + 0.5, row_cell - 0.95), (fold + 0.5, row_cell - 0.5)]
    wire(axis, loop, STATE)
    note(axis, (fold + 1.6, row_cell + 0.3), "$h_t$", ha="left", color=STATE.line, fontsize=12)

    axis.annotate("", xy=(5.0, row_cell), xytext=(3.9, row_cell),
                  arrowprops={"arrowstyle": "simple,head_width=0.8,head_length=0.8", "color": "#a0aec0"})
    note(axis, (4.45, row_cell + 0.5), "unroll", fontsize=10, fontstyle="italic")

    # Unrolled: one copy per time step, the state handed to the right.
    steps = [6.6, 8.8, 11.0, 13.2]
    read, predicted = ["h", "e", "l", "l"], ["e", "l", "l", "o"]
    note(axis, (5.05, row_cell + 0.32), "$h_0$", color=STATE.line, fontsize=12)
    wire(axis, [(5.15, row_cell), (steps[0] - 0.75, row_cell)], STATE)
    for t, x in enumerate(steps, start=1):
        box(axis, (x, row_in), 0.9, 0.6, INPUT_OUTPUT, f"$x_{t}$")
        box(axis, (x, row_out), 0.9, 0.6, INPUT_OUTPUT, f"$y_{t}$")
        box(axis, (x, row_cell), 1.5, 1.0, CELL, "RNN cell", caption=r"$W_{ih},\ W_{hh}$")
        wire(axis, [(x, row_in + 0.3), (x, row_cell - 0.5)], INPUT_OUTPUT)
        wire(axis, [(x, row_cell + 0.5), (x, row_out - 0.3)], INPUT_OUTPUT)
        note(axis, (x, row_in - 0.55), f"reads '{read[t - 1]}'", fontsize=9)
        note(axis, (x, row_out + 0.55), f"predicts '{predicted[t - 1]}'", fontsize=9)
        end = x + 1.45 if t < len(steps) else x + 1.6
        wire(axis, [(x + 0.75, row_cell), (end, row_cell)], STATE)
        note(axis, ((x + 0.75 + end) / 2, row_cell + 0.32), f"$h_{t}$", color=STATE.line, fontsize=12)

    wire(axis, [(steps[0] - 0.6, 0.95), (steps[-1] + 0.6, 0.95)], CELL, width=1.0)
    note(axis, (steps[-1] + 0.75, 0.95), "time", ha="left", fontsize=10, fontstyle="italic")
    note(axis, ((steps[0] + steps[-1]) / 2, 0.4), r"one cell: the same weights $W_{ih}$, $W_{hh}$ at every step",
         fontsize=10.5, color="black")
    return figure


def lstm_cell() -> Figure:
    """The LSTM step of zoo/cells.py: the cell state c along the top, changed only by × (forget) and + (write)."""
    figure, axis = canvas(13.6, 8.0, bottom=-1.0)
    top, gates_row, bus = 5.6, 3.0, 1.6
    cell_outline(axis, 1.2, 0.9, 10.2, 5.6, "LSTM cell")

    # Cell state: c_{t-1} in on the left, c_t out on the right, through one × and one +.
    forget_x, write_x, read_x = 3.4, 7.0, 9.9
    note(axis, (0.15, top + 0.35), "$c_{t-1}$", ha="left", color=STATE.line, fontsize=13)
    note(axis, (13.5, top + 0.35), "$c_t$", ha="right", color=STATE.line, fontsize=13)
    wire(axis, [(0.1, top), (forget_x - 0.22, top)], STATE, width=2.6, head=False)
    wire(axis, [(forget_x + 0.22, top), (write_x - 0.22, top)], STATE, width=2.6, head=False)
    wire(axis, [(write_x + 0.22, top), (13.5, top)], STATE, width=2.6)
    operation(axis, (forget_x, top), "×")
    operation(axis, (write_x, top), "+")
    note(axis, ((forget_x + write_x) / 2, top + 0.35), "cell state: kept by ×, added to by +", fontsize=9)

    # Hidden state and input, side by side on one bus feeding the four learned layers.
    join_x = 2.2
    note(axis, (0.15, bus + 0.35), "$h_{t-1}$", ha="left", color=STATE.line, fontsize=13)
    wire(axis, [(0.1, bus), (join_x, bus)], STATE, head=False)
    box(axis, (join_x, 0.35), 0.9, 0.55, INPUT_OUTPUT, "$x_t$")
    wire(axis, [(join_x, 0.63), (join_x, bus)], INPUT_OUTPUT, head=False)
    junction(axis, (join_x, bus))
    note(axis, (join_x + 0.15, bus - 0.35), r"$[h_{t-1}, x_t]$", ha="left", fontsize=10)
    gate_x = {"f": forget_x, "i": 5.0, "g": 6.6, "o": 8.5}
    wire(axis, [(join_x, bus), (gate_x["o"], bus)], CELL, head=False)
    layers = {"f": (r"$\sigma$", "forget $f$"), "i": (r"$\sigma$", "input $i$"),
              "g": (r"$\tanh$", "candidate $g$"), "o": (r"$\sigma$", "output $o$")}
    for name, (symbol, caption) in layers.items():
        x = gate_x[name]
        wire(axis, [(x, bus), (x, gates_row - 0.42)], CELL)
        box(axis, (x, gates_row), 1.4, 0.84, GATE, symbol, fontsize=13, caption=caption)

    # Forget: f scales the old cell state. Write: i scales the candidate g, and the product is added.
    wire(axis, [(forget_x, gates_row + 0.42), (forget_x, top - 0.22)], GATE)
    mix = (write_x, 4.3)
    wire(axis, [(gate_x["i"], gates_row + 0.42), (gate_x["i"], mix[1]), (write_x - 0.22, mix[1])], GATE)
    wire(axis, [(gate_x["g"], gates_row + 0.42), (gate_x["g"], 3.75), (write_x, 3.75), (write_x, mix[1] - 0.22)],
         GATE)
    operation(axis, mix, "×")
    wire(axis, [(write_x, mix[1] + 0.22), (write_x, top - 0.22)], GATE)

    # Read: tanh of the new cell state, scaled by the output gate, is the new hidden state.
    squash = (read_x, 4.55)
    junction(axis, (read_x, top), STATE)
    wire(axis, [(read_x, top), (read_x, squash[1] + 0.25)], STATE)
    axis.add_patch(FancyBboxPatch((read_x - 0.4, squash[1] - 0.25), 0.8, 0.5, boxstyle="round,pad=0,rounding_size=0.2",
                                  facecolor="white", edgecolor=CELL.line, linewidth=1.4, zorder=3))
    note(axis, squash, r"$\tanh$", fontsize=11, color="black")
    shown = (read_x, gates_row)
    wire(axis, [(read_x, squash[1] - 0.25), (read_x, shown[1] + 0.22)], STATE)
    wire(axis, [(gate_x["o"] + 0.7, gates_row), (read_x - 0.22, gates_row)], GATE)
    operation(axis, shown, "×")
    wire(axis, [(read_x, shown[1] - 0.22), (read_x, bus), (13.5, bus)], STATE)
    note(axis, (13.5, bus + 0.35), "$h_t$", ha="right", color=STATE.line, fontsize=13)
    note(axis, (13.5, bus - 0.65), "to the next step\nand the output layer", ha="right", fontsize=9.5)

    legend(axis, (0.6, -0.5), [("io", "input"), ("state", "state carried between steps"),
                               ("gate", r"learned layer ($\sigma$ gate or $\tanh$)"),
                               ("operation", "pointwise operation")])
    return figure


def gru_cell() -> Figure:
    """The GRU step of zoo/cells.py in PyTorch's convention: the reset gate scales W_hn h + b_hn, after the product,
    and h' = (1 - z) * n + z * h keeps `update` of the old state."""
    figure, axis = canvas(13.6, 8.2, bottom=-1.2)
    top, gates_row, bus = 5.6, 2.3, 1.3
    cell_outline(axis, 1.2, 0.6, 10.2, 5.9, "GRU cell")

    # The hidden state runs along the top: h_t = z * h_{t-1} + (1 - z) * n.
    keep_x, add_x = 8.8, 10.6
    note(axis, (0.15, top + 0.35), "$h_{t-1}$", ha="left", color=STATE.line, fontsize=13)
    wire(axis, [(0.1, top), (keep_x - 0.22, top)], STATE, width=2.2, head=False)
    wire(axis, [(keep_x + 0.22, top), (add_x - 0.22, top)], STATE, width=2.2, head=False)
    wire(axis, [(add_x + 0.22, top), (13.5, top)], STATE, width=2.2)
    note(axis, (13.5, top + 0.35), "$h_t$", ha="right", color=STATE.line, fontsize=13)
    operation(axis, (keep_x, top), "×")
    operation(axis, (add_x, top), "+")

    # h_{t-1} and x_t side by side on one bus feeding both gates.
    branch_x, join_x = 1.7, 2.3
    junction(axis, (branch_x, top), STATE)
    wire(axis, [(branch_x, top), (branch_x, bus), (join_x, bus)], STATE, head=False)
    box(axis, (join_x, 0.3), 0.9, 0.55, INPUT_OUTPUT, "$x_t$")
    wire(axis, [(join_x, 0.58), (join_x, bus)], INPUT_OUTPUT, head=False)
    junction(axis, (join_x, bus))
    note(axis, (join_x + 0.12, bus - 0.35), r"$[h_{t-1}, x_t]$", ha="left", fontsize=10)
    reset_x, input_x, update_x = 3.4, 6.9, keep_x
    wire(axis, [(join_x, bus), (update_x, bus)], CELL, head=False)
    for x, caption in ((reset_x, "reset $r$"), (update_x, "update $z$")):
        wire(axis, [(x, bus), (x, gates_row - 0.42)], CELL)
        box(axis, (x, gates_row), 1.4, 0.84, GATE, r"$\sigma$", fontsize=13, caption=caption)

    # Candidate, PyTorch's way: the reset gate scales the recurrent product W_hn h + b_hn, not h itself.
    recurrent, scaled, summed, candidate = (5.0, 4.45), (5.0, 3.35), (6.9, 3.35), (6.9, 4.45)
    wire(axis, [(recurrent[0], top), (recurrent[0], recurrent[1] + 0.3)], STATE)
    box(axis, recurrent, 1.9, 0.6, GATE, r"$W_{hn}h_{t-1} + b_{hn}$", fontsize=10)
    wire(axis, [(recurrent[0], recurrent[1] - 0.3), (scaled[0], scaled[1] + 0.22)], GATE)
    wire(axis, [(reset_x, gates_row + 0.42), (reset_x, scaled[1]), (scaled[0] - 0.22, scaled[1])], GATE)
    operation(axis, scaled, "×")
    wire(axis, [(input_x, bus), (input_x, gates_row - 0.3)], CELL)
    box(axis, (input_x, gates_row), 1.7, 0.6, GATE, r"$W_{in}x_t + b_{in}$", fontsize=10)
    wire(axis, [(input_x, gates_row + 0.3), (summed[0], summed[1] - 0.22)], GATE)
    wire(axis, [(scaled[0] + 0.22, scaled[1]), (summed[0] - 0.22, summed[1])], GATE)
    operation(axis, summed, "+")
    wire(axis, [(summed[0], summed[1] + 0.22), (candidate[0], candidate[1] - 0.42)], GATE)
    box(axis, candidate, 1.4, 0.84, GATE, r"$\tanh$", fontsize=12, caption="candidate $n$")

    # Interpolate: keep z of the old state, write 1 - z of the candidate.
    split, blend = (update_x, 3.35), (add_x, candidate[1])
    one_minus = (9.7, split[1])
    wire(axis, [(update_x, gates_row + 0.42), (update_x, top - 0.22)], GATE)
    junction(axis, split, GATE)
    wire(axis, [split, (one_minus[0] - 0.22, split[1])], GATE)
    operation(axis, one_minus, "1−")
    wire(axis, [(one_minus[0] + 0.22, split[1]), (blend[0], split[1]), (blend[0], blend[1] - 0.22)], GATE)
    # n crosses z's wire on its way to the blend. No layout avoids a crossing here, so it is drawn as one.
    bridge(axis, (update_x, candidate[1]))
    wire(axis, [(candidate[0] + 0.7, candidate[1]), (blend[0] - 0.22, blend[1])], GATE, zorder=2.2)
    operation(axis, blend, "×")
    wire(axis, [(blend[0], blend[1] + 0.22), (add_x, top - 0.22)], GATE)

    legend(axis, (0.6, -0.6), [("io", "input"), ("state", "state carried between steps"),
                               ("gate", r"learned layer ($\sigma$ gate or $\tanh$)"),
                               ("operation", "pointwise operation")])
    return figure


def steps_of(axis: Axes, xs: list[float], y: float) -> None:
    """A row of unrolled cells at `xs`, each handing its state to the next."""
    for k, x in enumerate(xs):
        axis.add_patch(FancyBboxPatch((x - 0.32, y - 0.32), 0.64, 0.64, boxstyle="round,pad=0,rounding_size=0.1",
                                      facecolor=CELL.fill, edgecolor=CELL.line, linewidth=1.3, zorder=3))
        if k + 1 < len(xs):
            wire(axis, [(x + 0.32, y), (xs[k + 1] - 0.32, y)], STATE)


def token(axis: Axes, centre: tuple[float, float], text: str, width: float = 1.0) -> None:
    box(axis, centre, width, 0.46, INPUT_OUTPUT, text, fontsize=9)


def panel(axis: Axes, origin: tuple[float, float], title: str, models: list[str]) -> None:
    """A framed panel 7.7 x 4.9 units with its title, and the zoo's models of that shape underneath."""
    x, y = origin
    axis.add_patch(FancyBboxPatch((x, y), 7.7, 4.9, boxstyle="round,pad=0,rounding_size=0.2", facecolor="white",
                                  edgecolor="#cbd5e0", linewidth=1.0, zorder=0))
    note(axis, (x + 0.25, y + 4.55), title, ha="left", fontsize=12, color="black", fontweight="bold")
    for k, line in enumerate(models):
        note(axis, (x + 0.25, y + 0.3 + 0.38 * (len(models) - 1 - k)), line, ha="left", fontsize=9.5)


def sequence_shapes() -> Figure:
    """The four shapes of the zoo's tasks, each with the models that have it."""
    figure, axis = canvas(15.8, 10.9, bottom=-0.7)
    inputs, cells, outputs = 1.75, 2.75, 3.75  # row heights inside a panel

    # Many to one: read every step, answer once. SST-2 pools every step's output (mean and max); the digit
    # models' CTC turns per-step scores into the digits said.
    x0, y0 = 0.1, 5.2
    panel(axis, (x0, y0), "Many to one", ["sentiment: sst2-rnn, sst2-lstm, sst2-gru (pooled over the steps)",
                                          "an isolated spoken digit: digits-rnn, -lstm, -gru (CTC)"])
    xs = [x0 + 1.8 + 1.35 * k for k in range(4)]
    steps_of(axis, xs, y0 + cells)
    for x, word in zip(xs, ["a", "gripping", "little", "film"]):
        token(axis, (x, y0 + inputs), word, width=1.15)
        wire(axis, [(x, y0 + inputs + 0.23), (x, y0 + cells - 0.32)], INPUT_OUTPUT)
    token(axis, (xs[-1], y0 + outputs), "positive", width=1.25)
    wire(axis, [(xs[-1], y0 + cells + 0.32), (xs[-1], y0 + outputs - 0.23)], INPUT_OUTPUT)

    # Many to many: an answer after every step.
    x0, y0 = 8.0, 5.2
    panel(axis, (x0, y0), "Many to many", ["next character: shakespeare-rnn, -lstm, -gru",
                                           "next piano-roll frame: jsb-*, nottingham-*",
                                           "risk after every ICU hour: vitals-rnn, -lstm, -gru"])
    xs = [x0 + 1.3 + 1.6 * k for k in range(4)]
    steps_of(axis, xs, y0 + cells + 0.25)
    for x, read, written in zip(xs, "ROME", "OMEO"):
        token(axis, (x, y0 + inputs + 0.25), read, width=0.6)
        token(axis, (x, y0 + outputs + 0.25), written, width=0.6)
        wire(axis, [(x, y0 + inputs + 0.48), (x, y0 + cells - 0.07)], INPUT_OUTPUT)
        wire(axis, [(x, y0 + cells + 0.57), (x, y0 + outputs + 0.02)], INPUT_OUTPUT)

    # Sequence to sequence: an encoder reads the German, a decoder writes the English, attending to it.
    x0, y0 = 0.1, 0.2
    panel(axis, (x0, y0), "Sequence to sequence", ["German to English: multi30k-de-en-rnn, -lstm, -gru",
                                                   "(encoder, then decoder with attention)"])
    encoder = [x0 + 0.85 + 1.15 * k for k in range(3)]
    decoder = [x0 + 4.45 + 1.15 * k for k in range(3)]
    steps_of(axis, encoder, y0 + cells)
    steps_of(axis, decoder, y0 + cells)
    wire(axis, [(encoder[-1] + 0.32, y0 + cells), (decoder[0] - 0.32, y0 + cells)], STATE)
    for x, word in zip(encoder, ["Zwei", "Hunde", "spielen"]):
        token(axis, (x, y0 + inputs), word)
        wire(axis, [(x, y0 + inputs + 0.23), (x, y0 + cells - 0.32)], INPUT_OUTPUT)
    for x, read, written in zip(decoder, ["<s>", "Two", "dogs"], ["Two", "dogs", "play"]):
        token(axis, (x, y0 + inputs), read)
        token(axis, (x, y0 + outputs), written)
        wire(axis, [(x, y0 + inputs + 0.23), (x, y0 + cells - 0.32)], INPUT_OUTPUT)
        wire(axis, [(x, y0 + cells + 0.32), (x, y0 + outputs - 0.23)], INPUT_OUTPUT)
    note(axis, (encoder[1], y0 + inputs - 0.5), "encoder", fontsize=10, fontstyle="italic")
    note(axis, (decoder[1], y0 + inputs - 0.5), "decoder", fontsize=10, fontstyle="italic")
    # Attention: at every step the decoder reads a weighted mix of all the encoder's outputs.
    axis.annotate("", xy=(decoder[0] - 0.36, y0 + cells + 0.3), xytext=(encoder[1] + 0.1, y0 + cells + 0.4),
                  arrowprops={"arrowstyle": "-|>", "color": NOTE, "linestyle": (0, (3, 2)), "linewidth": 1.1,
                              "connectionstyle": "arc3,rad=-0.3", "mutation_scale": 10})
    note(axis, ((encoder[1] + decoder[0]) / 2 - 0.3, y0 + outputs + 0.05), "attention", fontsize=9)

    # Multi-horizon: 60 days in, the next 1 to 5 days out from the last state, each as three quantiles.
    x0, y0 = 8.0, 0.2
    panel(axis, (x0, y0), "Multi-horizon forecast", ["stock-rnn, stock-lstm, stock-gru: 60 days of returns in,",
                                                     "days +1 to +5 out, each as p10, p50 and p90"])
    xs = [x0 + 0.9 + 1.3 * k for k in range(3)]
    steps_of(axis, xs, y0 + cells)
    for x, day in zip(xs, ["day 1", "day 2", "day 60"]):
        token(axis, (x, y0 + inputs), day)
        wire(axis, [(x, y0 + inputs + 0.23), (x, y0 + cells - 0.32)], INPUT_OUTPUT)
    note(axis, ((xs[1] + xs[2]) / 2, y0 + cells + 0.3), "…", fontsize=12)
    fan = (x0 + 6.0, y0 + cells + 0.2)  # the forecast: a widening band per day ahead
    axis.add_patch(FancyBboxPatch((fan[0] - 1.2, fan[1] - 0.95), 2.4, 1.9, boxstyle="round,pad=0,rounding_size=0.12",
                                  facecolor=INPUT_OUTPUT.fill, edgecolor=INPUT_OUTPUT.line, linewidth=1.4, zorder=3))
    wire(axis, [(xs[-1] + 0.32, y0 + cells), (fan[0] - 1.2, y0 + cells)], STATE)
    for day in range(1, 6):
        x, spread = fan[0] - 1.2 + 0.4 * day, 0.22 * day ** 0.5
        axis.plot([x, x], [fan[1] - spread, fan[1] + spread], color=INPUT_OUTPUT.line, linewidth=3,
                  solid_capstyle="round", zorder=4)
        axis.plot([x], [fan[1]], marker="o", markersize=4, color="white", markeredgecolor=INPUT_OUTPUT.line, zorder=5)
        note(axis, (x, fan[1] - 0.75), f"+{day}", fontsize=8)
    note(axis, (fan[0], fan[1] + 0.72), "p10 · p50 · p90", fontsize=8.5)

    legend(axis, (0.3, -0.35), [("io", "input / output"), ("state", "state carried between steps")])
    return figure


FIGURES = {"unrolled-rnn.svg": unrolled_rnn, "lstm-cell.svg": lstm_cell, "gru-cell.svg": gru_cell,
           "sequence-shapes.svg": sequence_shapes}


def svg_of(draw: Callable[[], Figure]) -> str:
    """The SVG text of the figure `draw` returns, drawn under SVG_SETTINGS."""
    with mpl.rc_context():
        mpl.rcdefaults()  # matplotlib's own defaults: no user matplotlibrc or style of the calling process leaks in
        mpl.rcParams.update(SVG_SETTINGS)
        buffer = io.StringIO()
        draw().savefig(buffer, format="svg", metadata=SVG_METADATA)
    # Plain text names a list of fonts ending in sans-serif, but mathtext's spans name DejaVu Sans alone: a browser
    # without it would draw the symbols in its default serif face.
    return MATH_FONT.sub("font-family: 'DejaVu Sans', sans-serif", buffer.getvalue())


def write_figures(out_dir: Path = FIGURES_DIR) -> list[Path]:
    """Draw every figure and write it to `out_dir`; the same code gives the same bytes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, draw in FIGURES.items():
        path = out_dir / name
        path.write_text(svg_of(draw), encoding="utf-8")  # ×, σ and − are in the labels
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=FIGURES_DIR)
    paths = write_figures(parser.parse_args(argv).out_dir)
    for path in paths:
        print(path)
    return paths


if __name__ == "__main__":
    main()
