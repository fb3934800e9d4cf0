"""The step scheduler called directly: batched steps, seeded determinism, cancellation, capacity."""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from service.tasks.generation_scheduler import CapacityError, SamplingParams, StepScheduler
from training.generation.export import VOCABULARY_FILE, export_onnx, state_names
from training.parity_vectors import from_torch
from zoo import create_model
from zoo.cards import (
    MODEL_FILE,
    Architecture,
    Export,
    ModelCard,
    Preprocessing,
    TensorSpec,
    TrainingData,
    TrainingRun,
    sha256_of,
)
from zoo.sampling import next_token
from zoo.tasks.generation.network import StepGraph
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.generation.vocabulary import CharVocabulary

VOCABULARY = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> GenerationPredictor:
    """A tiny untrained LSTM packaged like a shipped artifact."""
    out = tmp_path_factory.mktemp("zoo") / "test-shakespeare-lstm"
    out.mkdir()
    torch.manual_seed(0)
    graph = StepGraph(create_model("test-shakespeare-lstm").eval())
    export_onnx(graph, "lstm", out / MODEL_FILE)
    CharVocabulary(VOCABULARY).save(out / VOCABULARY_FILE)
    inputs, outputs = state_names("lstm")
    card = ModelCard(
        name="test-shakespeare-lstm", version="0", task="generation", summary="tiny",
        architecture=Architecture("lstm", 2, 16, False, 8, 65, 0),
        inputs=[TensorSpec("tokens", "int64", ["batch", "sequence"], "")] + [TensorSpec(n, "float32", [2, "batch", 16], "") for n in inputs],
        outputs=[TensorSpec("logits", "float32", ["batch", "sequence", 65], "")] + [TensorSpec(n, "float32", [2, "batch", 16], "") for n in outputs],
        preprocessing=Preprocessing(VOCABULARY_FILE, sha256_of(out / VOCABULARY_FILE), 4000, [], "none"),
        training_data=TrainingData("-", "-", "-", "-", "-"), metrics=[],
        training=TrainingRun(0, "-", 0, 0, "-"),
        export=Export(MODEL_FILE, sha256_of(out / MODEL_FILE), 17, "-", 0, 1e-4, 0),
        intended_use="tests", limitations=[],
    )
    from_torch(out, card, graph)  # saves the card with its parity vectors
    return GenerationPredictor(out, ["CPUExecutionProvider"])


def reference(generator: GenerationPredictor, prompt: str, params: SamplingParams) -> str:
    """The same sampling as a bare loop at batch size 1."""
    rng = np.random.default_rng(params.seed)
    ids = generator.vocabulary.encode(prompt) if prompt else np.array([generator.start_id])
    (logits,), state = generator.step(ids[None, :], generator.initial_state(1))
    out = []
    for _ in range(params.max_new_tokens):
        out.append(next_token(logits[0, -1], rng, params.temperature, params.top_k, params.top_p))
        (logits,), state = generator.step(np.array([[out[-1]]]), state)
    return generator.vocabulary.decode(out)


async def collect(scheduler, generator, prompt, params):
    stream = await scheduler.start(generator.vocabulary.encode(prompt), params)
    return "".join([c async for c in scheduler.characters(stream)])


def test_concurrent_streams_share_steps_and_match_a_bare_loop(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=16, max_seconds=60)
        params = [SamplingParams(max_new_tokens=30 + 5 * i, temperature=0.9, top_k=20, seed=i) for i in range(8)]
        prompts = ["ROMEO:", "", "To be", "A", "Hark! who", "JULIET:\nO", "x", "Good morrow"]
        texts = await asyncio.gather(*(collect(scheduler, generator, p, q) for p, q in zip(prompts, params)))
        return scheduler, texts, prompts, params

    scheduler, texts, prompts, params = asyncio.run(main())
    for text, prompt, p in zip(texts, prompts, params):
        assert text == reference(generator, prompt, p)
    assert max(scheduler.batch_sizes) >= 4  # the streams really were stepped together


def test_a_closed_stream_stops_being_stepped(generator):
    async def main():
        # a read-ahead beyond max_new_tokens: only the cancellation can stop this stream early
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=4, max_seconds=60, read_ahead=10_000,
                                  flush_interval=0.0)
        stream = await scheduler.start(generator.vocabulary.encode("ROMEO:"), SamplingParams(max_new_tokens=2000, seed=1))
        characters = scheduler.characters(stream)
        for _ in range(5):
            await characters.__anext__()
        await characters.aclose()  # what a disconnecting client causes
        produced = stream.produced
        await asyncio.sleep(0.2)
        return scheduler, stream, produced

    scheduler, stream, produced = asyncio.run(main())
    scheduler.close()
    assert produced < 2000 and stream.produced <= produced + 1 and stream not in scheduler.streams


def test_capacity_is_enforced_before_any_work(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=1, max_seconds=60)
        await scheduler.start(generator.vocabulary.encode("A"), SamplingParams(max_new_tokens=2000, seed=1))
        with pytest.raises(CapacityError, match="1 generations are already running"):
            await scheduler.start(generator.vocabulary.encode("B"), SamplingParams(seed=2))

    asyncio.run(main())


def test_a_finished_generation_frees_its_place_at_once(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=1, max_seconds=60)
        first = await scheduler.start(generator.vocabulary.encode("A"), SamplingParams(max_new_tokens=5, seed=1))
        text = "".join([c async for c in scheduler.characters(first)])
        with scheduler.lock:  # as if the step thread had not dropped it yet: the moment a client asks again
            if first not in scheduler.streams:
                scheduler.streams.append(first)
        second = await scheduler.start(generator.vocabulary.encode("B"), SamplingParams(max_new_tokens=5, seed=2))
        return scheduler, text, "".join([c async for c in scheduler.characters(second)])

    scheduler, first, second = asyncio.run(main())
    scheduler.close()
    assert len(first) == 5 and len(second) == 5


def test_the_wall_clock_cap_ends_a_generation_and_says_so(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=4, max_seconds=0.0)
        stream = await scheduler.start(generator.vocabulary.encode("A"), SamplingParams(max_new_tokens=2000, seed=1))
        text = "".join([c async for c in scheduler.characters(stream)])
        return text, stream

    text, stream = asyncio.run(main())
    assert len(text) == 1 and stream.finish_reason == "time_limit"


def test_a_slow_client_pauses_only_its_own_stream_and_loses_nothing(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=4, max_seconds=60, read_ahead=8)
        slow_params = SamplingParams(max_new_tokens=100, seed=3)
        slow = await scheduler.start(generator.vocabulary.encode("ROMEO:"), slow_params)
        fast_text = await collect(scheduler, generator, "JULIET:", SamplingParams(max_new_tokens=200, seed=4))
        paused_at = slow.produced  # nobody has read the slow stream yet
        slow_text = "".join([c async for c in scheduler.characters(slow)])  # now it is read to the end
        scheduler.close()
        return paused_at, slow_text, fast_text, slow_params

    paused_at, slow_text, fast_text, slow_params = asyncio.run(main())
    assert paused_at == 8  # it ran exactly read_ahead characters ahead, then waited
    assert len(fast_text) == 200  # the other stream was not held back
    assert slow_text == reference(generator, "ROMEO:", slow_params)  # pausing changed nothing


def test_the_wall_clock_cap_also_frees_a_stream_nobody_reads(generator):
    async def main():
        scheduler = StepScheduler(generator, ThreadPoolExecutor(1), max_streams=1, max_seconds=0.3, read_ahead=4)
        abandoned = await scheduler.start(generator.vocabulary.encode("A"), SamplingParams(max_new_tokens=2000, seed=1))
        await asyncio.sleep(0.6)  # paused after 4 characters, and never read
        second = await scheduler.start(generator.vocabulary.encode("B"), SamplingParams(max_new_tokens=5, seed=2))
        text = "".join([c async for c in scheduler.characters(second)])
        scheduler.close()
        return abandoned, text

    abandoned, text = asyncio.run(main())
    assert abandoned.finished and abandoned.finish_reason == "time_limit" and abandoned.produced == 4
    assert len(text) == 5  # the slot was free again
