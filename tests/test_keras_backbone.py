"""Keras backbones with random weights (`weights: none`) at small input sizes.

TensorFlow is imported once for this module; the models are small-input builds so the
whole module takes seconds, not minutes. The missing-weights test runs in a child
process whose only route out is a closed port on 127.0.0.1 (an HTTPS proxy that
refuses), with an empty Keras cache.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from helpers import Interrupted
from PIL import Image
from require import require_module

from tie.errors import TieError
from tie.image.extract import extract_features, work_dir
from tie.image.keras_backbone import KerasBackbone
from tie.image.keras_models import KERAS_MODELS

tf = require_module("tensorflow")
keras = require_module("keras")
# Keras' own variables under numpy 2 (not ours to fix).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Seven small images of varied sizes and formats, and one corrupt file at position 3."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for k in range(7):
        rgb = rng.integers(0, 256, (30 + 7 * k, 50 - 3 * k, 3), dtype=np.uint8)
        path = folder / f"img{k}.{'png' if k % 2 else 'jpg'}"
        Image.fromarray(rgb).save(path)
        paths.append(path)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not a JPEG")
    paths.insert(3, corrupt)
    return paths


@pytest.fixture(scope="module")
def vgg19_fc2():
    return KerasBackbone("vgg19", weights="none", input_size=32, batch_size=2)


def extract(encoder, paths, out, shard_size=4):
    unreadable = extract_features(encoder, paths, out, [p.name for p in paths], shard_size)
    return np.load(out), unreadable


def test_the_model_table_names_every_keras_application_with_its_preprocessing():
    constructors = {
        name
        for name in dir(keras.applications)
        if name[0].isupper() and callable(getattr(keras.applications, name))
    }
    assert constructors == {m.constructor for m in KERAS_MODELS.values()}
    for model in KERAS_MODELS.values():
        assert callable(getattr(keras.applications, model.module).preprocess_input)


def test_vgg19_gives_fc2_or_fc1_rows_and_a_zero_row_for_the_corrupt_image(
    images, vgg19_fc2, tmp_path
):
    fc2, unreadable = extract(vgg19_fc2, images, tmp_path / "fc2.npy")
    assert fc2.shape == (8, 4096) and fc2.dtype == np.float32
    assert list(unreadable) == ["corrupt.jpg"]
    assert unreadable["corrupt.jpg"].startswith("UnidentifiedImageError: cannot identify")
    assert not fc2[3].any()
    assert (np.abs(fc2[[0, 1, 2, 4, 5, 6, 7]]).sum(axis=1) > 0).all()
    assert (fc2 >= 0).all()  # fc2 is taken after its ReLU
    assert (tmp_path / "fc2.ids.txt").read_text().splitlines() == [p.name for p in images]
    assert not work_dir(tmp_path / "fc2.npy").exists()

    fc1_encoder = KerasBackbone("vgg19", weights="none", vgg_layer="fc1", input_size=32)
    assert vgg19_fc2.model.layers[-1].name == "fc2" and fc1_encoder.model.layers[-1].name == "fc1"
    fc1, _ = extract(fc1_encoder, images, tmp_path / "fc1.npy")
    assert fc1.shape == (8, 4096)
    assert not np.allclose(fc1, fc2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "size", "dim"), [("inceptionresnetv2", 75, 1536), ("mobilenetv2", 32, 1280)]
)
def test_other_backbones_give_pooled_features(images, tmp_path, name, size, dim):
    encoder = KerasBackbone(name, weights="none", input_size=size, batch_size=4)
    features, unreadable = extract(encoder, images, tmp_path / f"{name}.npy")
    assert features.shape == (8, dim)
    assert list(unreadable) == ["corrupt.jpg"]
    assert not features[3].any() and features[0].any()


def test_ten_crops_are_the_corners_the_centre_and_their_flips(vgg19_fc2, tmp_path):
    # Shorter side already 256/224 of the input size (37 for 32), so no resampling.
    rgb = np.random.default_rng(1).integers(0, 256, (37, 56, 3), dtype=np.uint8)
    path = tmp_path / "tiny.png"
    Image.fromarray(rgb).save(path)
    ten = KerasBackbone("vgg19", weights="none", input_size=32, crops=10)
    crops = ten._crops(tf.constant(rgb)).numpy()
    assert crops.shape == (10, 32, 32, 3)
    expected = [rgb[:32, :32], rgb[:32, 24:], rgb[5:, :32], rgb[5:, 24:], rgb[2:34, 12:44]]
    np.testing.assert_allclose(crops[:5], np.stack(expected), atol=0.5)
    np.testing.assert_allclose(crops[5:], crops[:5, :, ::-1], atol=0)

    features, _ = extract(ten, [path], tmp_path / "ten.npy")
    by_crop = vgg19_fc2.forward(tf.constant(crops)).numpy()
    np.testing.assert_allclose(features[0], by_crop.mean(axis=0), rtol=1e-4, atol=1e-5)


def test_keras_decodes_as_every_encoder_does_orientation_and_depth_by_value(vgg19_fc2, tmp_path):
    """A 16-bit PNG and a photo stored sideways with an EXIF orientation tag give the rows of
    the 8-bit upright picture: the model called directly on Pillow's conversion of it."""
    upright = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grey = upright[..., 0]
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated 90 degrees clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(tmp_path / "s.png", exif=exif)
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    features, unreadable = extract(
        vgg19_fc2, [tmp_path / "s.png", tmp_path / "deep.png"], tmp_path / "f.npy"
    )
    assert unreadable == {}
    pictures = np.stack([upright, np.asarray(Image.fromarray(grey).convert("RGB"))])
    direct = vgg19_fc2.forward(tf.constant(pictures.astype(np.float32))).numpy()
    np.testing.assert_allclose(features, direct, rtol=1e-4, atol=1e-5)


def test_an_interrupted_run_resumes_from_its_last_shard_with_the_same_result(
    images, vgg19_fc2, tmp_path, capsys
):
    # Readable images only, shards a multiple of the batch: the resumed run feeds the
    # network the very same batches, so the result is equal bit for bit. (A dropped
    # corrupt image changes the batches after it, hence float round-off, not rows.)
    readable = images[:3] + images[4:]
    whole, _ = extract(vgg19_fc2, readable, tmp_path / "whole.npy", shard_size=2)

    out = tmp_path / "resumed.npy"
    with pytest.raises(KeyboardInterrupt):
        extract(Interrupted(vgg19_fc2, after=2), readable, out, shard_size=2)
    shards = sorted(p.name for p in work_dir(out).glob("shard-*.npz"))
    assert shards == ["shard-00000.npz", "shard-00001.npz"] and not out.exists()
    (work_dir(out) / "shard-00002.npz.partial").write_bytes(b"half a shard, process killed")

    resumed, unreadable = extract(vgg19_fc2, readable, out, shard_size=2)
    assert "resuming after 2 of 4 shards (4 images)" in capsys.readouterr().out
    np.testing.assert_array_equal(resumed, whole)
    assert unreadable == {}
    assert not work_dir(out).exists()

    with_corrupt, _ = extract(vgg19_fc2, images, tmp_path / "with_corrupt.npy", shard_size=2)
    np.testing.assert_allclose(np.delete(with_corrupt, 3, axis=0), whole, rtol=1e-4, atol=1e-6)


def test_a_run_resumed_after_an_unreadable_image_gives_the_same_bytes(
    images, vgg19_fc2, tmp_path, capsys
):
    # Batches are aligned blocks of positions: the corrupt image at position 3 leaves
    # its block short instead of shifting the later batches, so where a run (or a Ray
    # worker's shard) starts does not change any row's round-off.
    whole, _ = extract(vgg19_fc2, images, tmp_path / "whole.npy", shard_size=2)
    out = tmp_path / "resumed.npy"
    with pytest.raises(KeyboardInterrupt):
        extract(Interrupted(vgg19_fc2, after=2), images, out, shard_size=2)
    capsys.readouterr()
    resumed, unreadable = extract(vgg19_fc2, images, out, shard_size=2)
    assert "resuming after" in capsys.readouterr().out
    assert list(unreadable) == ["corrupt.jpg"]
    assert resumed.tobytes() == whole.tobytes()


def test_shards_of_another_encoder_are_not_reused(images, vgg19_fc2, tmp_path, capsys):
    out = tmp_path / "features.npy"
    other = KerasBackbone("vgg19", weights="none", vgg_layer="fc1", input_size=32, batch_size=2)
    with pytest.raises(KeyboardInterrupt):
        extract(Interrupted(other, after=2), images, out, shard_size=2)
    features, _ = extract(vgg19_fc2, images, out, shard_size=2)
    assert "resuming" not in capsys.readouterr().out
    whole, _ = extract(vgg19_fc2, images, tmp_path / "whole.npy", shard_size=2)
    np.testing.assert_array_equal(features, whole)


def closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_missing_imagenet_weights_fail_with_the_file_its_url_and_where_to_put_it(tmp_path):
    proxy = f"http://127.0.0.1:{closed_loopback_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "keras_home")}
    env |= {"KERAS_HOME": str(tmp_path / "keras"), "https_proxy": proxy, "http_proxy": proxy}
    env |= {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy}
    code = (
        "from tie.errors import TieError\n"
        "from tie.image.keras_backbone import KerasBackbone\n"
        "try:\n"
        "    KerasBackbone('vgg19', weights='imagenet').dim\n"
        "except TieError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    message = result.stdout.strip().splitlines()[-1]  # after Keras' "Downloading data from"
    url = (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
    )
    assert message.startswith("the ImageNet weights of `vgg19` are not in Keras' cache"), (
        result.stdout + result.stderr
    )
    assert f"Download {url} and save it as" in message
    assert str(tmp_path / "keras/models/vgg19_weights_tf_dim_ordering_tf_kernels.h5") in message
    assert "~/.keras/models/" in message and "backbone.weights" in message
    assert "(connection refused)" in message.lower()


@pytest.mark.slow
def test_a_local_weights_file_is_loaded_and_a_wrong_value_is_refused(tmp_path):
    source = KerasBackbone("mobilenetv2", weights="none", input_size=32)
    source.model.set_weights([w * 1.5 for w in source.model.get_weights()])  # not the init
    path = tmp_path / "mine.weights.h5"
    source.model.save_weights(path)
    loaded = KerasBackbone("mobilenetv2", weights=str(path), input_size=32)
    seeded = KerasBackbone("mobilenetv2", weights="none", input_size=32)
    batch = tf.random.uniform((2, 32, 32, 3), 0, 255, seed=0)
    expected = source.forward(batch).numpy()
    np.testing.assert_allclose(loaded.forward(batch).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(seeded.forward(batch).numpy(), expected)
    with pytest.raises(TieError, match="neither `imagenet`, `none` nor a weights file"):
        KerasBackbone("mobilenetv2", weights=str(tmp_path / "missing.h5"))


@pytest.mark.slow
def test_the_weights_are_recorded_by_their_content(tmp_path):
    """A weights file by its SHA-256 (a copy elsewhere, or a new date, is the same; other
    bytes are not), and `imagenet` by the SHA-256 of the file Keras' cache holds."""
    import hashlib
    import shutil

    source = KerasBackbone("mobilenet", weights="none", input_size=224)
    path = tmp_path / "mine.weights.h5"
    source.model.save_weights(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert KerasBackbone("mobilenet", weights=str(path)).fingerprint()["weights"] == (
        f"sha256:{digest}"
    )
    copy = tmp_path / "elsewhere" / "copy.weights.h5"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    os.utime(copy, (1, 1))
    assert KerasBackbone("mobilenet", weights=str(copy)).fingerprint()["weights"] == (
        f"sha256:{digest}"
    )

    # Keras' cache, as `imagenet` reads it: MobileNet's no-top file in Keras' legacy h5
    # format, here random weights.
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    cached = cache / "mobilenet_1_0_224_tf_no_top.h5"

    def save_cached(model):
        with h5py.File(cached, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)

    save_cached(source.model)
    env = dict(os.environ, KERAS_HOME=str(tmp_path / "keras"))  # Keras reads it at import
    code = (
        "from tie.image.keras_backbone import KerasBackbone\n"
        "print(KerasBackbone('mobilenet', weights='imagenet').fingerprint()['weights'])\n"
    )

    def recorded():
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        return result.stdout.strip().splitlines()[-1]

    first = recorded()
    assert first == f"imagenet sha256:{hashlib.sha256(cached.read_bytes()).hexdigest()}"
    source.model.set_weights([w * 1.5 for w in source.model.get_weights()])
    save_cached(source.model)
    assert recorded() not in (first, "imagenet sha256:unknown")


@pytest.mark.slow
def test_bfloat16_rows_are_the_model_called_directly_in_bfloat16(images, tmp_path):
    """`backbone.dtype: bfloat16`: the rows are those of the same network built with Keras'
    bfloat16 policy, the float32 weights copied in; float32 rows, near the float32 model's."""
    float32 = KerasBackbone("mobilenetv2", weights="none", input_size=32, batch_size=4)
    bf16 = KerasBackbone(
        "mobilenetv2", weights="none", input_size=32, batch_size=4, dtype="bfloat16"
    )
    assert bf16.fingerprint()["dtype"] == "bfloat16" != float32.fingerprint()["dtype"]

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        direct = keras.applications.MobileNetV2(
            include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
        )
    finally:
        keras.config.set_dtype_policy(previous)
    direct.set_weights(float32.model.get_weights())
    assert {w.dtype for w in direct.weights} == {"bfloat16"}
    preprocess = keras.applications.mobilenet_v2.preprocess_input

    rgb = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    called = tf.function(lambda batch: direct(preprocess(batch), training=False))  # as compiled
    expected = tf.cast(called(tf.constant(rgb)), tf.float32).numpy()
    rows = bf16.forward(tf.constant(rgb)).numpy()
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows, expected)

    features, unreadable = extract(bf16, images, tmp_path / "bf16.npy")
    reference, _ = extract(float32, images, tmp_path / "float32.npy")
    assert list(unreadable) == ["corrupt.jpg"] and features.dtype == np.float32
    assert not features[3].any() and not np.array_equal(features, reference)
    readable = [k for k in range(len(images)) if k != 3]
    a, b = features[readable], reference[readable]
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosines.min() > 0.99, cosines
    with pytest.raises(TieError, match="backbone.dtype must be one of float32, bfloat16"):
        KerasBackbone("mobilenetv2", weights="none", dtype="float16")
