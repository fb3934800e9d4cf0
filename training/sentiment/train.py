"""Train an SST-2 sentiment model, then export it to zoo/artifacts/<name>/ with a measured card.

    python -m training.sentiment.train --model sst2-lstm
    python -m training.sentiment.train --model test-sst2-gru --pretrained none --epochs 1 --limit-train 300
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import training.sentiment.pretrained as pretrained
from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.sentiment.data import hold_out_sentences, load_sst2
from training.sentiment.export import export_sentiment
from zoo import create_model
from zoo.task import ModelSpec
from zoo.tasks.sentiment.tokenizer import WordPieceTokenizer


@dataclass
class Config:
    model: str = "sst2-lstm"  # a sentiment name from the registry
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    pretrained: str = "minilm"  # "minilm": frozen MiniLM word vectors; "none": learn the table
    epochs: int = 12  # upper bound; early stopping usually ends sooner
    patience: int = 3  # epochs without a better validation accuracy before stopping
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    clip_norm: float = 1.0  # recurrent nets spike now and then; clipping keeps one batch from undoing an epoch
    validation_sentences: int = 800  # whole sentences held out of train.tsv for model selection; dev is read once
    limit_train: int = 0  # >0: keep only this many training phrases (smoke runs)
    teacher: str = ""  # .npz of teacher logits per train phrase (training.sentiment.teacher); empty: no distillation
    distill_weight: float = 0.7  # share of the loss that matches the teacher; the rest fits the labels
    temperature: float = 2.0  # softens both distributions so the teacher's doubts carry information
    max_minutes: float = 30.0
    seed: int = 1337
    threads: int = 2
    export: bool = True


def batches(ids: list[list[int]], labels: list[int], batch_size: int, tokenizer: WordPieceTokenizer,
            shuffle: bool, rng: random.Random):
    order = list(range(len(ids)))
    if shuffle:
        rng.shuffle(order)
    # Bucket by length inside windows of 50 batches: far less padding, still a random mix.
    window = 50 * batch_size
    order = [i for w in range(0, len(order), window) for i in sorted(order[w : w + window], key=lambda i: len(ids[i]))]
    starts = list(range(0, len(order), batch_size))
    if shuffle:
        rng.shuffle(starts)
    for start in starts:
        rows = order[start : start + batch_size]
        batch = tokenizer.pad([ids[i] for i in rows])
        yield (torch.from_numpy(batch.token_ids), torch.from_numpy(batch.lengths),
               torch.tensor([labels[i] for i in rows]), rows)


@torch.no_grad()
def accuracy(model: nn.Module, ids, labels, tokenizer, batch_size: int = 512) -> float:
    model.eval()
    correct = 0
    for token_ids, lengths, target, _ in batches(ids, labels, batch_size, tokenizer, False, random.Random(0)):
        correct += (model(token_ids, lengths).argmax(-1) == target).sum().item()
    return correct / len(ids)


def load_teacher(config: Config, texts: list[str], train_rows: list[int]) -> tuple[torch.Tensor | None, dict]:
    """Teacher logits re-indexed like the student's training rows, and what the card says of the teacher."""
    if not config.teacher:
        return None, {}
    saved = np.load(config.teacher)
    if str(saved["train_sha256"]) != hashlib.sha256("\n".join(texts).encode()).hexdigest():
        raise SystemExit(f"{config.teacher} was computed on a different train.tsv; rerun training/sentiment/teacher.py")
    about = {"model": "MiniLM-L6 (all-MiniLM-L6-v2) fine-tuned on train.tsv by training/sentiment/teacher.py",
             "dev_accuracy": round(float(saved["dev_accuracy"]), 4),
             "validation_accuracy": round(float(saved["val_accuracy"]), 4),
             "train_seconds": round(float(saved["train_seconds"]), 1)}
    print(f"distilling from {config.teacher}: {about}")
    return torch.from_numpy(saved["train_logits"][train_rows]), about


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at a temperature, scaled by T^2 so its gradients match cross-entropy's."""
    return nn.functional.kl_div(nn.functional.log_softmax(student / temperature, dim=-1),
                                nn.functional.log_softmax(teacher / temperature, dim=-1),
                                log_target=True, reduction="batchmean") * temperature**2


def build_model(config: Config, spec: ModelSpec) -> tuple[nn.Module, dict]:
    model_arguments = dict(spec.arguments)
    if config.pretrained == "minilm":
        table = torch.from_numpy(pretrained.word_embeddings())  # (V, 384)
        model_arguments["pretrained_dim"] = table.shape[1]
        model = create_model(config.model, pretrained_dim=table.shape[1])
        model.embedding.weight.data.copy_(table)
        model.embedding.weight.requires_grad_(False)  # fine-tuning it did not help and overfits
    elif config.pretrained == "none":
        model = create_model(config.model)
    else:
        raise SystemExit(f"--pretrained must be 'minilm' or 'none', got {config.pretrained!r}")
    return model, model_arguments


def train(config: Config) -> Path:
    spec = start_run(config.model, "sentiment", config.seed, config.threads)
    tokenizer = WordPieceTokenizer(pretrained.tokenizer_path(), max_chars=10_000)

    # data: train.tsv minus a held-out validation slice; dev.tsv only after training, once
    train_data = load_sst2("train", config.data_dir or None)
    ids, labels = tokenizer.encode(train_data.texts), train_data.labels
    train_rows, val_rows = hold_out_sentences(train_data.texts, config.validation_sentences, config.seed)
    if config.limit_train:
        train_rows = random.Random(config.seed).sample(train_rows, config.limit_train)
    train_ids, train_labels = [ids[i] for i in train_rows], [labels[i] for i in train_rows]
    val_ids, val_labels = [ids[i] for i in val_rows], [labels[i] for i in val_rows]
    print(f"train {len(train_ids)} phrases, validation {len(val_ids)} whole sentences")

    # model and optimiser
    model, model_arguments = build_model(config, spec)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(f"{config.model}: {sum(p.numel() for p in trainable):,} trainable parameters")
    optimiser = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate,
                                                   total_steps=config.epochs * steps_per_epoch)
    teacher_logits, teacher = load_teacher(config, train_data.texts, train_rows)  # (N_train, 2) or None

    # loop with early stopping on validation accuracy
    rng = random.Random(config.seed)
    best = {"val_accuracy": -1.0, "epoch": 0, "state_dict": None}
    started = time.perf_counter()
    epochs_run = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        progress = tqdm(batches(train_ids, train_labels, config.batch_size, tokenizer, True, rng),
                        total=steps_per_epoch, desc=f"epoch {epoch}", file=sys.stdout, mininterval=5)
        seen, epoch_start = 0, time.perf_counter()
        for token_ids, lengths, target, rows in progress:
            logits = model(token_ids, lengths)  # (B, 2)
            loss = nn.functional.cross_entropy(logits, target)
            if teacher_logits is not None:
                loss = ((1 - config.distill_weight) * loss
                        + config.distill_weight * distillation_loss(logits, teacher_logits[rows], config.temperature))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(trainable, config.clip_norm)
            optimiser.step()
            schedule.step()
            seen += len(target)
            progress.set_postfix(loss=f"{loss.item():.3f}", phrases_per_s=f"{seen / (time.perf_counter() - epoch_start):.0f}",
                                 refresh=False)
        epochs_run = epoch
        val_accuracy = accuracy(model, val_ids, val_labels, tokenizer)
        print(f"epoch {epoch}: validation accuracy {val_accuracy:.4f}")
        if val_accuracy > best["val_accuracy"]:
            best = {"val_accuracy": val_accuracy, "epoch": epoch,
                    "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        elif epoch - best["epoch"] >= config.patience:
            print(f"stopping: no better validation accuracy for {config.patience} epochs")
            break
        if time.perf_counter() - started > 60 * config.max_minutes:
            print(f"stopping: time budget of {config.max_minutes} minutes spent")
            break
    seconds = time.perf_counter() - started

    # a self-describing checkpoint: weights, the arguments that rebuild the model, and the run
    checkpoint = {
        "model_name": config.model,
        "model_arguments": model_arguments,
        "state_dict": best["state_dict"],
        "optimizer_state": {"model": optimiser.state_dict()},
        "unit": "epochs",
        "iterations_run": epochs_run,
        "best_iteration": best["epoch"],
        "validation_metric": "validation_accuracy",
        "best_validation": best["val_accuracy"],
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        # the vocabulary travels with the weights
        "extras": {"teacher": teacher, "tokenizer_json": pretrained.tokenizer_path().read_text()},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best epoch {best['epoch']}, validation accuracy {best['val_accuracy']:.4f}, {seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_sentiment, __doc__, "training.sentiment.train", argv)


if __name__ == "__main__":
    main()
