"""`tie search`: rank the test images of the current pipeline for a free-text query.

The current model is the one `params.yaml` points at: its `dataset`, `text` and
`image` choose the splits, the features, the joint model and the word vectors (the
`vocab` stage's file, the very vectors the model was fitted on). The query becomes a
vector through the `text_features` stage's own encoder (`tie.text.captions`): its stop
words (`tokenizer.stop_words`) are dropped, and so are the words that occur in no caption
of the dataset (no vector); both are said, apart.
With a sentence encoder (`text: clip`, `siglip`) the query goes through its text tower
instead, and the model may be the zero-shot one (`cca.method: none`).

The outputs searched are those of the last `dvc repro`, which `dvc.lock` records with the
params each stage used. Where params.yaml has changed since (a tokenizer setting, the
text encoder), the query would be read one way and the model and features made another:
`search_images` refuses, naming the first param that differs and `dvc repro` to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tie.config.lock import Lock
from tie.config.params import read_params
from tie.config.paths import (
    IMAGE_FEATURES,
    MIXTURE_DIR,
    MODEL_DIR,
    RAW,
    SPLITS_FILE,
    TEXT_FEATURES,
    VOCAB,
    output_path,
    path_choices,
)
from tie.config.registry import TEXT_ENCODERS
from tie.config.schema import Params
from tie.corpus.corpus import Corpus
from tie.errors import TieError
from tie.evaluation.embeddings import load_split_embeddings
from tie.evaluation.gallery import top_k
from tie.joint.space import load_joint_model
from tie.raw.layout import image_sources
from tie.text.features import caption_encoder

MAX_ECHOED_CHARS = 80  # of a query quoted back in a message
MAX_ECHOED_WORDS = 12


def echoed(query: str) -> str:
    """The query as quoted back: at most MAX_ECHOED_CHARS characters."""
    if len(query) <= MAX_ECHOED_CHARS:
        return query
    return f"{query[: MAX_ECHOED_CHARS - 3]}... ({len(query)} characters)"


def shown(tokens: list[str]) -> list[str]:
    """The query's words as quoted back: at most MAX_ECHOED_WORDS of them."""
    return tokens[:MAX_ECHOED_WORDS] + (["..."] if len(tokens) > MAX_ECHOED_WORDS else [])


@dataclass(frozen=True)
class Hit:
    image: str  # the image's id (its file name)
    path: Path
    score: float  # cosine similarity with the query in the joint space


@dataclass(frozen=True)
class SearchResult:
    used: list[str]  # the query's words that have a vector, in order
    unknown: list[str]  # the query's words without one: dropped
    stop_words: list[str]  # the query's stop words (tokenizer.stop_words): dropped
    hits: list[Hit]  # best first


# The stages whose outputs a search reads (`evaluate`'s are not).
SEARCHED_STAGES = ("data", "splits", "image_features", "vocab", "mixture", "text_features", "cca")
PARAMS_FILE = "params.yaml"


def changed_param(params: dict, lock: Lock | None) -> str | None:
    """`<name>: <value> in params.yaml, <value> in the run` for the first param that a
    searched stage used (as `lock` records it) and params.yaml now sets otherwise."""
    if lock is None:
        return None
    missing = object()
    for stage in SEARCHED_STAGES:
        for name, value in lock.params(stage).items():
            current = params
            for part in str(name).split("."):
                current = current.get(part, missing) if isinstance(current, dict) else missing
            if current != value:
                name, current, value = _first_difference(str(name), current, value, missing)
                now = "unset" if current is missing else repr(current)
                was = "unset" if value is missing else repr(value)
                return f"{name} is {now} in params.yaml, {was} in the run ({stage})"
    return None


def _first_difference(name: str, current, recorded, missing):
    """(dotted name, current, recorded) of the first key where two sections differ."""
    while isinstance(current, dict) and isinstance(recorded, dict):
        key = next(
            k for k in [*recorded, *current] if current.get(k, missing) != recorded.get(k, missing)
        )
        name, current, recorded = (
            f"{name}.{key}",
            current.get(key, missing),
            recorded.get(key, missing),
        )
    return name, current, recorded


def search_images(params: Params, query: str, top: int, split: str = "test") -> SearchResult:
    """The `top` images of `split` closest to `query`, best first; `params`: all of
    params.yaml, checked (`load_params()`)."""
    changed = changed_param(read_params(), Lock.of_workspace())  # as written, as recorded
    if changed is not None:
        raise TieError(
            f"params.yaml differs from the last `dvc repro`, whose outputs a search would"
            f" use: {changed}; run `dvc repro` first (or restore params.yaml)"
        )
    dataset, text = params.dataset, params.text
    choice = path_choices(params)
    splits_file = output_path(SPLITS_FILE, **choice)
    model_dir = output_path(MODEL_DIR, **choice)
    vocab_file = output_path(VOCAB, **choice)
    for needed in (splits_file, model_dir, vocab_file):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` (or `dvc pull`) first")
    corpus = Corpus.load(splits_file)

    mixture_dir = output_path(MIXTURE_DIR, **choice)
    sentence = TEXT_ENCODERS[text].kind == "sentence"
    if not sentence and params.caption_vectors.pooling == "fisher":
        if not mixture_dir.exists():
            raise TieError(f"{mixture_dir} does not exist: run `dvc repro` (or `dvc pull`) first")
    encoder = caption_encoder(params, vocab_file, corpus, mixture_dir)
    if sentence:
        query_vector = encoder.encode([query])
        used, unknown, stop_words = query.split(), [], []  # a sentence encoder reads all
    else:
        (tokens,) = encoder.tokenize([query])
        stop_words = encoder.tokenizer.stop_words_in(query)
        used, unknown = encoder.known(tokens)
        if not used:
            dropped = []
            if stop_words:
                stop_list = params.tokenizer.stop_words
                words = ", ".join(shown(stop_words))
                dropped.append(f"stop words (tokenizer.stop_words: {stop_list}): {words}")
            if unknown:
                dropped.append(
                    f"no `{text}` vector among the words of the {dataset} captions:"
                    f" {', '.join(shown(unknown))}"
                )
            raise TieError(
                f"no word of {echoed(query)!r} is left to search with:"
                f" {'; '.join(dropped) or 'no words after tokenizing'}; try other words"
            )
        query_vector = encoder.encode_tokens([tokens])
    model = load_joint_model(model_dir)
    split_embeddings = load_split_embeddings(
        corpus,
        split,
        output_path(IMAGE_FEATURES, **choice),
        output_path(TEXT_FEATURES, **choice),
        model,
    )
    query_embedding = model.transform_captions(query_vector)
    order, scores = top_k(query_embedding, split_embeddings.images, top)
    image_rows = split_embeddings.view.image_rows
    names = [corpus.images[image_rows[i]] for i in order[0]]
    sources = image_sources(dataset, output_path(RAW, **choice), names)
    hits = [Hit(*hit) for hit in zip(names, sources, map(float, scores[0]), strict=True)]
    return SearchResult(used, unknown, stop_words, hits)
