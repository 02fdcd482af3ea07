"""CLIP and SigLIP towers (tie.towers.models) against the KerasHub model called directly.

The presets are tiny random models saved with `save_to_preset` (tests/tower_presets.py)
and loaded through the preset param, as a downloaded preset would be.
"""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from require import require_module
from tower_presets import direct_image_rows, direct_text_rows

from tie.errors import TieError
from tie.image.extract import extract_features

require_module("keras_hub")

MODELS = ("clip", "siglip")
CAPTIONS = [
    "A red circle on the left.",
    "two BLUE squares, next to a tiny yellow star",
    "zebra xylophone",  # words the vocabulary does not hold
    "",
    "the big green triangle at the top of the picture and a small purple ring in the middle",
]


@pytest.fixture
def preset(request, tiny_clip_preset, tiny_siglip_preset):
    return {"clip": tiny_clip_preset, "siglip": tiny_siglip_preset}[request.param]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Seven PNG images of different sizes and aspect ratios, one corrupt file among them."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(40, 40), (31, 57), (64, 23), (32, 32), (90, 60), (33, 35)]):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    paths.insert(4, corrupt)
    return paths


@pytest.mark.parametrize("preset", MODELS, indirect=True)
def test_image_rows_are_the_vision_tower_on_the_presets_own_preprocessing(preset, images, tmp_path):
    from tie.image.tower import TowerImageEncoder

    model = preset.name.split("_")[0]
    encoder = TowerImageEncoder(model, preset=str(preset), batch_size=3)
    out = tmp_path / "features.npy"
    ids = [p.name for p in images]
    unreadable = extract_features(encoder, images, out, ids, shard_size=4)
    written = np.load(out)

    assert list(unreadable) == ["corrupt.jpg"]
    assert written.shape == (len(images), encoder.dim)
    for row, expected in zip(written, direct_image_rows(preset, images), strict=True):
        if expected is None:
            assert not row.any()
        else:
            np.testing.assert_allclose(row, expected, rtol=1e-4, atol=1e-5)

    # Batching and sharding do not change the rows.
    one_by_one = TowerImageEncoder(model, preset=str(preset), batch_size=1)
    other = tmp_path / "other.npy"
    extract_features(one_by_one, images, other, ids, shard_size=512)
    np.testing.assert_allclose(np.load(other), written, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("preset", MODELS, indirect=True)
def test_caption_rows_are_the_text_tower_on_the_presets_own_tokenizer(preset):
    from tie.text.tower import TowerTextEncoder

    model = preset.name.split("_")[0]
    expected = direct_text_rows(model, preset, CAPTIONS)
    for batch_size in (2, 64):
        encoder = TowerTextEncoder(model, preset=str(preset), batch_size=batch_size)
        rows = encoder.encode(CAPTIONS)
        assert rows.dtype == np.float32 and rows.shape == (len(CAPTIONS), encoder.dim)
        np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-5)
    # Different captions, different rows (the tokenizer is not mapping all to unknowns).
    assert np.linalg.matrix_rank(expected) == len(CAPTIONS)


@pytest.mark.parametrize("preset", MODELS, indirect=True)
def test_bfloat16_towers_stay_close_to_float32(preset, images):
    from tie.image.tower import TowerImageEncoder
    from tie.text.tower import TowerTextEncoder

    model = preset.name.split("_")[0]

    def cosines(a, b):
        return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    text = {
        d: TowerTextEncoder(model, preset=str(preset), dtype=d) for d in ("float32", "bfloat16")
    }
    weights = text["bfloat16"].backbone.weights
    assert {str(w.dtype) for w in weights if "int" not in str(w.dtype)} == {"bfloat16"}
    text_rows = {d: encoder.encode(CAPTIONS) for d, encoder in text.items()}
    assert not np.array_equal(text_rows["float32"], text_rows["bfloat16"])
    assert cosines(text_rows["float32"], text_rows["bfloat16"]).min() > 0.98

    readable = [p for p in images if p.suffix == ".png"]
    image_rows = {}
    for dtype in ("float32", "bfloat16"):
        encoder = TowerImageEncoder(model, preset=str(preset), dtype=dtype)
        image_rows[dtype] = np.concatenate([f for _, f in encoder.feature_batches(readable)])
        assert image_rows[dtype].dtype == np.float32
    assert cosines(image_rows["float32"], image_rows["bfloat16"]).min() > 0.98


def test_fingerprint_follows_the_presets_content_not_its_path(tiny_clip_preset, tmp_path):
    import shutil

    from tie.towers.models import preset_fingerprint

    copy = tmp_path / "renamed"
    shutil.copytree(tiny_clip_preset, copy)
    original = preset_fingerprint("clip", str(tiny_clip_preset))
    assert preset_fingerprint("clip", str(copy)) == original
    with open(copy / "model.weights.h5", "ab") as f:
        f.write(b"\0")
    assert preset_fingerprint("clip", str(copy)) != original


def test_a_preset_name_that_cannot_be_downloaded_says_where_to_put_it(monkeypatch, tmp_path):
    from tie.image.tower import TowerImageEncoder

    # Kaggle's API on loopback, where nothing listens: the download is refused at once.
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(TieError) as error:
        _ = TowerImageEncoder("clip", preset="clip_vit_base_patch32").dim
    message = str(error.value)
    assert "clip.preset 'clip_vit_base_patch32'" in message
    assert str(tmp_path / "cache" / "models" / "keras" / "clip" / "keras") in message
    assert "clip.preset=/" in message and "\n" not in message


def test_a_wrong_preset_fails_in_one_line(tmp_path):
    from tie.text.tower import TowerTextEncoder

    with pytest.raises(TieError, match="has no config.json"):
        _ = TowerTextEncoder("siglip", preset=str(tmp_path)).dim
    with pytest.raises(TieError, match="does not exist"):
        _ = TowerTextEncoder("clip", preset=str(tmp_path / "nowhere")).dim
    with pytest.raises(TieError, match="clip_vit_base_patch32"):
        _ = TowerTextEncoder("clip", preset="clip_vit_no_such_size").dim


def test_importing_the_towers_loads_neither_tensorflow_nor_keras_hub():
    code = (
        "import sys, tie.towers.models, tie.image.tower, tie.text.tower\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'keras_hub') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
