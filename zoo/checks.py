"""The checks every artifact passes before it is served (the zoo's own exports and brought models alike):

1. checksum: the ONNX bytes (and tokenizer, parity file) hash to what the card says (zoo.artifacts);
2. contract: the card's inputs and outputs are what the task's predictor feeds and reads (each task's
   `check_contract`, written with `expect` below);
3. IO spec: the ONNX graph onnxruntime loaded has exactly the card's inputs and outputs;
4. parity vectors: onnxruntime reproduces the outputs the model's source computed, within the card's tolerance.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from zoo.artifacts import verified_bytes
from zoo.cards import CardError, ModelCard, TensorSpec

INPUT, OUTPUT = "input:", "output:"  # key prefixes in a parity .npz
ACCELERATOR_PARITY_FLOOR = 1e-3  # the least tolerance on a GPU provider; cards state the CPU's


class ValidationError(CardError):
    """An artifact whose card, graph or outputs are not what the task's endpoint needs."""


def describe(spec: TensorSpec) -> str:
    return f"{spec.name} {spec.dtype} {spec.shape}"


def expect(where: str, actual: list[TensorSpec], expected: list[tuple[str, str, list]]) -> None:
    """`actual` must be exactly `expected` (name, dtype, shape); a None dimension in `expected` may be anything."""
    problems = []
    if [s.name for s in actual] != [name for name, _, _ in expected]:
        problems.append(f"names {[s.name for s in actual]}, expected {[name for name, _, _ in expected]}")
    for spec, (_, dtype, shape) in zip(actual, expected):
        if spec.dtype != dtype:
            problems.append(f"{spec.name} is {spec.dtype}, expected {dtype}")
        if len(spec.shape) != len(shape) or any(e is not None and a != e for a, e in zip(spec.shape, shape)):
            problems.append(f"{spec.name} has shape {spec.shape}, expected {[('any' if e is None else e) for e in shape]}")
    if problems:
        raise ValidationError(f"{where}: " + "; ".join(problems))


def state_tensors(names: list[str], layers, hidden) -> list[tuple[str, str, list]]:
    """Expected (name, dtype, shape) of recurrent state tensors: (layers, batch, hidden) float32."""
    return [(name, "float32", [layers, "batch", hidden]) for name in names]


def expect_step_graph(card: ModelCard, inputs: list[tuple[str, str, list]], outputs: list[tuple[str, str, list]]) -> None:
    """The contract of a step-capable graph: `inputs` then the state in (h0, and c0 for LSTMs), `outputs` then the
    state out (hN, cN), each state (layers, batch, hidden) float32; CardError saying what differs."""
    arch, where = card.architecture, f"{card.name} ({card.task})"
    states = ["h0", "c0"] if arch.cell == "lstm" else ["h0"]
    expect(f"{where} inputs", card.inputs, [*inputs, *state_tensors(states, arch.num_layers, arch.hidden_size)])
    expect(f"{where} outputs", card.outputs, [*outputs, *state_tensors([s[0] + "N" for s in states], arch.num_layers,
                                                                       arch.hidden_size)])


def _ort_dtype(type_name: str) -> str:
    """onnxruntime's 'tensor(float)' -> the card's 'float32'."""
    name = type_name.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)


def check_io(card: ModelCard, session) -> None:
    """The loaded graph has the card's inputs and outputs, in order, with the same dtypes and ranks; a
    dimension fixed on the card is fixed to the same size in the graph, a named one is dynamic there."""
    for kind, graph_args, card_specs in (("inputs", session.get_inputs(), card.inputs),
                                         ("outputs", session.get_outputs(), card.outputs)):
        graph = [TensorSpec(a.name, _ort_dtype(a.type), list(a.shape), "") for a in graph_args]
        if [g.name for g in graph] != [c.name for c in card_specs]:
            raise ValidationError(f"{card.name}: the graph's {kind} are {[describe(g) for g in graph]}, "
                                  f"the card's {[describe(c) for c in card_specs]}")
        for g, c in zip(graph, card_specs):
            fixed_differs = any(isinstance(cd, int) and isinstance(gd, int) and cd != gd for gd, cd in zip(g.shape, c.shape))
            # A dimension the card calls dynamic ("batch") must not be pinned in the graph: requests would fail.
            pinned = any(isinstance(cd, str) and isinstance(gd, int) for gd, cd in zip(g.shape, c.shape))
            if g.dtype != c.dtype or len(g.shape) != len(c.shape) or fixed_differs or pinned:
                raise ValidationError(f"{card.name}: graph {kind[:-1]} {describe(g)} does not match the card's {describe(c)}")


def load_parity_vectors(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    inputs = {k.removeprefix(INPUT): v for k, v in arrays.items() if k.startswith(INPUT)}
    outputs = {k.removeprefix(OUTPUT): v for k, v in arrays.items() if k.startswith(OUTPUT)}
    return inputs, outputs


def parity_bytes(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> bytes:
    """The .npz file of parity vectors, as bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **{INPUT + k: v for k, v in inputs.items()}, **{OUTPUT + k: v for k, v in outputs.items()})
    return buffer.getvalue()


def save_parity_vectors(path: Path, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
    Path(path).write_bytes(parity_bytes(inputs, outputs))


def parity_difference(card: ModelCard, data: bytes, session) -> float:
    """Max |onnxruntime - expected| over every output element of the parity vectors."""
    inputs, expected = load_parity_vectors(data)
    if sorted(inputs) != sorted(s.name for s in card.inputs) or sorted(expected) != sorted(s.name for s in card.outputs):
        raise ValidationError(f"{card.name}: parity vectors hold inputs {sorted(inputs)} and outputs {sorted(expected)}; "
                              f"the card has {[s.name for s in card.inputs]} -> {[s.name for s in card.outputs]}")
    names = [s.name for s in card.outputs]
    actual = session.run(names, inputs)
    worst = 0.0
    for name, value in zip(names, actual):
        if value.shape != expected[name].shape:
            raise ValidationError(f"{card.name}: parity output {name} is {value.shape}, expected {expected[name].shape}")
        worst = max(worst, float(np.abs(value.astype(np.float64) - expected[name]).max(initial=0.0)))
    return worst


def check_parity(card: ModelCard, directory: Path, session) -> float:
    vectors = card.export.parity_vectors
    if vectors is None:
        raise ValidationError(f"{card.name}: the card has no export.parity_vectors; every served model needs "
                              "inputs with the outputs its source computed (see zoo/docs/bring-your-own-model.md)")
    difference = parity_difference(card, verified_bytes(Path(directory) / vectors.file, vectors.sha256), session)
    tolerance = vectors.tolerance
    if session.get_providers()[0] != "CPUExecutionProvider":
        # cuDNN's recurrent kernels sum in another order (and may use TF32): allow GPU rounding, not another model
        tolerance = max(tolerance, ACCELERATOR_PARITY_FLOOR)
    if not difference <= tolerance:  # NaN fails too
        raise ValidationError(f"{card.name}: onnxruntime differs from {vectors.source} by {difference:.3g} on the parity "
                              f"vectors, more than the card's tolerance {tolerance:g}")
    return difference


def example_inputs(card: ModelCard, batch: int, steps: int, rng: np.random.Generator,
                   whole_rows: bool = False, zero_state: bool = False) -> dict[str, np.ndarray]:
    """Random feeds shaped as the card's inputs, for parity checks and benchmarks: token ids below the
    vocabulary size (at most 2,000), `lengths` and `source_lengths` from 1 to `steps` (all `steps` with whole_rows),
    `rows` (a translator's decoder: the sentence each row attends to; other named axes, "sentences" too, are `steps`
    long) below `steps`, features and state drawn from N(0, 0.25) (state zeros with zero_state: a new sequence)."""
    feeds = {}
    for spec in card.inputs:
        shape = [batch if d == "batch" else steps if isinstance(d, str) else d for d in spec.shape]
        if spec.name in ("lengths", "source_lengths"):
            feeds[spec.name] = (np.full(shape, steps) if whole_rows else rng.integers(1, steps + 1, shape)).astype(np.int64)
        elif spec.name == "rows":
            feeds[spec.name] = rng.integers(0, steps, shape).astype(np.int64)
        elif spec.dtype == "int64":
            feeds[spec.name] = rng.integers(1, min(card.architecture.vocab_size or 60, 2000), shape).astype(np.int64)
        elif zero_state and spec.shape[1:2] == ["batch"]:  # a state tensor (L, batch, H)
            feeds[spec.name] = np.zeros(shape, dtype=np.float32)
        else:
            feeds[spec.name] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
    return feeds
