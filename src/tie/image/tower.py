"""Image encoder `clip` / `siglip`: the vision tower's embedding of each image.

The rows are what the model compares with its captions: `CLIPBackbone`'s pooled and
projected vision output, `SigLIPBackbone`'s pooled (attention-head) vision output, not
normalised (cosine similarity normalises them). Each image goes through the preset's
own image converter (its resize, crop, rescale and normalisation) inside a `tf.data`
pipeline that converts images (files, or members of WebDataset tar shards, decoded by
`tie.image.tf_sources`: the one decode path of every encoder) in parallel, batched and
prefetched; an image that cannot be decoded is dropped
from the stream, so its position is reported missing (see `tie.image.extract` for the
policy). TensorFlow and KerasHub are imported only when the tower is first used.

Examples
--------
>>> encoder = TowerImageEncoder("clip", preset="clip_vit_base_patch32", batch_size=32)
>>> for positions, rows in encoder.feature_batches(paths):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np

from tie.towers.models import TowerEncoder


class TowerImageEncoder(TowerEncoder):
    """The vision tower of `model` (`clip` | `siglip`) loaded from `preset`: one row per
    image (parameters: `tie.towers.models.TowerEncoder`)."""

    side = "image"

    @cached_property
    def converter(self):
        from tie.towers.load import load_image_converter

        return load_image_converter(self.name, self.preset)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.backbone.vision_encoder.image_shape)

    @property
    def dim(self) -> int:
        import keras

        symbolic = self.backbone.get_vision_embeddings(keras.Input(self.image_shape))
        return int(symbolic.shape[-1])

    def forward(self, images):
        """Embeddings (float32) of a batch of images already through the image converter."""
        if self._forward is None:
            import tensorflow as tf

            backbone = self.backbone

            @tf.function(input_signature=[tf.TensorSpec((None, *self.image_shape), tf.float32)])
            def forward(batch):
                return tf.cast(backbone.get_vision_embeddings(batch), tf.float32)

            self._forward = forward
        return self._forward(images)

    def _convert(self, image):
        """A decoded uint8 RGB image -> the converter's output for it (a tf.data map function)."""
        import tensorflow as tf

        return self.converter(tf.cast(image, tf.float32))

    def dataset(self, paths: list):
        """(positions, images) batches of decoded, converted images (files or tar members)."""
        import tensorflow as tf

        from tie.image.tf_sources import decoded_images  # here: tie.image.encoders imports this

        autotune = tf.data.AUTOTUNE
        ds = decoded_images(paths)
        ds = ds.map(lambda i, image: (i, self._convert(image)), num_parallel_calls=autotune)
        return ds.batch(self.batch_size).prefetch(autotune)

    def feature_batches(self, paths: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for positions, images in self.dataset(paths):
            yield positions.numpy(), self.forward(images).numpy()
