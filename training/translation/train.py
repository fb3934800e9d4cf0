"""Train a German-English translator (RNN, LSTM or GRU encoder-decoder with attention) on Multi30k, then export it
(encoder graph + one-step decoder graph) to zoo/artifacts/<name>/ with a card.

    python -m training.translation.train --model multi30k-de-en-gru
    python -m training.translation.train --model test-multi30k-de-en-gru --pairs 64 --epochs 1 --validation-pairs 8

Teacher forcing with label smoothing, Adam with a cosine schedule over the time budget, gradient clipping; after
each epoch the model translates the validation split greedily and the epoch with the best sacreBLEU is kept
(early stopping). The validation split is also the one the card reports (the test sets are withheld), so the
choice of epoch is made on it: the card says so.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sacrebleu
import torch
from torch import nn

from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.translation.data import load_pairs
from training.translation.export import export_translation
from training.translation.subwords import learn_bpe
from zoo import create_model
from zoo.models import parameter_count
from zoo.tasks.translation.vocabulary import BOS_ID, EOS_ID, PAD_ID, SubwordVocabulary


@dataclass
class Config:
    model: str = "multi30k-de-en-gru"  # a translation name from the registry
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    pairs: int = 0  # training pairs used (0: all 29,000); smoke tests use a few
    validation_pairs: int = 0  # validation pairs translated after each epoch (0: all 1,014)
    epochs: int = 40  # at most; the time budget usually ends training first
    max_minutes: float = 75.0  # the learning rate's cosine runs over this budget, then training stops
    batch_tokens: int = 2500  # target subwords per batch (about 100 sentences): batches of similar lengths
    learning_rate: float = 2e-3
    min_learning_rate: float = 5e-5
    warm_up_steps: int = 300
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    patience: int = 6  # epochs without a better validation BLEU before stopping
    max_subwords: int = 100  # longer training pairs are left out (Multi30k's longest has 44)
    seed: int = 1337
    threads: int = 2
    export: bool = True


def learn_vocabularies(pairs, arguments: dict, directory: Path) -> tuple[SubwordVocabulary, SubwordVocabulary]:
    """BPE vocabularies of the sizes the registry gives the network, learned on the training pairs."""
    directory.mkdir(parents=True, exist_ok=True)
    vocabularies = []
    for language, size in (("de", arguments["source_vocab"]), ("en", arguments["target_vocab"])):
        sentences = [p.german if language == "de" else p.english for p in pairs]
        learn_bpe(sentences, size).save(str(directory / f"{language}.json"))
        vocabulary = SubwordVocabulary(directory / f"{language}.json")
        if vocabulary.size > size:
            raise ValueError(f"the {language} vocabulary has {vocabulary.size} pieces, the network {size}")
        vocabularies.append(vocabulary)
    return vocabularies[0], vocabularies[1]


def pad(rows: list[list[int]]) -> torch.Tensor:
    """(B, longest) int64, right-padded with PAD_ID."""
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def batches(sources: list[list[int]], targets: list[list[int]], batch_tokens: int, rng: np.random.Generator):
    """Index lists of pairs with similar lengths, about `batch_tokens` target subwords each, in random order."""
    order = sorted(range(len(sources)), key=lambda i: (len(sources[i]), len(targets[i]), rng.random()))
    groups, current, longest = [], [], 0
    for i in order:
        longest = max(longest, len(targets[i]))
        if current and longest * (len(current) + 1) > batch_tokens:
            groups.append(current)
            current, longest = [], len(targets[i])
        current.append(i)
    groups.append(current)
    rng.shuffle(groups)
    return groups


@torch.no_grad()
def translate_greedy(model: nn.Module, sources: list[list[int]], batch_size: int = 128) -> list[list[int]]:
    """The most probable next subword, step by step, until EOS or 2 x source + 10 subwords: target ids per source.
    The cap is the batch's longest source (serving caps each sentence by its own): they differ only for outputs
    that run on without EOS, so the epoch chosen is the same in all but odd cases."""
    model.eval()
    results = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        source, lengths = pad(chunk), torch.tensor([len(s) for s in chunk])
        memory, keys, state = model.encode(source, lengths)
        token = torch.full((len(chunk), 1), BOS_ID, dtype=torch.long)
        written = [[] for _ in chunk]
        done = torch.zeros(len(chunk), dtype=torch.bool)
        for _ in range(2 * int(lengths.max()) + 10):
            logits, _, state = model.decode(token, memory, keys, lengths, state)  # (B, 1, V)
            scores = logits[:, -1]  # (B, V)
            scores[:, [PAD_ID, BOS_ID]] = float("-inf")  # as the served beam search: never written
            token = scores.argmax(dim=-1, keepdim=True)  # (B, 1)
            for row in torch.nonzero(~done).flatten().tolist():
                if token[row, 0] == EOS_ID:
                    done[row] = True
                else:
                    written[row].append(int(token[row, 0]))
            if done.all():
                break
        results += written
    model.train()
    return results


def train(config: Config) -> Path:
    spec = start_run(config.model, "translation", config.seed, config.threads)
    pairs, validation = load_pairs("train", config.data_dir or None), load_pairs("val", config.data_dir or None)
    pairs, validation = pairs[: config.pairs or None], validation[: config.validation_pairs or None]
    vocabulary_dir = Path(config.checkpoint_dir) / f"{config.model}-vocabularies"
    german, english = learn_vocabularies(pairs, spec.arguments, vocabulary_dir)
    sources = [e.ids for e in german.encode([p.german for p in pairs])]
    targets = [e.ids for e in english.encode([p.english for p in pairs])]  # each ends with EOS
    kept = [i for i in range(len(pairs)) if max(len(sources[i]), len(targets[i])) <= config.max_subwords]
    sources, targets = [sources[i] for i in kept], [targets[i] for i in kept]
    validation_sources = [e.ids for e in german.encode([p.german for p in validation])]
    references = [p.english for p in validation]
    print(f"{len(sources)} training pairs, {len(validation)} validation pairs; vocabularies de {german.size}, "
          f"en {english.size}", flush=True)

    model = create_model(config.model)
    print(f"{config.model}: {parameter_count(model):,} parameters", flush=True)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    loss_function = nn.CrossEntropyLoss(ignore_index=PAD_ID, label_smoothing=config.label_smoothing)
    rng = np.random.default_rng(config.seed)
    history, best_bleu, best_epoch, best_state = [], -1.0, 0, None
    started, step, epoch = time.perf_counter(), 0, 0
    for epoch in range(1, config.epochs + 1):
        total, count = 0.0, 0
        for group in batches(sources, targets, config.batch_tokens, rng):
            elapsed = (time.perf_counter() - started) / (60 * config.max_minutes)  # share of the budget used
            rate = config.min_learning_rate + 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed))) * (
                config.learning_rate - config.min_learning_rate)
            for g in optimiser.param_groups:
                g["lr"] = rate * min(1.0, (step + 1) / config.warm_up_steps)
            source = pad([sources[i] for i in group])  # (B, S)
            lengths = torch.tensor([len(sources[i]) for i in group])  # (B,)
            wanted = pad([targets[i] for i in group])  # (B, T): y then EOS
            given = pad([[BOS_ID, *targets[i][:-1]] for i in group])  # (B, T): BOS then y (teacher forcing)
            logits = model(source, lengths, given)  # (B, T, V)
            loss = loss_function(logits.flatten(0, 1), wanted.flatten())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimiser.step()
            step += 1
            total, count = total + loss.item() * len(group), count + len(group)
        hypotheses = [english.decode(ids) for ids in translate_greedy(model, validation_sources)]
        bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
        minutes = (time.perf_counter() - started) / 60
        history.append({"epoch": epoch, "train_loss": round(total / count, 4), "validation_bleu_greedy": round(bleu, 2),
                        "minutes": round(minutes, 1)})
        print(f"epoch {epoch}: loss {total / count:.4f}, validation BLEU (greedy) {bleu:.2f}, {minutes:.1f} min "
              f"| {hypotheses[0]}", flush=True)
        if bleu > best_bleu:
            best_bleu, best_epoch = bleu, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if epoch - best_epoch >= config.patience or minutes > config.max_minutes:
            break
    seconds = time.perf_counter() - started
    checkpoint = {
        "model_name": config.model, "model_arguments": dict(spec.arguments), "state_dict": best_state,
        "optimizer_state": {"model": optimiser.state_dict()}, "unit": "epochs", "iterations_run": epoch,
        "best_iteration": best_epoch, "validation_metric": "sacreBLEU of greedy translations of val",
        "best_validation": round(best_bleu, 2), "train_seconds": seconds, "config": dataclasses.asdict(config),
        "extras": {"history": history, "training_pairs": len(sources),
                   "vocabularies": {language: (vocabulary_dir / f"{language}.json").read_text()
                                    for language in ("de", "en")}},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best epoch {best_epoch} of {epoch}, BLEU {best_bleu:.2f}, {seconds / 60:.1f} min)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_translation, __doc__, "training.translation.train", argv)


if __name__ == "__main__":
    main()
