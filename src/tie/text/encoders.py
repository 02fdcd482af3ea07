"""Text encoders, of two kinds.

Word vectors: a caption is the mean of pretrained (or locally trained) word vectors.
Each such encoder maps (train captions as token lists, the vocabulary of all captions)
to the word vectors of that vocabulary (the `vocab` stage saves them); `mean_vectors`
then turns captions into rows (the `text_features` stage).

Sentence encoders (`clip`, `siglip`): the text tower of a model trained with images
embeds each whole caption (`tie.text.tower.TowerTextEncoder`, built from the params
section of its name); they have no vocabulary (see `tie.text.sentence`).

VOCABULARY_SAMPLES: for each word-vector encoder with a published table (not
`word2vec_local`, trained on the captions), (size, seed) -> a seeded sample of that
table's whole vocabulary, what `fisher.fit_on: pretrained_sample` fits the mixture on.
"""

from functools import partial

from tie.text.glove import glove_6b_50d, sample_glove_6b_50d
from tie.text.pretrained import PRETRAINED, pretrained_vectors, sample_pretrained
from tie.text.tower import TowerTextEncoder
from tie.text.word2vec_local import word2vec_local
from tie.towers.models import TOWER_MODELS

BUILDERS = {
    "glove": glove_6b_50d,
    "word2vec_local": word2vec_local,
    **{name: partial(pretrained_vectors, name) for name in PRETRAINED},
    **{name: partial(TowerTextEncoder, name) for name in TOWER_MODELS},
}

VOCABULARY_SAMPLES = {
    "glove": sample_glove_6b_50d,
    **{name: partial(sample_pretrained, source) for name, source in PRETRAINED.items()},
}
