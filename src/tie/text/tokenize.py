"""Caption tokenisation: the one rule every text encoder uses.

Split on anything that is not a letter (digits, punctuation and spaces all separate
words and are dropped), lowercase if asked, then drop stop words: with
`stop_words: english`, scikit-learn's English list (318 words), so that "a", "the",
"on" do not dominate a mean of word vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tie.errors import TieError

STOP_WORD_LISTS = ("english", "none")
_WORD = re.compile(r"[^\W\d_]+")


class Tokenizer:
    def __init__(self, lowercase: bool = True, stop_words: str = "english"):
        if stop_words not in STOP_WORD_LISTS:
            raise TieError(
                f"unknown tokenizer.stop_words {stop_words!r}; valid: {', '.join(STOP_WORD_LISTS)}"
            )
        self.lowercase = lowercase
        self.stop_words = stop_words
        if stop_words == "english":
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            self._stop = frozenset(ENGLISH_STOP_WORDS)
        else:
            self._stop = frozenset()

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return [w for w in _WORD.findall(text) if w.lower() not in self._stop]

    def tokenize_all(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(text) for text in texts]
