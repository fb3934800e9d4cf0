"""Fine-tune MiniLM on SST-2 as a teacher, then save its logits on every train phrase for distillation.

    python -m training.sentiment.teacher                      # writes checkpoints/teacher-minilm-sst2.npz

The teacher never ships: only its soft labels reach the students (Tang et al. 2019 distilled BERT into
a BiLSTM this way). It uses the same normalisation and held-out split as the students.
"""
from __future__ import annotations

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
from training.cli import parse_config
from training.sentiment.data import hold_out_sentences, load_sst2
from zoo.tasks.sentiment.tokenizer import WordPieceTokenizer


@dataclass
class Config:
    data_dir: str = ""
    output: str = "checkpoints/teacher-minilm-sst2.npz"
    epochs: int = 1  # one pass already lifts MiniLM well past the students; more costs 2-core hours
    batch_size: int = 32
    learning_rate: float = 1e-4  # small model, short schedule: higher than BERT-base's usual 2e-5
    validation_sentences: int = 800  # the same held-out sentences as the students (same seed)
    limit_train: int = 0
    max_tokens: int = 96
    seed: int = 1337
    threads: int = 2


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import BertModel

        self.encoder = BertModel.from_pretrained(str(pretrained.minilm_dir()))
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(self.encoder.config.hidden_size, 2))

    def forward(self, token_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # token_ids, attention_mask (B, T) -> logits (B, 2); mean over real tokens, as MiniLM was trained
        hidden = self.encoder(input_ids=token_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, 384)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1))


def with_specials(tokenizer: WordPieceTokenizer, texts: list[str], max_tokens: int) -> list[list[int]]:
    cls, sep = tokenizer.tokenizer.token_to_id("[CLS]"), tokenizer.tokenizer.token_to_id("[SEP]")
    return [[cls] + ids[: max_tokens - 2] + [sep] for ids in tokenizer.encode(texts)]


def batches(ids, rows, batch_size, tokenizer):
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        batch = tokenizer.pad([ids[i] for i in chunk])
        token_ids = torch.from_numpy(batch.token_ids)
        mask = (torch.arange(token_ids.shape[1]).unsqueeze(0) < torch.from_numpy(batch.lengths).unsqueeze(1)).long()
        yield chunk, token_ids, mask


@torch.no_grad()
def logits_for(model, ids, tokenizer, batch_size=256) -> np.ndarray:
    model.eval()
    rows = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # length-sorted: little padding
    out = np.zeros((len(ids), 2), dtype=np.float32)
    for chunk, token_ids, mask in tqdm(batches(ids, rows, batch_size, tokenizer), total=math.ceil(len(rows) / batch_size),
                                       desc="teacher logits", file=sys.stdout, mininterval=10):
        out[chunk] = model(token_ids, mask).numpy()
    return out


def main(argv: list[str] | None = None) -> None:
    config = parse_config(Config, sys.argv[1:] if argv is None else argv, __doc__)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)

    tokenizer = WordPieceTokenizer(pretrained.tokenizer_path(), max_chars=10_000)
    train = load_sst2("train", config.data_dir or None)
    dev = load_sst2("dev", config.data_dir or None)
    ids = with_specials(tokenizer, train.texts, config.max_tokens)
    labels = torch.tensor(train.labels)
    train_rows, val_rows = hold_out_sentences(train.texts, config.validation_sentences, config.seed)
    if config.limit_train:
        train_rows = random.Random(config.seed).sample(train_rows, config.limit_train)

    model = Teacher()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    total_steps = config.epochs * math.ceil(len(train_rows) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.learning_rate, total_steps=total_steps,
                                                   pct_start=0.1)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        rows = list(train_rows)
        random.Random(config.seed + epoch).shuffle(rows)
        progress = tqdm(batches(ids, rows, config.batch_size, tokenizer), total=math.ceil(len(rows) / config.batch_size),
                        desc=f"teacher epoch {epoch}", file=sys.stdout, mininterval=10)
        for chunk, token_ids, mask in progress:
            loss = nn.functional.cross_entropy(model(token_ids, mask), labels[chunk])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            progress.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    train_seconds = time.perf_counter() - started

    train_logits = logits_for(model, ids, tokenizer)
    val_accuracy = float((train_logits[val_rows].argmax(1) == labels[val_rows].numpy()).mean())
    dev_logits = logits_for(model, with_specials(tokenizer, dev.texts, config.max_tokens), tokenizer)
    dev_accuracy = float((dev_logits.argmax(1) == np.array(dev.labels)).mean())
    print(f"teacher: validation accuracy {val_accuracy:.4f}, dev accuracy {dev_accuracy:.4f}, {train_seconds:.0f} s")
    Path(config.output).parent.mkdir(parents=True, exist_ok=True)
    np.savez(config.output, train_logits=train_logits, val_accuracy=val_accuracy, dev_accuracy=dev_accuracy,
             train_seconds=train_seconds,
             train_sha256=hashlib.sha256("\n".join(train.texts).encode()).hexdigest())


if __name__ == "__main__":
    main()
