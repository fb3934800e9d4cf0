"""Bring your own model: an ONNX recurrent model exported elsewhere (Keras: training/keras/; tf2onnx, a graph built
with onnx.helper...) -> a zoo artifact folder with a card, served like the zoo's own.

    python -m training.bring_your_own --onnx my_lstm.onnx --task generation --name keras-shakespeare-lstm \\
        --tokenizer vocab.json --parity parity.npz --parity-source "keras 3.15.1 model.predict" --license mit \\
        --exporter "torch.onnx, opset 17" --trained-on "Tiny Shakespeare first 90%" --batch-major-state h0,c0,hN,cN

What it checks and measures (zoo/docs/bring-your-own-model.md explains each step):
- the graph has a recurrent op (LSTM, GRU or RNN) and the inputs and outputs the task's endpoint feeds and
  reads (zoo.validate's contract: names, dtypes, shapes);
- the parity vectors (inputs with the outputs your framework computed) are reproduced by onnxruntime;
- the card's metrics are measured here, with onnxruntime, on the task's standard split, beside the same
  trivial baseline as the zoo's own models of the task: no number on the card comes from the submitter.
The metrics are measured by loading the written folder as the service does, so zoo.validate's checks run there too.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx

from training.parity_vectors import record_parity
from training.tasks import TRAINING_TASKS
from zoo.artifacts import ARTIFACTS_DIR, create_session
from zoo.cards import MODEL_FILE, Architecture, CardError, Export, ModelCard, TensorSpec, TrainingRun, sha256_of
from zoo.checks import check_io, load_parity_vectors, parity_bytes
from zoo.registry import list_models
from zoo.runtime import default_model
from zoo.tasks import TASKS
from zoo.validate import check_contract

RECURRENT_OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def layer_major_state(model: onnx.ModelProto, states: list[str]) -> onnx.ModelProto:
    """Keras and JAX put the batch first, so their exported state inputs and outputs are (batch, hidden); the
    zoo's contract is (layers, batch, hidden). Give each named state a leading axis of 1: a Squeeze after each
    such input and an Unsqueeze before each such output, the graph's own nodes left as they are. One layer
    only: a stacked model exports one state per layer, which would need a Concat instead."""
    graph = model.graph
    graph.initializer.append(onnx.helper.make_tensor("layer_axis", onnx.TensorProto.INT64, [1], [0]))
    inputs, outputs = {v.name: v for v in graph.input}, {v.name: v for v in graph.output}
    missing = [name for name in states if name not in inputs and name not in outputs]
    if missing:
        raise CardError(f"--batch-major-state names {missing}, which are neither inputs nor outputs of the graph; "
                        f"inputs: {sorted(inputs)}, outputs: {sorted(outputs)}")
    for name in states:
        inner = f"{name}_batch_major"
        if name in inputs:
            for node in graph.node:
                node.input[:] = [inner if i == name else i for i in node.input]
            graph.node.insert(0, onnx.helper.make_node("Squeeze", [name, "layer_axis"], [inner]))
            value = inputs[name]
        else:
            for node in graph.node:
                node.output[:] = [inner if o == name else o for o in node.output]
            graph.node.append(onnx.helper.make_node("Unsqueeze", [inner, "layer_axis"], [name]))
            value = outputs[name]
        value.type.tensor_type.shape.dim.insert(0, onnx.TensorShapeProto.Dimension(dim_value=1))
    onnx.checker.check_model(model)
    return model


def name_dynamic_axes(model: onnx.ModelProto, known: list[TensorSpec]) -> onnx.ModelProto:
    """Exporters name dynamic axes as they like (tf2onnx: "unk__55"); a dynamic axis where the task's contract
    has a named one gets the contract's name ("batch", "sequence"), in the graph and so on the card. Only
    labels change: a fixed size stays fixed, and zoo.validate still refuses one where the contract is dynamic."""
    expected = {spec.name: spec.shape for spec in known}
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shape = expected.get(value.name)
        if shape is None or len(shape) != len(dims):
            continue
        for dim, wanted in zip(dims, shape):
            if isinstance(wanted, str) and not dim.HasField("dim_value"):
                dim.dim_param = wanted
    return model


def tensor_specs(values, template: list[TensorSpec]) -> list[TensorSpec]:
    """The graph's inputs or outputs as card specs; descriptions come from the zoo's card of the task."""
    described = {spec.name: spec.description for spec in template}
    specs = []
    for value in values:
        tensor = value.type.tensor_type
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        shape = []
        for index, dim in enumerate(tensor.shape.dim):
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                shape.append(dim.dim_param)
            else:
                raise CardError(f"{value.name}: dimension {index} has neither a size nor a name; name dynamic axes "
                                "when exporting (tf2onnx and torch.onnx: dynamic axes / input signatures)")
        specs.append(TensorSpec(value.name, dtype, shape, described.get(value.name, "")))
    return specs


def architecture(model: onnx.ModelProto, inputs: list[TensorSpec], outputs: list[TensorSpec], task: str,
                 vocab_size: int) -> Architecture:
    """Cell, layers and sizes read off the graph's recurrent nodes and initializers."""
    nodes = [node for node in model.graph.node if node.op_type in RECURRENT_OPS]
    if not nodes:
        ops = sorted({node.op_type for node in model.graph.node})
        raise CardError(f"the graph has no LSTM, GRU or RNN node (it has {ops}); the zoo serves recurrent models, "
                        "exported with the native ONNX recurrent ops")
    cells = {RECURRENT_OPS[node.op_type] for node in nodes}
    if len(cells) > 1:
        raise CardError(f"the graph mixes recurrent cells {sorted(cells)}; one cell per model")
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    direction = attributes.get("direction", b"forward")
    weights = {init.name: init for init in model.graph.initializer}
    input_weight = weights.get(nodes[0].input[1])
    embedding_dim = int(input_weight.dims[-1]) if input_weight is not None else 0
    state = next((spec for spec in inputs[1:] if spec.dtype == "float32" and len(spec.shape) == 3), None)
    layers = state.shape[0] if state is not None and isinstance(state.shape[0], int) else len(nodes)
    parameters = sum(int(np.prod(init.dims)) for init in model.graph.initializer
                     if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16))
    return Architecture(cell=cells.pop(), num_layers=layers, hidden_size=int(attributes["hidden_size"]),
                        bidirectional=direction in (b"bidirectional", "bidirectional"), embedding_dim=embedding_dim,
                        vocab_size=vocab_size, parameter_count=parameters)


def bring(args: argparse.Namespace) -> ModelCard:
    artifacts = Path(args.artifacts_dir)
    shipped = [ModelCard.load(ARTIFACTS_DIR / name) for name in list_models(args.task)]  # the zoo's own of the task
    template = next(c for c in shipped if c.name == default_model(shipped, args.task))  # its split and baseline
    # every tensor the task's models have, with its axes and description (an LSTM's c0 as well as h0)
    known = [spec for card in shipped for spec in [*card.inputs, *card.outputs]]
    model_bytes = Path(args.onnx).read_bytes()
    model = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model)
    if args.batch_major_state:
        model = layer_major_state(model, args.batch_major_state.split(","))
    model_bytes = name_dynamic_axes(model, known).SerializeToString()
    initializers = {init.name for init in model.graph.initializer}
    inputs = tensor_specs([v for v in model.graph.input if v.name not in initializers], known)
    outputs = tensor_specs(model.graph.output, known)
    tokenizer = Path(args.tokenizer) if args.tokenizer else None
    if template.preprocessing.tokenizer_file and tokenizer is None:
        raise CardError(f"a {args.task} model needs --tokenizer (the zoo's format: {template.preprocessing.tokenizer_file})")

    out = artifacts / args.name
    if out.exists():
        raise CardError(f"{out} exists; pick another --name or remove it")
    out.mkdir(parents=True)
    try:
        (out / MODEL_FILE).write_bytes(model_bytes)
        preprocessing = dataclasses.replace(template.preprocessing)
        if tokenizer is not None:
            shutil.copy(tokenizer, out / template.preprocessing.tokenizer_file)
            preprocessing.tokenizer_sha256 = sha256_of(out / template.preprocessing.tokenizer_file)
        parity = Path(args.parity).read_bytes()
        if args.batch_major_state:  # the parity vectors come from the framework too: (batch, hidden) states
            lift = lambda arrays: {k: v[None] if k in args.batch_major_state.split(",") and v.ndim == 2 else v  # noqa: E731
                                   for k, v in arrays.items()}
            parity = parity_bytes(*(lift(arrays) for arrays in load_parity_vectors(parity)))
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        card = ModelCard(
            name=args.name, version=args.version, task=args.task, summary=args.summary or f"{args.name}, brought from outside the zoo",
            architecture=architecture(model, inputs, outputs, args.task,
                                      TRAINING_TASKS[args.task].vocabulary_size(tokenizer, outputs)),
            inputs=inputs, outputs=outputs, preprocessing=preprocessing,
            training_data=dataclasses.replace(template.training_data, train_split=args.trained_on, license=args.license,
                                              source=f"brought model: {args.trained_on}"),
            weights_license=args.license, weights_license_terms=args.license_terms,
            metrics=[dataclasses.replace(metric, value=math.nan) for metric in template.metrics],
            training=TrainingRun(seconds=0.0, hardware="not reported (brought model)", epochs=0, seed=0,
                                 command="python -m training.bring_your_own " + shlex.join(args.argv),
                                 config={"brought_with": args.exporter}),
            export=Export(onnx_file=MODEL_FILE, sha256=sha256_of(out / MODEL_FILE), opset=opset, exporter=args.exporter,
                          parity_max_abs_diff=math.nan, parity_tolerance=args.parity_tolerance,
                          size_bytes=(out / MODEL_FILE).stat().st_size),
            intended_use=args.intended_use or template.intended_use,
            limitations=[f"Brought from outside the zoo ({args.exporter}); its training is not reproducible from "
                         "training/, and only its file, not its training data, was checked here."],
        )
        check_contract(card)
        session = create_session(model_bytes, ["CPUExecutionProvider"])
        check_io(card, session)
        card = record_parity(out, card, parity, args.parity_source, args.parity_tolerance, session)  # saves the card
        card.export.parity_max_abs_diff = card.export.parity_vectors.max_abs_diff
        # measured with onnxruntime on the task's standard split, by the task's predictor: the service's own
        # loading path, so every check zoo.validate runs at start-up runs here too
        card = TRAINING_TASKS[args.task].measure(card, out, args.data_dir)
        card.save(out)
        return card
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> ModelCard:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--onnx", required=True, help="the exported model")
    parser.add_argument("--task", required=True, choices=sorted(TASKS))
    parser.add_argument("--name", required=True, help="the model's name in the zoo (its folder and `model` field)")
    parser.add_argument("--parity", required=True,
                        help='.npz of "input:<name>" arrays and the "output:<name>" arrays your framework computed for them')
    parser.add_argument("--parity-source", required=True, help='what computed the expected outputs, e.g. "keras 3.15.1 model.predict"')
    parser.add_argument("--parity-tolerance", type=float, default=1e-4)
    parser.add_argument("--exporter", required=True, help='how the ONNX file was made, e.g. "tf2onnx 1.16, opset 17"')
    parser.add_argument("--trained-on", required=True, help="what the model was trained on, in words")
    parser.add_argument("--license", required=True,
                        help="the weights' license, a Hugging Face license id (apache-2.0, mit, cc-by-4.0, ...) or 'other'")
    parser.add_argument("--license-terms", default="", help="with --license other: what the terms are")
    parser.add_argument("--batch-major-state", default="",
                        help='comma-separated state inputs and outputs exported as (batch, hidden), e.g. "h0,c0,hN,cN" '
                             "from Keras: they get the contract's leading layer axis (one-layer models)")
    parser.add_argument("--tokenizer", help="generation: vocab.json (zoo.tasks.generation.vocabulary.CharVocabulary); "
                                            "sentiment: tokenizer.json")
    parser.add_argument("--summary", default="")
    parser.add_argument("--intended-use", default="")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--artifacts-dir", default=str(ARTIFACTS_DIR))
    parser.add_argument("--data-dir", default=None, help="where the evaluation data is (default: $RNNZOO_DATA)")
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        card = bring(args)
    except (CardError, onnx.checker.ValidationError) as error:
        parser.exit(2, f"refused: {error}\n")
    for metric in card.metrics:
        print(f"{card.name}: {metric.name} {metric.value:.4f} vs {metric.baseline_value:.4f} ({metric.baseline}; {metric.split})")
    print(f"{card.name}: parity within {card.export.parity_vectors.tolerance:g} of {card.export.parity_vectors.source} "
          f"(max {card.export.parity_max_abs_diff:.2g}); written to {Path(args.artifacts_dir) / card.name}")
    return card


if __name__ == "__main__":
    main()
