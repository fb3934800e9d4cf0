"""The checks every artifact passes before it is served: the zoo's own exports and models brought from other
frameworks alike (see zoo/docs/bring-your-own-model.md).

1. checksum: the ONNX bytes (and tokenizer, parity file) hash to what the card says (zoo.runtime.verified_bytes);
2. contract: the card's inputs and outputs are what the task's endpoint feeds and reads (names, dtypes,
   shapes consistent with the architecture and preprocessing);
3. IO spec: the ONNX graph onnxruntime loaded has exactly the card's inputs and outputs;
4. parity vectors: onnxruntime reproduces the outputs the model's source computed, within the card's tolerance.

    python -m zoo.validate zoo/artifacts/shakespeare-lstm [more folders]   # exit 1 if any fails
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

from zoo.cards import CardError, ModelCard, TensorSpec

INPUT, OUTPUT = "input:", "output:"  # key prefixes in a parity .npz
ACCELERATOR_PARITY_FLOOR = 1e-3  # the least tolerance on a GPU provider; cards state the CPU's


class ValidationError(CardError):
    """An artifact whose card, graph or outputs are not what the task's endpoint needs."""


def _spec(spec: TensorSpec) -> str:
    return f"{spec.name} {spec.dtype} {spec.shape}"


def _expect(where: str, actual: list[TensorSpec], expected: list[tuple[str, str, list]]) -> None:
    """`actual` must be exactly `expected` (name, dtype, shape); a None dimension in `expected` may be anything."""
    problems = []
    if [s.name for s in actual] != [name for name, _, _ in expected]:
        problems.append(f"names {[s.name for s in actual]}, expected {[name for name, _, _ in expected]}")
    for spec, (name, dtype, shape) in zip(actual, expected):
        if spec.dtype != dtype:
            problems.append(f"{spec.name} is {spec.dtype}, expected {dtype}")
        if len(spec.shape) != len(shape) or any(e is not None and a != e for a, e in zip(spec.shape, shape)):
            problems.append(f"{spec.name} has shape {spec.shape}, expected {[('any' if e is None else e) for e in shape]}")
    if problems:
        raise ValidationError(f"{where}: " + "; ".join(problems))


def _state(names: list[str], layers, hidden) -> list[tuple[str, str, list]]:
    return [(name, "float32", [layers, "batch", hidden]) for name in names]


def check_contract(card: ModelCard) -> None:
    """The card's inputs and outputs are what zoo.runtime's predictor of the task feeds and reads."""
    arch, where = card.architecture, f"{card.name} ({card.task})"
    if card.task == "sentiment":
        _expect(f"{where} inputs", card.inputs, [("token_ids", "int64", ["batch", "sequence"]),
                                                 ("lengths", "int64", ["batch"])])
        _expect(f"{where} outputs", card.outputs, [("logits", "float32", ["batch", len(card.preprocessing.labels)])])
    elif card.task == "generation":
        states = ["h0", "c0"] if arch.cell == "lstm" else ["h0"]
        _expect(f"{where} inputs", card.inputs, [("tokens", "int64", ["batch", "sequence"]),
                                                 *_state(states, arch.num_layers, arch.hidden_size)])
        _expect(f"{where} outputs", card.outputs, [("logits", "float32", ["batch", "sequence", arch.vocab_size]),
                                                   *_state([s[0] + "N" for s in states], arch.num_layers, arch.hidden_size)])
    elif card.task == "forecasting":
        settings = card.preprocessing.statistics
        window, horizons = settings.get("window"), settings.get("horizons")
        quantiles = len(settings.get("quantiles", []))
        _expect(f"{where} inputs", card.inputs, [("features", "float32", ["batch", window, None])])
        _expect(f"{where} outputs", card.outputs, [("quantiles", "float32", ["batch", horizons, quantiles])])
    elif card.task == "vitals":
        from zoo.vitals import FEATURE_COUNT, VITALS

        states = card.inputs[1:]
        if not states or any(not s.name.endswith("0") for s in states):
            raise ValidationError(f"{where} inputs: after features, state inputs named *0 are needed, got "
                                  f"{[s.name for s in states]}")
        _expect(f"{where} inputs", card.inputs, [("features", "float32", ["batch", "hours", FEATURE_COUNT]),
                                                 *[(s.name, "float32", [None, "batch", None]) for s in states]])
        _expect(f"{where} outputs", card.outputs, [
            ("mortality_risk", "float32", ["batch", "hours"]), ("vitals_change", "float32", ["batch", "hours", len(VITALS)]),
            *[(s.name[:-1] + "N", "float32", s.shape) for s in states]])
    else:
        raise ValidationError(f"{where}: unknown task; tasks are sentiment, generation, forecasting, vitals")


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
            raise ValidationError(f"{card.name}: the graph's {kind} are {[_spec(g) for g in graph]}, "
                                  f"the card's {[_spec(c) for c in card_specs]}")
        for g, c in zip(graph, card_specs):
            fixed_differs = any(isinstance(cd, int) and isinstance(gd, int) and cd != gd for gd, cd in zip(g.shape, c.shape))
            # A dimension the card calls dynamic ("batch") must not be pinned in the graph: requests would fail.
            pinned = any(isinstance(cd, str) and isinstance(gd, int) for gd, cd in zip(g.shape, c.shape))
            if g.dtype != c.dtype or len(g.shape) != len(c.shape) or fixed_differs or pinned:
                raise ValidationError(f"{card.name}: graph {kind[:-1]} {_spec(g)} does not match the card's {_spec(c)}")


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
    from zoo.runtime import verified_bytes

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


def validate(directory: Path, providers: list[str] | None = None) -> ModelCard:
    """Every check on one artifact folder, as the service runs them at start-up; raises on the first failure."""
    from zoo.runtime import PREDICTORS

    card = ModelCard.load(directory)
    if card.task not in PREDICTORS:
        raise ValidationError(f"{card.name}: unknown task {card.task!r}; tasks: {sorted(PREDICTORS)}")
    PREDICTORS[card.task](directory, providers or ["CPUExecutionProvider"])  # runs all four checks
    return card


def main(argv: list[str] | None = None) -> int:
    from zoo.runtime import ArtifactError

    folders = argv if argv is not None else sys.argv[1:]
    if not folders:
        print(__doc__)
        return 2
    failed = 0
    for folder in folders:
        try:
            card = validate(Path(folder))
            vectors = card.export.parity_vectors
            print(f"ok    {folder}: {card.name} ({card.task}), parity within {vectors.tolerance:g} of {vectors.source}")
        except (CardError, ArtifactError, OSError) as error:
            failed += 1
            print(f"FAIL  {folder}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
