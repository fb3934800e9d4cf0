"""Leave-one-speaker-out for the networks: the training recipe run once per held-out speaker, each model exported
and measured with onnxruntime on the speaker it never heard, beside the GMM-HMM fitted on the same four. Speakers
differ a lot, so one held-out speaker (the shipped models' george) says little about the next voice.

    python -m training.speech.loso --model digits-lstm --epochs 30 --speakers jackson lucas nicolas yweweler
    python -m training.speech.loso --model test-digits-gru --epochs 1 --utterances 32 --speakers lucas

Every flag of training.speech.train is accepted (--test-speaker is set per speaker); --checkpoint-dir and
--artifacts-dir get a folder per speaker (default checkpoints/loso/<speaker>). Prints a markdown table at the
end, and each row as its speaker is done.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from training.cli import parse_config
from training.speech.data import SPEAKERS
from training.speech.export import export_speech
from training.speech.train import Config, train

DEFAULT_DIR = "checkpoints/loso"


def leave_one_out(config: Config, speakers: list[str]) -> list[dict]:
    """Train, export and measure `config`'s recipe once per speaker in `speakers`, holding that speaker out."""
    rows, defaults = [], Config()
    for speaker in speakers:
        run = dataclasses.replace(config, test_speaker=speaker, export=False,
                                  checkpoint_dir=str(Path(config.checkpoint_dir) / speaker),
                                  artifacts_dir=str(Path(config.artifacts_dir) / speaker))
        flags = [f"--{name.replace('_', '-')} {value}" for name, value in dataclasses.asdict(run).items()
                 if value != getattr(defaults, name) and name != "export"]
        card = export_speech(train(run), Path(run.artifacts_dir), run.data_dir or None,
                             "python -m training.speech.train " + " ".join(flags))  # what reruns this one model
        metrics = {m.name: m for m in card.metrics}
        accuracy, strings = metrics["isolated_digit_accuracy"], metrics["string_digit_error_rate"]
        rows.append({"speaker": speaker, "accuracy": accuracy.value, "hmm_accuracy": accuracy.baseline_value,
                     "error_rate": strings.value, "hmm_error_rate": strings.baseline_value,
                     "minutes": card.training.seconds / 60})
        print(f"LOSO {row(rows[-1])}", flush=True)  # each as it comes: the whole run takes most of an hour
    return rows


def header(model: str, epochs: int) -> str:
    return (f"| held-out speaker | `{model}` ({epochs} epochs) isolated accuracy | GMM-HMM | `{model}` string digit "
            "error rate | GMM-HMM with energy segmentation | training |\n|---|---|---|---|---|---|")


def row(r: dict) -> str:
    return (f"| {r['speaker']} | **{r['accuracy']:.3f}** | {r['hmm_accuracy']:.3f} | **{r['error_rate']:.3f}** | "
            f"{r['hmm_error_rate']:.3f} | {r['minutes']:.1f} min |")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--speakers", nargs="+", choices=SPEAKERS, default=list(SPEAKERS))
    known, rest = parser.parse_known_args(argv)
    if not any(a.startswith("--checkpoint-dir") for a in rest):
        rest += ["--checkpoint-dir", DEFAULT_DIR]
    if not any(a.startswith("--artifacts-dir") for a in rest):
        rest += ["--artifacts-dir", DEFAULT_DIR]
    config = parse_config(Config, rest, __doc__)
    rows = leave_one_out(config, known.speakers)
    print(header(config.model, config.epochs))
    print("\n".join(row(r) for r in rows))


if __name__ == "__main__":
    main()
