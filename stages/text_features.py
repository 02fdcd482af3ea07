"""Stage `text_features`: one row per caption, the mean of its `text` word vectors.

The word vectors come from the `vocab` stage's file (VOCAB_FILE); `tokenizer` says how
captions become words, `caption_vectors` how their vectors are combined.
"""

import json
from pathlib import Path

import click

from tie.commands import Command
from tie.corpus import SPLITS, Corpus
from tie.features import save_features
from tie.params import load_params
from tie.text.tokenize import Tokenizer
from tie.text.word_vectors import Idf, WordVectors, coverage, mean_vectors


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("vocab_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.argument("coverage_file", type=click.Path(path_type=Path))
def main(splits_file: Path, vocab_file: Path, out: Path, coverage_file: Path) -> None:
    params = load_params("dataset", "text", "tokenizer", "caption_vectors")
    settings = params["caption_vectors"]
    corpus = Corpus.load(splits_file)
    tokens = Tokenizer(**params["tokenizer"]).tokenize_all(corpus.flat_captions)
    word_vectors = WordVectors.load(vocab_file)
    train_rows = corpus.split_view("train").caption_rows
    idf = Idf.fit([tokens[i] for i in train_rows]) if settings["idf"] else None
    features = mean_vectors(tokens, word_vectors, idf, settings["word_scaling"])
    save_features(out, features, corpus.caption_ids)

    report = {"vocabulary": len(word_vectors.words), "dim": word_vectors.dim}
    for split in SPLITS:
        rows = corpus.split_view(split).caption_rows
        report[split] = coverage([tokens[i] for i in rows], word_vectors)
        click.echo(
            f"{split}: {report[split]['token_coverage']:.1%} of tokens known,"
            f" {report[split]['caption_coverage']:.1%} of captions fully known,"
            f" {report[split]['empty_captions']} captions with no known word (kept as zeros)"
        )
    coverage_file.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
