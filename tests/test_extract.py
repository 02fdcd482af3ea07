"""Resumable image feature extraction: a resumed run reuses shards only of the same inputs.

Real extraction with the real `colorgrid` encoder, interrupted for real: the encoder
raises KeyboardInterrupt (as Ctrl-C does) after some batches, mid-run.
"""

import shutil

import pytest
from helpers import Interrupted

from tie.datasets.demo import generate_demo
from tie.image.colorgrid import ColorGrid
from tie.image.extract import extract_features, work_dir
from tie.raw.layout import demo_layout

N_IMAGES, SHARD_SIZE = 40, 8  # five shards


def demo_images(folder, seed):
    """N_IMAGES demo images; every seed writes the same file names, other pixels."""
    generate_demo(folder, n_train=N_IMAGES, n_val=0, n_test=0, image_size=32, seed=seed)
    image_dir = demo_layout(folder).image_dir
    return sorted(image_dir.iterdir())


def extract(encoder, paths, out):
    extract_features(encoder, paths, out, [p.name for p in paths], SHARD_SIZE)
    return out.read_bytes(), out.with_suffix(".ids.txt").read_bytes()


def interrupt(paths, out):
    with pytest.raises(KeyboardInterrupt):
        extract(Interrupted(ColorGrid(), after=2 * SHARD_SIZE + 3), paths, out)
    assert len(list(work_dir(out).glob("shard-*.npz"))) == 2
    assert not out.exists()


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return {seed: demo_images(root / f"seed{seed}", seed) for seed in (0, 1)}


@pytest.fixture(scope="module")
def clean(image_sets, tmp_path_factory):
    """Each image set's features from one uninterrupted run."""
    root = tmp_path_factory.mktemp("clean")
    return {s: extract(ColorGrid(), paths, root / f"{s}.npy") for s, paths in image_sets.items()}


def test_changed_images_after_an_interruption_start_afresh(image_sets, clean, tmp_path, capsys):
    folder = tmp_path / "images"
    shutil.copytree(image_sets[0][0].parent, folder)
    paths = sorted(folder.iterdir())
    out = tmp_path / "features" / "colorgrid.npy"
    interrupt(paths, out)

    for path, new in zip(paths, image_sets[1], strict=True):  # same names, new pixels
        shutil.copyfile(new, path)
    capsys.readouterr()
    assert extract(ColorGrid(), paths, out) == clean[1]
    assert "resuming" not in capsys.readouterr().out
    assert not work_dir(out).exists()
    assert clean[0] != clean[1]


def test_unchanged_images_after_an_interruption_resume(image_sets, clean, tmp_path, capsys):
    out = tmp_path / "colorgrid.npy"
    interrupt(image_sets[0], out)
    capsys.readouterr()
    assert extract(ColorGrid(), image_sets[0], out) == clean[0]
    assert "resuming after 2 of 5 shards (16 images)" in capsys.readouterr().out
    assert not work_dir(out).exists()


def test_another_encoder_setting_starts_afresh(image_sets, tmp_path, capsys):
    out = tmp_path / "colorgrid.npy"
    interrupt(image_sets[0], out)
    capsys.readouterr()
    coarse, _ = extract(ColorGrid(bins_per_channel=2), image_sets[0], out)
    assert "resuming" not in capsys.readouterr().out
    assert coarse == extract(ColorGrid(bins_per_channel=2), image_sets[0], tmp_path / "c.npy")[0]


class Watching:
    """The same encoder, noting the work folder's files before each shard it encodes."""

    def __init__(self, encoder, folder):
        self.encoder, self.folder = encoder, folder
        self.name, self.dim = encoder.name, encoder.dim
        self.seen = []

    def fingerprint(self):
        return self.encoder.fingerprint()

    def feature_batches(self, paths):
        files = sorted(self.folder.iterdir())
        self.seen.append({f.name: (f.stat().st_ino, f.stat().st_size) for f in files})
        yield from self.encoder.feature_batches(paths)


def test_shards_go_straight_into_the_one_feature_file(image_sets, clean, tmp_path):
    """No merge: the shards' rows are written into the file that becomes the output (a
    rename), so the disk never holds the shards and a merged copy side by side."""
    out = tmp_path / "colorgrid.npy"
    encoder = Watching(ColorGrid(), work_dir(out))
    assert extract(encoder, image_sets[0], out) == clean[0]

    row_bytes = N_IMAGES * encoder.dim * 4
    last = encoder.seen[-1]  # before the last shard: four shards done
    assert len(last) == 1 + 1 + 4  # the folder's manifest, the feature file, four markers
    inode, size = last["features.npy"]
    assert out.stat().st_ino == inode and size == out.stat().st_size >= row_bytes
    markers = sum(size for name, (_, size) in last.items() if name.startswith("shard-"))
    assert markers < row_bytes / 10  # the markers hold the unreadable images, not rows
