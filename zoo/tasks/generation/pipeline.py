"""`zoo.pipeline("generation")`: a prompt and /generate's options in, /generate's answer out."""
from __future__ import annotations

import numpy as np

from zoo.sampling import seed_or_fresh
from zoo.task import InputError, Pipeline, check_option

# Limits of one generation, in process and over HTTP (service/tasks/generation.py reads them from here)
MAX_NEW_TOKENS = 2000
MAX_TEMPERATURE = 2.0
MAX_TOP_K = 1000  # far above any character vocabulary; k at or above the vocabulary size means all


class GenerationPipeline(Pipeline):
    def __call__(self, prompt: str = "", max_new_tokens: int = 200, temperature: float = 0.8, top_k: int | None = 40,
                 top_p: float | None = None, seed: int | None = None) -> dict:
        """Continue `prompt` character by character -> {"model", "text", "tokens_generated", "finish_reason"}.
        The same seed and options give the same text as /generate (an empty prompt starts after a line break)."""
        if not isinstance(prompt, str):
            raise InputError(f"prompt must be a string, got {type(prompt).__name__}")
        check_option("max_new_tokens", max_new_tokens, 1, MAX_NEW_TOKENS, integer=True)
        check_option("temperature", temperature, 0.0, MAX_TEMPERATURE, above=True)
        check_option("top_k", top_k, 1, MAX_TOP_K, optional=True, integer=True)
        check_option("top_p", top_p, 0.0, 1.0, above=True, optional=True)
        check_option("seed", seed, 0, 2**63 - 1, optional=True, integer=True)
        ids = self.predictor.prompt_ids(prompt)
        rng = np.random.default_rng(seed_or_fresh(seed))
        text = self.predictor.vocabulary.decode(
            self.predictor.continuation(ids, max_new_tokens, rng, temperature, top_k, top_p))
        return {"model": self.model, "text": text, "tokens_generated": len(text), "finish_reason": "length"}

    def from_command_line(self, inputs: list[str], options: dict) -> dict:
        return self(" ".join(inputs), **options)  # the words as one prompt
