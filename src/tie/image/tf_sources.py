"""Image sources into a `tf.data` pipeline: files, or members of WebDataset tar shards.

The Keras backbones and the CLIP / SigLIP vision towers decode images inside `tf.data`.
Files are read by `tf.data` itself, in parallel. A member of a tar shard
(`tie.raw.webdataset.TarMember`) is a byte range inside a shard, local or on S3,
which `tf.io.read_file` cannot read: such members are read in Python, by a generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tie.tensorflow_logs import import_tensorflow


def image_bytes(paths: list):
    """A `tf.data.Dataset` of `(position, encoded image bytes)`, one per source, in order.

    A file that cannot be read fails its element (drop it with `ignore_errors`).
    """
    tf = import_tensorflow()

    if all(isinstance(p, Path) for p in paths):
        names = [str(p) for p in paths]
        positions = np.arange(len(names), dtype=np.int64)
        ds = tf.data.Dataset.from_tensor_slices((positions, names))
        return ds.map(lambda i, p: (i, tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE)

    def contents():
        for position, member in enumerate(paths):
            yield position, member.read_bytes()

    signature = (tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.string))
    return tf.data.Dataset.from_generator(contents, output_signature=signature)
