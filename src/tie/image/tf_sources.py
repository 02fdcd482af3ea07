"""Image sources into a `tf.data` pipeline: files, or members of WebDataset tar shards.

The Keras backbones and the CLIP / SigLIP vision towers take their images from here,
already decoded by `tie.image.decode.open_rgb` (Pillow), the one decode path of every
encoder: EXIF orientation applied, 16-bit and float pixels mapped to 8 bits by value.
TensorFlow's own decoder (`tf.io.decode_image`) would ignore the orientation and
truncate a 16-bit PNG. Images are decoded by a few threads (Pillow releases the GIL
while it decodes), in order, a bounded number ahead of the network. A file or tar member
(`tie.raw.webdataset.TarMember`, a byte range inside a shard, local or on S3) that cannot
be decoded is left out of the stream; `tie.image.extract` reports it with the reason.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tie.image.decode import ImageDecodeError, open_rgb
from tie.tensorflow_logs import import_tensorflow

DECODE_THREADS = min(8, os.cpu_count() or 1)


def decoded_images(paths: list):
    """A `tf.data.Dataset` of `(position, uint8 RGB image (height, width, 3))`, in order,
    one per source that decodes."""
    tf = import_tensorflow()
    signature = (tf.TensorSpec((), tf.int64), tf.TensorSpec((None, None, 3), tf.uint8))
    return tf.data.Dataset.from_generator(lambda: _decoded(paths), output_signature=signature)


def _decoded(paths: list):
    ahead = 4 * DECODE_THREADS
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        pending = deque()
        for position, path in enumerate(paths):
            pending.append((position, pool.submit(_array, path)))
            if len(pending) >= ahead:
                yield from _ready(pending.popleft())
        while pending:
            yield from _ready(pending.popleft())


def _ready(item):
    position, future = item
    rgb = future.result()
    if rgb is not None:
        yield np.int64(position), rgb


def _array(path) -> np.ndarray | None:
    try:
        with open_rgb(path) as rgb:
            return np.asarray(rgb)
    except ImageDecodeError:  # reported by tie.image.extract
        return None
