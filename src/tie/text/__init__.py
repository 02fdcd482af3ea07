"""Text encoders: a caption is the mean of pretrained (or locally trained) word vectors.

Each encoder maps (train captions as token lists, the vocabulary of all captions) to
the word vectors of that vocabulary (the `vocab` stage saves them); `mean_vectors`
then turns captions into rows (the `text_features` stage).
"""

from functools import partial

from tie.text.glove import glove_6b_50d
from tie.text.pretrained import PRETRAINED, pretrained_vectors
from tie.text.word2vec_local import word2vec_local

TEXT_ENCODERS = {
    "glove": glove_6b_50d,
    "word2vec_local": word2vec_local,
    **{name: partial(pretrained_vectors, name) for name in PRETRAINED},
}
