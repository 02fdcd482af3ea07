"""Stage `text_features`: one row per caption, from the `text` encoder.

A word-vector encoder: the mean of the caption's word vectors, from the `vocab` stage's
file (VOCAB_FILE); `tokenizer` says how captions become words, `caption_vectors` how
their vectors are combined. A sentence encoder (`clip`, `siglip`): the text tower on the
whole caption, configured by its section (`clip.preset` ...); VOCAB_FILE is then the
`vocab` stage's placeholder (see tie.text.sentence) and `tokenizer` and `caption_vectors`
play no part.

Fisher vectors are written in compact form by default (`fisher.store: codes`: each
caption's words and the words' codes, `tie.features.fisher_rows`; the readers compute the dense
rows), or as dense rows (`fisher.store: dense`, the same values).

Sentence encoders and dense Fisher vectors run here or on a Ray cluster (section
`compute`, not a DVC param: both engines write the same bytes, see `tie.text.ray`);
mean pooling and compact Fisher vectors (the words' codes: a vocabulary's worth of work)
always run here.
"""

import json
from functools import partial
from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.registry import SPLITS, TEXT_ENCODERS
from tie.corpus.corpus import Corpus
from tie.engine.engine import compute_session, load_compute
from tie.features.fisher_rows import save_codes
from tie.features.store import create_features, ids_path, save_features
from tie.text.captions import CaptionEncoder
from tie.text.fisher_vectors import FisherWordCodes, caption_words, known_rows
from tie.text.word_vectors import coverage


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("vocab_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("coverage_file", type=click.Path(path_type=Path))
@click.option(
    "--mixture", "mixture_dir", required=True, type=click.Path(exists=True, path_type=Path)
)
def main(
    splits_file: Path, vocab_file: Path, out: Path, coverage_file: Path, mixture_dir: Path
) -> None:
    params = load_params(
        "dataset",
        "text",
        "tokenizer",
        "caption_vectors",
        "fisher.normalize",
        "fisher.store",
        "clip",
        "siglip",
    )
    compute = load_compute()
    corpus = Corpus.load(splits_file)
    if TEXT_ENCODERS[params["text"]].kind == "sentence":
        sentence_features(params, corpus, out, coverage_file, compute)
        return
    encoder = CaptionEncoder.from_params(params, vocab_file, corpus, mixture_dir)
    tokens = encoder.tokenize(corpus.flat_captions)
    word_vectors = encoder.word_vectors
    if encoder.fisher is None:  # mean pooling: here, whatever the engine (it is cheap)
        save_features(out, encoder.encode_tokens(tokens), corpus.caption_ids)
    elif params["fisher"]["store"] == "codes":  # compact: the readers compute the rows
        captions, words = caption_words(known_rows(tokens, word_vectors), word_vectors.vectors)
        codes = FisherWordCodes(encoder.fisher, words).codes
        save_codes(out, captions, codes, encoder.fisher.part, encoder.fisher.normalize)
        ids_path(out).write_text("".join(f"{i}\n" for i in corpus.caption_ids))
    else:  # dense, written chunk by chunk into the memory-mapped file: RAM holds a few chunks
        matrix = create_features(out, corpus.caption_ids, encoder.fisher.n_features_out)
        if compute["engine"] == "ray":
            from tie.text.ray import fisher_vectors

            rows = known_rows(tokens, word_vectors)
            with compute_session(compute):
                fisher_vectors(encoder.fisher, rows, word_vectors.vectors, matrix, compute)
        else:
            encoder.encode_tokens(tokens, out=matrix)
        matrix.flush()
        del matrix

    report = {"vocabulary": len(word_vectors.words), "dim": word_vectors.dim}
    if encoder.fisher is not None:
        report["fisher"] = encoder.fisher.summary()
    for split in SPLITS:
        rows = corpus.split_view(split).caption_rows
        report[split] = coverage([tokens[i] for i in rows], word_vectors)
        click.echo(
            f"{split}: {report[split]['token_coverage']:.1%} of tokens known,"
            f" {report[split]['caption_coverage']:.1%} of captions fully known,"
            f" {report[split]['empty_captions']} captions with no known word (kept as zeros)"
        )
    coverage_file.write_text(json.dumps(report, indent=2) + "\n")


def sentence_features(
    params: dict, corpus: Corpus, out: Path, report_file: Path, compute: dict
) -> None:
    """The text tower of `params["text"]` on every caption, batched."""
    from tqdm import tqdm

    from tie.text.tower import TowerTextEncoder

    name = params["text"]
    encoder = TowerTextEncoder(name, **params[name])
    captions = corpus.flat_captions
    if compute["engine"] == "ray":
        from tie.text.ray import encode_captions

        matrix = create_features(out, corpus.caption_ids, encoder.dim)
        build = partial(TowerTextEncoder, name, **params[name])
        with compute_session(compute):
            encode_captions(build, captions, matrix, compute, batch_rows=encoder.batch_size)
        matrix.flush()
        del matrix
    else:
        with tqdm(total=len(captions), desc=name, unit="caption") as bar:
            features = encoder.encode(captions, progress=bar.update)
        save_features(out, features, corpus.caption_ids)
    report = {"kind": "sentence", "encoder": encoder.fingerprint(), "dim": encoder.dim}
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"{name}: {len(captions)} captions x {encoder.dim} -> {out}")


if __name__ == "__main__":
    main()
