"""Hostile and broken image files: each becomes a zero row and a named reason, never a crash."""

import importlib.util
import json
import struct
import zlib

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import REPO
from PIL import Image, ImageOps

from tie.image.colorgrid import ColorGrid
from tie.image.decode import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_problem, open_rgb
from tie.image.extract import extract_features


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_blank_png(path, width, height, rows_written=None):
    """A 1-bit black PNG of width x height, written row by row (a few KB for 144 Mpx).

    With `rows_written`, only that many rows of pixel data follow the header: the
    header still claims the full size (a decompression bomb costs its reader only that).
    """
    row = b"\x00" * (1 + -(-width // 8))  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(rows_written or height))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data)
    path.write_bytes(png + png_chunk(b"IEND", b""))


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("good1.png", "good2.jpg"):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / name)
    write_blank_png(folder / "bomb.png", 20_000, 20_000, rows_written=10)  # 400 Mpx
    write_blank_png(folder / "huge.png", 12_000, 12_000)  # 144 Mpx, decodable
    whole = (folder / "good2.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "text.png").write_text("not an image")
    return folder


ORDER = ["good1.png", "bomb.png", "huge.png", "truncated.jpg", "good2.jpg", "text.png", "gone.jpg"]


def test_every_unreadable_image_gets_a_zero_row_and_a_reason(images, tmp_path):
    encoder = ColorGrid()
    paths = [images / name for name in ORDER]
    out = tmp_path / "features.npy"
    unreadable = extract_features(encoder, paths, out, ORDER, shard_size=3)

    assert sorted(unreadable) == sorted(ORDER[1:4] + ORDER[5:])
    assert "decompression bomb" in unreadable["bomb.png"]
    assert "12000 x 12000 = 144,000,000 pixels" in unreadable["huge.png"]
    assert "image_decode.max_pixels = 100,000,000" in unreadable["huge.png"]
    assert "truncated" in unreadable["truncated.jpg"]
    assert "cannot identify image file" in unreadable["text.png"]
    assert unreadable["gone.jpg"] == "no such file"

    features = np.load(out)
    expected = encoder.encode([images / "good1.png", images / "good2.jpg"])
    np.testing.assert_array_equal(features[[0, 4]], expected)
    assert not features[[1, 2, 3, 5, 6]].any()


def test_the_schema_knows_pillows_hard_limit():
    from tie.config.schema import PILLOW_HARD_LIMIT as in_schema
    from tie.image.decode import PILLOW_HARD_LIMIT

    assert in_schema == PILLOW_HARD_LIMIT


def test_pixel_limit_is_applied_before_decoding(images):
    with pytest.raises(ImageDecodeError, match="over image_decode.max_pixels = 1,000"):
        open_rgb(images / "good1.png", max_pixels=1000)
    problem = decode_problem(images / "huge.png", max_pixels=DEFAULT_MAX_PIXELS)
    assert problem.startswith("too large")
    with open_rgb(images / "good1.png", max_pixels=2000) as rgb:
        assert rgb.size == (50, 40)


def test_a_higher_limit_lets_a_large_genuine_image_through(images, tmp_path):
    paths = [images / "huge.png"]
    unreadable = extract_features(
        ColorGrid(), paths, tmp_path / "f.npy", ["huge.png"], max_pixels=150_000_000
    )
    assert unreadable == {}
    assert np.load(tmp_path / "f.npy").any()


def test_stage_report_names_each_file_and_reason(images, tmp_path, monkeypatch):
    (tmp_path / "images.txt").write_text("".join(f"{name}\n" for name in ORDER))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params |= {"image": "colorgrid", "image_decode": {"max_pixels": DEFAULT_MAX_PIXELS}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)

    spec = importlib.util.spec_from_file_location("stage", REPO / "stages/image_features.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    args = [str(images), "images.txt", "out/colorgrid.npy", "out/colorgrid.report.json"]
    result = CliRunner().invoke(stage.main, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out/colorgrid.report.json").read_text())
    assert sorted(report["unreadable"]) == sorted(ORDER[1:4] + ORDER[5:])
    assert "decompression bomb" in report["unreadable"]["bomb.png"]
    assert f"{images / 'bomb.png'}: too large" in result.output


# What the file says is respected: bit depth and mode by value, EXIF orientation applied.
# Each case is compared with Pillow's own conversion of the 8-bit, upright picture.


def picture(height=24, width=40):
    """An 8-bit greyscale picture with every level from 0 to 255 and a clear up and left."""
    grey = np.arange(height * width, dtype=np.int64).reshape(height, width) * 255
    return (grey // (height * width - 1)).astype(np.uint8)


def as_rgb(array):
    return np.asarray(Image.fromarray(array).convert("RGB"))


@pytest.mark.parametrize(
    ("suffix", "values", "mode"),
    [
        ("png", lambda g: g.astype(np.uint16) * 257, "I;16"),  # a 16-bit greyscale PNG
        ("tif", lambda g: g.astype(np.uint16) * 257, "I;16"),  # a 16-bit greyscale TIFF
        ("tif", lambda g: g.astype(np.int32) * 257, "I"),  # 16-bit values in a 32-bit mode
        ("tif", lambda g: g.astype(np.float32) / 255, "F"),  # a float TIFF in 0..1
        ("tif", lambda g: g.astype(np.float32) * 4 - 100, "F"),  # a float TIFF of any range
    ],
)
def test_deep_and_float_pixels_are_mapped_to_eight_bits_by_value(tmp_path, suffix, values, mode):
    grey = picture()
    path = tmp_path / f"deep.{suffix}"
    Image.fromarray(values(grey)).save(path)
    with Image.open(path) as image:
        assert image.mode == mode
    with open_rgb(path) as rgb:
        np.testing.assert_array_equal(np.asarray(rgb), as_rgb(grey))
    same = ColorGrid().encode([_saved(grey, tmp_path)])
    np.testing.assert_array_equal(ColorGrid().encode([path]), same)


def _saved(array, folder, name="upright.png"):
    Image.fromarray(array).save(folder / name)
    return folder / name


@pytest.mark.parametrize("orientation", [3, 6, 8])  # rotated 180, 90 clockwise, 90 counter
def test_an_exif_orientation_tag_is_applied(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    upright = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    stored = {3: np.rot90(upright, 2), 6: np.rot90(upright, 1), 8: np.rot90(upright, -1)}
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "sideways.png"
    Image.fromarray(np.ascontiguousarray(stored[orientation])).save(path, exif=exif)
    with Image.open(path) as image:  # Pillow's own reading of the tag gives the upright picture
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(image)), upright)
    with open_rgb(path) as rgb:
        np.testing.assert_array_equal(np.asarray(rgb), upright)
    same = ColorGrid().encode([_saved(upright, tmp_path)])
    np.testing.assert_array_equal(ColorGrid().encode([path]), same)
