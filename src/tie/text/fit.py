"""The mixture stage's work: the Fisher-vector encoder of section `fisher`, fitted."""

from __future__ import annotations

from pathlib import Path

from tie.corpus.corpus import Corpus
from tie.errors import TieError
from tie.text.encoders import VOCABULARY_SAMPLES
from tie.text.fisher_vectors import FisherVectors, fitting_rows
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import WordVectors

# Fewer word vectors than this per mixture component: the mixture learns its few words
# by heart (on the demo, K=30 on 62 words: EM stops after 1 iteration).
MIN_WORDS_PER_COMPONENT = 5


def few_words_warning(n_components: int, n_vectors: int, fit_on: str) -> str | None:
    """A one-line warning when `fisher.n_components` is large for the words it is fitted on."""
    if n_vectors >= MIN_WORDS_PER_COMPONENT * n_components:
        return None
    suggested = max(1, n_vectors // MIN_WORDS_PER_COMPONENT)
    return (
        f"WARNING: fisher.n_components {n_components} is large for the {n_vectors} {fit_on}"
        f" vectors it is fitted on (fewer than {MIN_WORDS_PER_COMPONENT} per component):"
        f" lower it (e.g. -S fisher.n_components={suggested}) or fit on more words"
        " (fisher.fit_on: train_tokens | pretrained_sample)"
    )


def fit_fisher_encoder(
    params, corpus: Corpus | None, vocab_file: Path
) -> tuple[FisherVectors, int]:
    """The mixture stage's work: the encoder of section `fisher`, fitted; and on how many
    word vectors.

    Fitted on the word vectors of the train captions (`fisher.fit_on`: each distinct word
    once, or every token) or on a seeded sample of `fisher.sample_size` words of the
    `text` encoder's whole pretrained table (`pretrained_sample`, as Klein et al.: no
    caption is read, `corpus` may be None); never on val or test. `params`: typed, with
    `text`, `tokenizer` and the keys of section `fisher` the mixture stage declares.
    """
    fisher = params.fisher
    fit_on = fisher.fit_on
    if fit_on == "pretrained_sample":
        vectors = VOCABULARY_SAMPLES[params.text](fisher.sample_size, fisher.seed).vectors
    else:
        train_rows = corpus.split_view("train").caption_rows
        captions = (corpus.flat_captions[i] for i in train_rows)
        tokens = Tokenizer(**params.tokenizer.model_dump()).tokenize_all(captions)
        word_vectors = WordVectors.load(vocab_file)
        vectors = word_vectors.vectors[fitting_rows(tokens, word_vectors, fit_on)]
    try:
        encoder = FisherVectors(
            mixture=fisher.mixture,
            n_components=fisher.n_components,
            reduce=fisher.reduce,
            reduced_dim=fisher.reduced_dim,
            max_iter=fisher.max_iter,
            seed=fisher.seed,
            normalize=fisher.normalize,
        )
        return encoder.fit(vectors), len(vectors)
    except ValueError as error:  # e.g. more components than train words
        raise TieError(f"{error} (params.yaml, section `fisher`)") from error


# HGLMM chooses, per dimension, a Gaussian or a Laplacian; above this share of Gaussian
# dimensions its Fisher vector is nearly GMM's (measured on real Flickr8k with GloVe 50-d:
# 99%, and gmm+hglmm then scored as hglmm alone at twice the CCA's cost).
NEARLY_GAUSSIAN = 0.95


def mixture_warnings(summary: list[dict]) -> list[str]:
    """What a fitted encoder's summary (`FisherVectors.summary`) says is wasted: an HGLMM
    that chose the Gaussian for nearly every dimension, alone or beside a GMM."""
    names = [fitted["mixture"] for fitted in summary]
    warnings = []
    for fitted in summary:
        share = fitted["gaussian_share"]
        if fitted["mixture"] != "hglmm" or share < NEARLY_GAUSSIAN:
            continue
        if "gmm" in names:
            warnings.append(
                f"hglmm chose the Gaussian for {share:.0%} of the dimensions, so gmm+hglmm"
                " holds nearly the same Fisher vector twice, at twice the CCA's cost: use"
                " fisher.mixture hglmm (or gmm)"
            )
        else:
            warnings.append(
                f"hglmm chose the Gaussian for {share:.0%} of the dimensions: its Fisher"
                " vector is nearly gmm's"
            )
    return warnings
