"""The text_features stage's work: one row per caption from the `text` encoder.

A word-vector encoder pools the words' vectors (the vocab stage's file) by mean or by
Fisher vectors; Fisher vectors are written in compact form by default (`fisher.store:
codes`: each caption's words and the words' codes, `tie.features.fisher_rows`; readers
compute the dense rows) or as dense rows (`fisher.store: dense`, the same values). A
sentence encoder (`clip`, `siglip`) runs its text tower on each whole caption.

Sentence encoders and dense Fisher vectors run here or on Ray (`tie.text.ray`); mean
pooling and compact Fisher vectors (the words' codes: a vocabulary's worth of work)
always run here.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from tie.config.registry import SPLITS, TEXT_ENCODERS
from tie.corpus.corpus import Corpus
from tie.engine.engine import LOCAL, Engine
from tie.errors import TieError, shorten
from tie.features.fisher_rows import save_codes
from tie.features.store import create_features, save_features, write_ids
from tie.progress import progress
from tie.text.captions import CaptionEncoder
from tie.text.fisher_vectors import (
    FisherWordCodes,
    caption_words,
    known_rows,
)
from tie.text.word_vectors import coverage


def write_caption_features(
    params,
    corpus: Corpus,
    vocab_file: Path,
    mixture_dir: Path,
    out: Path,
    engine: Engine = LOCAL,
) -> dict:
    """Write every caption's row of `corpus` to `out` (and its ids); return the report.

    The report of word vectors: the vocabulary's size and dimension, the mixture's fit
    (Fisher vectors) and, per split, the share of tokens and captions the vocabulary
    covers. Of a sentence encoder: its settings and dimension.
    """
    if TEXT_ENCODERS[params.text].kind == "sentence":
        return _sentence_features(params, corpus, out, engine)
    encoder = CaptionEncoder.from_params(params, vocab_file, corpus, mixture_dir)
    captions = corpus.flat_captions
    tokens = encoder.tokenize(progress(captions, desc="tokenize", unit="caption"))
    word_vectors = encoder.word_vectors
    report = {"vocabulary": len(word_vectors.words), "dim": word_vectors.dim}
    for split in SPLITS:
        rows = corpus.split_view(split).caption_rows
        report[split] = coverage([tokens[i] for i in rows], word_vectors)
    check_coverage(params.text, report, corpus)
    if encoder.fisher is None:  # mean pooling: here, whatever the engine (it is cheap)
        save_features(out, _mean_rows(encoder, tokens), corpus.caption_ids)
    elif params.fisher.store == "codes":  # compact: the readers compute the rows
        captions, words = caption_words(known_rows(tokens, word_vectors), word_vectors.vectors)
        codes = FisherWordCodes(encoder.fisher, words).codes
        save_codes(out, captions, codes, encoder.fisher.part, encoder.fisher.normalize)
        write_ids(out, corpus.caption_ids)
    else:  # dense, written chunk by chunk into the memory-mapped file: RAM holds a few chunks
        matrix = create_features(out, corpus.caption_ids, encoder.fisher.n_features_out)
        if engine.on_ray:
            from tie.text.ray import fisher_vectors

            rows = known_rows(tokens, word_vectors)
            with engine.session():
                fisher_vectors(encoder.fisher, rows, word_vectors.vectors, matrix, engine.compute)
        else:
            encoder.encode_tokens(tokens, out=matrix)
        matrix.flush()
        del matrix

    if encoder.fisher is not None:
        report = {**report, "fisher": encoder.fisher.summary()}
        report = {key: report[key] for key in ("vocabulary", "dim", "fisher", *SPLITS)}
    return report


MEAN_CHUNK = 10_000  # captions pooled at once, between two progress updates


def _mean_rows(encoder: CaptionEncoder, tokens: list[list[str]]):
    """Mean-pooled rows, chunk by chunk (each caption's row is its own: the same bytes)."""
    import numpy as np

    rows = np.empty((len(tokens), encoder.word_vectors.dim), dtype=np.float32)
    with progress(total=len(tokens), desc="mean pooling", unit="caption") as bar:
        for start in range(0, len(tokens), MEAN_CHUNK):
            chunk = tokens[start : start + MEAN_CHUNK]
            rows[start : start + len(chunk)] = encoder.encode_tokens(chunk)
            bar.update(len(chunk))
    return rows


def check_coverage(text: str, report: dict, corpus: Corpus) -> None:
    """Stop here, before any row is written, when no train caption has a word the vectors
    know: every train row would be zeros, and the CCA could only fail on constant features."""
    train = report["train"]
    if train["captions"] and train["empty_captions"] == train["captions"]:
        shares = ", ".join(f"{report[s]['token_coverage']:.1%} {s}" for s in SPLITS)
        example = corpus.flat_captions[corpus.split_view("train").caption_rows[0]]
        raise TieError(
            f"text {text!r}: none of the {train['captions']:,} train captions has a word its"
            f" word vectors know (tokens known: {shares}; e.g. {shorten(example)}): the"
            " captions are in a language or script these vectors do not cover; choose a text"
            " encoder that covers them (`tie list`, then `dvc exp run -S text=<name>`), or"
            " check the tokenizer section of params.yaml"
        )


def _sentence_features(params, corpus: Corpus, out: Path, engine: Engine) -> dict:
    """The text tower of `params.text` on every caption, batched."""
    from tie.text.tower import TowerTextEncoder

    name = params.text
    settings = getattr(params, name).model_dump()  # section `clip` or `siglip`
    encoder = TowerTextEncoder(name, **settings)
    captions = corpus.flat_captions
    if engine.on_ray:
        from tie.text.ray import encode_captions

        matrix = create_features(out, corpus.caption_ids, encoder.dim)
        build = partial(TowerTextEncoder, name, **settings)
        with engine.session():
            encode_captions(build, captions, matrix, engine.compute, batch_rows=encoder.batch_size)
        matrix.flush()
        del matrix
    else:
        with progress(total=len(captions), desc=name, unit="caption") as bar:
            features = encoder.encode(captions, progress=bar.update)
        save_features(out, features, corpus.caption_ids)
    return {"kind": "sentence", "encoder": encoder.fingerprint(), "dim": encoder.dim}


def caption_encoder(params, vocab_file: Path, corpus: Corpus, mixture_dir: Path):
    """The text_features stage's encoder of `params`, for new captions (a query).

    `.encode(captions)` gives one row per caption, as the stage wrote the corpus's: a
    text tower for a sentence encoder; else the word vectors of `vocab_file`, pooled by
    mean or by the Fisher-vector encoder of `mixture_dir`.
    """
    if TEXT_ENCODERS[params.text].kind == "sentence":
        from tie.text.tower import TowerTextEncoder

        return TowerTextEncoder(params.text, **getattr(params, params.text).model_dump())
    return CaptionEncoder.from_params(params, vocab_file, corpus, mixture_dir)
