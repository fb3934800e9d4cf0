"""Learning the subword vocabularies: byte-pair encoding (Sennrich et al. 2016) on the training split of each
language, with the `tokenizers` library's trainer."""
from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from zoo.tasks.translation.vocabulary import SPECIALS, UNK


def learn_bpe(sentences: list[str], size: int) -> Tokenizer:
    """A BPE tokenizer of at most `size` pieces (the four specials first) learned from `sentences`.

    Words are split at spaces with "▁" marking each word's start (SentencePiece's convention), so the decoder
    restores the spaces and the output is detokenised text; punctuation stays attached to its word and BPE
    learns the common splits ("▁dog" + "."). The alphabet keeps the most frequent characters, at most half the
    pieces (all of Multi30k's, about 120, at the shipped sizes; a tiny test vocabulary reads rare ones as <unk>)."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=list(SPECIALS), show_progress=False,
                                  limit_alphabet=size // 2)
    tokenizer.train_from_iterator(sentences, trainer=trainer)
    return tokenizer
