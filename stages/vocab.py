"""Stage `vocab`: the `text` word vectors of every word of the captions, in one small file.

A pretrained file (3M words for word2vec) is read once in a stream and only the words
the captions can produce under any `tokenizer` setting are kept (see
`tie.text.tokenize.word_forms`), so changing the tokenizer never reads it again.
`word2vec_local` is trained here on the train captions (lowercased words, stop words
kept: the context a skip-gram model learns from). A sentence encoder (`clip`, `siglip`)
has no word vectors: OUT is then a placeholder (see tie.text.sentence), and the stage
does nothing else.
"""

from pathlib import Path

import click

from tie.commands import Command
from tie.config.params import load_params
from tie.config.registry import TEXT_ENCODERS
from tie.corpus.corpus import Corpus
from tie.text.encoders import BUILDERS
from tie.text.sentence import write_placeholder
from tie.text.tokenize import Tokenizer, word_forms


@click.command(cls=Command)
@click.argument("splits_file", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def main(splits_file: Path, out: Path) -> None:
    params = load_params("dataset", "text")
    if TEXT_ENCODERS[params.text].kind == "sentence":
        write_placeholder(out, params.text)
        click.echo(f"{params.text} is a sentence encoder: no word vectors (placeholder {out})")
        return
    corpus = Corpus.load(splits_file)
    captions = corpus.flat_captions
    train_rows = corpus.split_view("train").caption_rows
    train_sentences = Tokenizer(stop_words="none").tokenize_all(captions[i] for i in train_rows)
    forms = word_forms(captions)
    word_vectors = BUILDERS[params.text](train_sentences, forms)
    word_vectors.save(out)
    click.echo(
        f"{params.text}: {len(word_vectors.words)} of the captions' {len(forms)} word forms"
        f" have a vector ({word_vectors.dim}-d) -> {out}"
    )


if __name__ == "__main__":
    main()
