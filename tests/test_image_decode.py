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
from PIL import Image

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
