"""Caption tokenisation: the one rule every text encoder uses.

Split on anything that is not a letter (digits, punctuation and spaces all separate
words and are dropped; with `keep_digits`, letters and digits together make words,
so "2" and "4x4" are kept), lowercase if asked, then drop stop words: with
`stop_words: english`, scikit-learn's English list (318 words), so that "a", "the",
"on" do not dominate a mean of word vectors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tie.config.registry import STOP_WORD_LISTS
from tie.errors import TieError

_WORD = re.compile(r"[^\W\d_]+")
_WORD_OR_NUMBER = re.compile(r"[^\W_]+")


class Tokenizer:
    def __init__(
        self, lowercase: bool = True, stop_words: str = "english", keep_digits: bool = False
    ):
        if stop_words not in STOP_WORD_LISTS:
            raise TieError(
                f"unknown tokenizer.stop_words {stop_words!r}; valid: {', '.join(STOP_WORD_LISTS)}"
            )
        self.lowercase = lowercase
        self.stop_words = stop_words
        self.keep_digits = keep_digits
        self._word = _WORD_OR_NUMBER if keep_digits else _WORD
        if stop_words == "english":
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            self._stop = frozenset(ENGLISH_STOP_WORDS)
        else:
            self._stop = frozenset()

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return [w for w in self._word.findall(text) if w.lower() not in self._stop]

    def stop_words_in(self, text: str) -> list[str]:
        """The words of `text` that calling the tokenizer drops as stop words, in order."""
        if self.lowercase:
            text = text.lower()
        return [w for w in self._word.findall(text) if w.lower() in self._stop]

    def tokenize_all(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(text) for text in texts]


def word_forms(texts: Iterable[str]) -> set[str]:
    """Every token any tokenizer setting can produce from `texts`, as written and lowercased.

    The `vocab` step keeps the vectors of these words, so that changing `tokenizer`
    never requires reading a big word-vector file again.
    """
    forms = set()
    for text in texts:
        for pattern in (_WORD, _WORD_OR_NUMBER):
            for word in pattern.findall(text):
                forms.update((word, word.lower()))
    return forms
