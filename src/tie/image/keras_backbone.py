"""Image features from a keras.applications CNN (Keras 3, TensorFlow backend).

TensorFlow is imported only when a backbone is built, never by importing this module,
so the demo path (`image: colorgrid`) stays free of it.

- `vgg19` / `vgg16`: the output of `fc2` (fc7 in Caffe's naming, 4096-d, after ReLU) by
  default, or `fc1` (fc6) with `backbone.vgg_layer: fc1`.
- every other model: the global average pool of its last convolutional block
  (`inceptionresnetv2`: 1536-d).
- `crops: 1`: the image is resized (aspect not kept) to the model's input size.
  `crops: 10`, as Klein et al. did: the shorter side is resized to 256/224 of the input
  size (256 for VGG), then the 4 corner and the centre crops and their horizontal
  flips go through the network and their features are averaged.
- weights: `imagenet` (Keras' cache `~/.keras/models`, or `$KERAS_HOME/models`;
  downloaded by Keras on first use), `none` (random, seeded, for tests and timing only;
  recorded in the stage's report), or a path to a weights file of that model.
- dtype: `float32`, or `bfloat16`: the network is rebuilt from the float32 one's config
  with every layer's dtype policy `bfloat16` and its weights copied (cast), as the CLIP /
  SigLIP towers are (`tie.towers.load`); inputs are preprocessed in float32 and the rows
  are float32. Faster only where the CPU computes in bfloat16 natively (AVX512-BF16, AMX).

The input pipeline is `tf.data`: images come decoded by `tie.image.tf_sources` (the one
decode path of every encoder, `tie.image.decode`: EXIF orientation applied, 16-bit and
float pixels mapped by value), a few ahead, and are resized in parallel, batched and
prefetched, so the network does not wait on I/O. A file that cannot be decoded is dropped
from the stream and its position reported missing (see `tie.image.extract` for the policy).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tie.config.registry import BACKBONE_DTYPES, CROPS, VGG_LAYERS
from tie.errors import TieError
from tie.image.keras_models import KERAS_MODELS
from tie.image.tf_sources import decoded_images
from tie.tensorflow_logs import import_tensorflow

# Keras downloads weights with no timeout of its own; an unreachable server must not hang
# the stage, only a download that makes progress may take long.
DOWNLOAD_SOCKET_TIMEOUT_S = 10
WEIGHTS_SEED = 0


def keras_cache_dir() -> Path:
    """Where Keras looks for downloaded weights (its `get_file` cache, subfolder models)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def missing_weights_message(name: str, url: str, reason: str) -> str:
    file_name = os.path.basename(urllib.parse.urlsplit(url).path)
    return (
        f"the ImageNet weights of `{name}` are not in Keras' cache and could not be"
        f" downloaded ({reason}). Download {url} and save it as"
        f" {keras_cache_dir() / file_name} (Keras' cache: ~/.keras/models/, or"
        f" $KERAS_HOME/models/), or set backbone.weights in params.yaml to the path of"
        " a weights file for this model"
    )


def file_sha256(path: Path | None) -> str:
    if path is None:
        return "unknown"
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@contextlib.contextmanager
def _weights_files_read(found: list[Path]):
    """Record the files keras.applications fetches its weights from (its cache's path, after
    a download if one was needed): the models call `keras.src.utils.file_utils.get_file`."""
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def recording(*args, **kwargs):
        path = original(*args, **kwargs)
        found.append(Path(path))
        return path

    file_utils.get_file = recording
    try:
        yield
    finally:
        file_utils.get_file = original


class KerasBackbone:
    def __init__(
        self,
        name: str,
        weights: str = "imagenet",
        vgg_layer: str = "fc2",
        crops: int = 1,
        batch_size: int = 32,
        input_size: int | None = None,
        dtype: str = "float32",
    ):
        if name not in KERAS_MODELS:
            raise TieError(f"unknown image {name!r}; valid: {', '.join(KERAS_MODELS)}")
        if vgg_layer not in VGG_LAYERS:
            raise TieError(f"backbone.vgg_layer must be one of {VGG_LAYERS}, got {vgg_layer!r}")
        if crops not in CROPS:
            raise TieError(f"backbone.crops must be 1 or 10, got {crops!r}")
        if dtype not in BACKBONE_DTYPES:
            raise TieError(
                f"backbone.dtype must be one of {', '.join(BACKBONE_DTYPES)}, got {dtype!r}"
            )
        weights = str(weights)
        if weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
            raise TieError(
                f"backbone.weights {weights!r} is neither `imagenet`, `none` nor a weights file"
            )
        self.name = name
        self.spec = KERAS_MODELS[name]
        self.weights = weights
        self.layer = vgg_layer if self.is_vgg else "avg_pool"
        self.crops = crops
        self.batch_size = batch_size
        self.input_size = input_size or self.spec.input_size
        self.dtype = dtype
        self._model = None
        self._forward = None
        self._weights_file: Path | None = None  # the file `imagenet` was read from

    @property
    def is_vgg(self) -> bool:
        return self.name in ("vgg16", "vgg19")

    def fingerprint(self) -> dict:
        """What the features depend on; the weights by their content: a file's SHA-256, and
        for `imagenet` the SHA-256 of the file Keras reads them from (its cache), so that
        replacing that file is a change (the model is built to find it)."""
        weights = self.weights
        if weights == "imagenet":
            self.model  # noqa: B018 (built: Keras names the file it reads)
            weights = f"imagenet sha256:{file_sha256(self._weights_file)}"
        elif weights != "none":
            weights = f"sha256:{file_sha256(Path(weights).expanduser())}"
        return {
            "image": self.name,
            "weights": weights,
            "layer": self.layer,
            "crops": self.crops,
            "input_size": self.input_size,
            "dtype": self.dtype,
        }

    @property
    def dim(self) -> int:
        return int(self.model.output_shape[-1])

    @property
    def model(self):
        """The Keras model from image (preprocessed) to feature vector; built on first use."""
        if self._model is None:
            self._model = self._build()
        return self._model

    def _build(self):
        import_tensorflow()
        import keras

        constructor = getattr(keras.applications, self.spec.constructor)
        shape = (self.input_size, self.input_size, 3)
        if self.weights == "none":
            keras.utils.set_random_seed(WEIGHTS_SEED)
            weights = None
        elif self.weights == "imagenet":
            weights = "imagenet"
        else:
            weights = str(Path(self.weights).expanduser())
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_SOCKET_TIMEOUT_S)
        read: list[Path] = []
        try:
            with _weights_files_read(read):
                if self.is_vgg:
                    full = constructor(include_top=True, weights=weights, input_shape=shape)
                    model = keras.Model(full.input, full.get_layer(self.layer).output)
                else:
                    model = constructor(
                        include_top=False, weights=weights, input_shape=shape, pooling="avg"
                    )
            self._weights_file = read[-1] if read else None
            return model if self.dtype == "float32" else _converted(model, self.dtype)
        except Exception as error:
            failure = re.search(r"URL fetch failure on (\S+): (.*)", str(error))
            if failure is None:
                raise
            reason = re.sub(r"^None -- |\[Errno -?\d+\] ", "", failure.group(2).strip())
            raise TieError(missing_weights_message(self.name, failure.group(1), reason)) from None
        finally:
            socket.setdefaulttimeout(previous_timeout)

    def forward(self, images):
        """Features of a batch of float32 RGB images in 0..255, shape (n, size, size, 3)."""
        if self._forward is None:
            tf = import_tensorflow()
            import keras

            preprocess = getattr(keras.applications, self.spec.module).preprocess_input
            model = self.model
            size = self.input_size

            @tf.function(input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)])
            def forward(batch):
                return tf.cast(model(preprocess(batch), training=False), tf.float32)

            self._forward = forward
        return self._forward(images)

    def _crops(self, image):
        """A decoded uint8 RGB image -> (crops, size, size, 3) float32 in 0..255 (tf.data map)."""
        tf = import_tensorflow()

        size = self.input_size
        image = tf.cast(image, tf.float32)
        if self.crops == 1:
            return tf.image.resize(image, (size, size), antialias=True)[None]
        shorter = round(size * 256 / 224)
        height = tf.cast(tf.shape(image)[0], tf.float32)
        width = tf.cast(tf.shape(image)[1], tf.float32)
        scale = shorter / tf.minimum(height, width)
        new_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), shorter)
        new_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), shorter)
        image = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
        bottom, right = new_h - size, new_w - size
        offsets = [(0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2)]
        five = tf.stack([image[y : y + size, x : x + size] for y, x in offsets])
        return tf.concat([five, tf.reverse(five, axis=[2])], axis=0)

    def dataset(self, paths: list[Path]):
        """The tf.data pipeline: (position, crops) of each readable image, decoded, resized."""
        tf = import_tensorflow()

        autotune = tf.data.AUTOTUNE
        ds = decoded_images(paths)

        def crops(position, image):
            return position, self._crops(image)

        ds = ds.map(crops, num_parallel_calls=autotune)
        return ds.prefetch(2 * self.batch_size)

    def feature_batches(self, paths: list[Path]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches of the readable images among positions [j * batch_size, (j + 1) * batch_size).

        Batches are aligned blocks of positions, not runs of readable images: an unreadable
        image leaves its block one image short instead of shifting every later batch. So
        a block's features depend on its own images only, bit for bit (a network's float
        round-off depends on the batch it runs in): an unreadable image changes no other
        block's rows.
        """
        positions, images = [], []
        for position, crops in self.dataset(paths).as_numpy_iterator():
            if positions and position // self.batch_size != positions[0] // self.batch_size:
                yield self._features(positions, images)
                positions, images = [], []
            positions.append(position)
            images.append(crops)
        if positions:
            yield self._features(positions, images)

    def _features(self, positions: list[int], images: list[np.ndarray]):
        tf = import_tensorflow()

        batch = np.stack(images)  # (n, crops, size, size, 3)
        flat = batch.reshape(-1, self.input_size, self.input_size, 3)
        features = tf.reshape(self.forward(tf.constant(flat)), (len(positions), self.crops, -1))
        return np.asarray(positions), tf.reduce_mean(features, axis=1).numpy()


def _converted(model, dtype: str):
    """`model` rebuilt with every layer computing in `dtype`, its weights copied (cast)."""
    import keras

    from tie.towers.load import with_dtype  # the towers are converted the same way

    converted = keras.Model.from_config(with_dtype(model.get_config(), dtype))
    converted.set_weights(model.get_weights())
    return converted
