"""`zoo.pipeline("translation")`: German texts in, /translate's answer out."""
from __future__ import annotations

from zoo.task import Pipeline, check_option, text_list
from zoo.tasks.translation.predictor import MAX_BEAM, MAX_TARGET_SUBWORDS


class TranslationPipeline(Pipeline):
    def __call__(self, texts: str | list[str], beam_size: int = 4, max_length: int | None = None,
                 attention: bool = False) -> dict:
        """English translations of German sentences -> {"model", "translations": [{"text", "score",
        "unknown_characters", "source_pieces", "target_pieces", "attention"}, ...]}; the last three are
        empty unless `attention`."""
        check_option("beam_size", beam_size, 1, MAX_BEAM, integer=True)
        check_option("max_length", max_length, 1, MAX_TARGET_SUBWORDS, optional=True, integer=True)
        translations = self.predictor.translate(text_list(texts), beam_size, max_length)
        return {"model": self.model, "translations": [t.answer(bool(attention)) for t in translations]}
