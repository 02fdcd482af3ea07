"""Sentence encoder `clip` / `siglip`: the text tower's embedding of each whole caption.

A caption goes through the preset's own preprocessor (lowercasing or canonicalisation,
its tokenizer, start/end tokens, padding to the model's sequence length) and the text
tower (`get_text_embeddings`: CLIP's projected end-of-text state, SigLIP's pooled head
output), in batches. There are no word vectors and no pooling of ours: this
is the other kind of text encoder (sentence in, vector out). TensorFlow and KerasHub are
imported only when the tower is first used.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from tie.tensorflow_logs import import_tensorflow
from tie.towers.models import TowerEncoder


class TowerTextEncoder(TowerEncoder):
    """The text tower of `model` (`clip` | `siglip`) loaded from `preset`: one row per
    caption (parameters: `tie.towers.models.TowerEncoder`).

    Examples
    --------
    >>> encoder = TowerTextEncoder("clip", preset="clip_vit_base_patch32")  # doctest: +SKIP
    >>> encoder.encode(["a dog runs on the beach"]).shape  # doctest: +SKIP
    (1, 512)
    """

    side = "text"

    @cached_property
    def preprocessor(self):
        from tie.towers.load import load_text_preprocessor

        return load_text_preprocessor(self.name, self.preset)

    @property
    def dim(self) -> int:
        import_tensorflow()
        import keras

        symbolic = self.backbone.get_text_embeddings(keras.Input((None,), dtype="int32"))
        return int(symbolic.shape[-1])

    def token_ids(self, captions):
        """The preset's preprocessing of a batch of captions: padded token ids."""
        return self.preprocessor({"prompts": captions, "images": None})["token_ids"]

    def forward(self, token_ids):
        """Embeddings (float32) of a batch of token ids."""
        if self._forward is None:
            tf = import_tensorflow()

            backbone = self.backbone

            @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32)])
            def forward(batch):
                return tf.cast(backbone.get_text_embeddings(batch), tf.float32)

            self._forward = forward
        return self._forward(token_ids)

    def encode(self, captions: list[str], progress=None) -> np.ndarray:
        """One float32 row per caption, in order; `progress(n)` after each batch.

        Batches are tokenized eagerly, by the tokenizer KerasHub uses outside graphs (for
        CLIP, Hugging Face's `tokenizers`), the one the model is documented with.
        """
        rows = np.zeros((len(captions), self.dim), dtype=np.float32)
        for start in range(0, len(captions), self.batch_size):
            batch = list(captions[start : start + self.batch_size])
            rows[start : start + len(batch)] = self.forward(self.token_ids(batch)).numpy()
            if progress is not None:
                progress(len(batch))
        return rows
