import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tie.config.params import check_params, read_params
from tie.corpus.flickr8k import REPORT_PROBLEMS, read_flickr8k_layout
from tie.datasets.demo import (
    COLOUR_WORDS,
    SHAPE_WORDS,
    SIZE_WORDS,
    demo_image_name,
    generate_demo,
    make_demo_example,
)
from tie.raw.layout import demo_layout

REPO = Path(__file__).resolve().parents[1]

SPLIT_SIZES = {"n_train": 12, "n_val": 4, "n_test": 4}
N_IMAGES = sum(SPLIT_SIZES.values())
IMAGE_SIZE = 64


def _words(caption: str) -> set[str]:
    return set(re.findall(r"[a-z]+", caption))


def _named(caption: str, synonyms: dict[str, tuple[str, ...]]) -> set[str]:
    """The keys of `synonyms` (colours, shapes, sizes) the caption names."""
    words = _words(caption)
    return {key for key, names in synonyms.items() if any(_words(name) <= words for name in names)}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    generate_demo(out_dir, **SPLIT_SIZES, image_size=IMAGE_SIZE, seed=3)
    return out_dir


def test_generation_is_deterministic(demo_dir, tmp_path):
    generate_demo(tmp_path, **SPLIT_SIZES, image_size=IMAGE_SIZE, seed=3)

    files = sorted(p.relative_to(demo_dir) for p in demo_dir.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert files == again
    assert len(files) == N_IMAGES + 4
    for name in files:
        assert (demo_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_other_images(demo_dir, tmp_path):
    generate_demo(tmp_path, n_train=1, n_val=0, n_test=0, image_size=IMAGE_SIZE, seed=4)

    first = demo_image_name(0)
    assert (tmp_path / "images" / first).read_bytes() != (demo_dir / "images" / first).read_bytes()


def test_files_read_back_in_flickr8k_layout_with_nothing_dropped(demo_dir):
    corpus = read_flickr8k_layout(demo_layout(demo_dir), "demo")

    assert corpus.images == [demo_image_name(i) for i in range(N_IMAGES)]
    assert corpus.counts() == {
        "train": {"images": 12, "captions": 60},
        "val": {"images": 4, "captions": 20},
        "test": {"images": 4, "captions": 20},
    }
    assert all(len(captions) == 5 for captions in corpus.captions)
    assert all(corpus.report[key]["count"] == 0 for key in REPORT_PROBLEMS)
    assert corpus.report["caption_lines"] == 5 * N_IMAGES
    assert demo_layout(demo_dir).split_files["val"].name == "demo.devImages.txt"


def test_images_are_rgb_of_the_requested_size(demo_dir):
    for index in range(N_IMAGES):
        with Image.open(demo_dir / "images" / demo_image_name(index)) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_files_hold_the_examples(demo_dir):
    corpus = read_flickr8k_layout(demo_layout(demo_dir), "demo")

    for index in (0, N_IMAGES - 1):
        example = make_demo_example(seed=3, index=index, image_size=IMAGE_SIZE)
        with Image.open(demo_dir / "images" / demo_image_name(index)) as image:
            assert np.array_equal(np.asarray(image), np.asarray(example.image))
        assert corpus.captions[index] == example.captions


def test_captions_are_varied_lowercase_sentences():
    captions = [
        caption for index in range(60) for caption in make_demo_example(0, index, 96).captions
    ]

    assert all(re.fullmatch(r"[a-z][a-z ,:\-]*[a-z]\.?", caption) for caption in captions)
    assert len(set(captions)) > 0.9 * len(captions)
    all_words = set().union(*(_words(caption) for caption in captions))
    assert len({w for names in COLOUR_WORDS.values() for w in names} & all_words) >= 6
    assert len({w for names in SHAPE_WORDS.values() for w in names} & all_words) >= 4
    assert all_words & {"one", "two", "three"}
    assert all_words & {"left", "right", "top", "bottom", "centre", "center", "middle"}


def test_scenes_and_captions_agree():
    for index in range(100):
        example = make_demo_example(seed=0, index=index, image_size=96)
        objects = example.objects
        salient = objects[0]
        pixels = np.asarray(example.image, dtype=int)

        assert 1 <= len(objects) <= 3
        assert [o.radius for o in objects] == sorted((o.radius for o in objects), reverse=True)
        for obj in objects:
            # the centre pixel has the object's colour (up to noise), in the object's cell
            centre = pixels[int(obj.y), int(obj.x)]
            assert np.abs(centre - np.array(obj.rgb)).max() <= 25
            assert obj.cell == (int(obj.y // 32), int(obj.x // 32))
        for a, b in itertools.combinations(objects, 2):
            assert np.hypot(a.x - b.x, a.y - b.y) > a.radius + b.radius

        for caption in example.captions:
            colours = _named(caption, COLOUR_WORDS)
            assert salient.colour in colours, caption
            assert colours <= {o.colour for o in objects}, caption
            assert _named(caption, SHAPE_WORDS) <= {o.shape for o in objects}, caption
            assert _named(caption, SIZE_WORDS) <= {o.size for o in objects}, caption


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        generate_demo(tmp_path, image_size=16)
    with pytest.raises(ValueError, match="negative"):
        generate_demo(tmp_path, n_val=-1)


def test_worker_processes_write_the_same_files_as_one(demo_dir, tmp_path):
    # 20 images in chunks of 3: 7 tasks over 2 spawned processes, finishing in any order
    generate_demo(tmp_path, **SPLIT_SIZES, image_size=IMAGE_SIZE, seed=3, workers=2, chunk=3)

    files = sorted(p.relative_to(demo_dir) for p in demo_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for name in files:
        assert (demo_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_coco_size_is_accepted():
    # COCO 2014 under Karpathy's split: 113,287 / 5,000 / 5,000 images (issue 33)
    params = read_params(REPO / "params.yaml")
    params["demo"].update(n_train=113_287, n_val=5_000, n_test=5_000)
    assert check_params(params) == []
