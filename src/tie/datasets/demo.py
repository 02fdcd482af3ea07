"""The built-in demo dataset: synthetic captioned scenes in the Flickr8k file layout.

Every image shows one to three coloured shapes on a cluttered background (a muted tint,
pixel noise, faint lines and specks). Each image has five captions written from varied
templates and synonyms, the way people describe the salient objects of a picture. The
captions are truthful: the colours, shapes, sizes and positions they name are the ones
drawn, so that a colour-grid image descriptor and mean word vectors can learn to match them.

Image i depends only on (seed, i), so the files are the same, byte for byte, on every run,
whatever the number of worker processes drawing them (`generate_demo`'s `workers`).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tie.progress import progress
from tie.raw.layout import CAPTIONS_PER_IMAGE, demo_layout

MIN_IMAGE_SIZE = 32
# Images drawn by one task of a worker process: large enough that a task's cost (pickling its
# captions back) is nothing beside drawing and PNG-encoding its images (~5 ms each at 96 px).
CHUNK_IMAGES = 500

# The colours drawn, and the words captions use for them. The first word of every
# synonym list is the common one, used most of the time (see `_pick`).
COLOURS = {
    "red": (215, 35, 35),
    "green": (35, 155, 55),
    "blue": (35, 70, 210),
    "yellow": (240, 210, 25),
    "purple": (125, 45, 165),
    "orange": (245, 130, 25),
    "black": (25, 25, 25),
}
COLOUR_WORDS = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald"),
    "blue": ("blue", "cobalt", "azure"),
    "yellow": ("yellow", "golden", "lemon"),
    "purple": ("purple", "violet"),
    "orange": ("orange", "tangerine", "amber"),
    "black": ("black", "jet-black"),
}
SHAPE_WORDS = {
    "circle": ("circle", "disc", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
    "star": ("star", "five-pointed star"),
}
SIZE_WORDS = {
    "large": ("large", "big", "huge"),
    "small": ("small", "tiny", "little"),
}
# Radius of the circle a shape fits in, as a fraction of the image size.
SIZE_RADIUS_FRACTIONS = {"large": (0.16, 0.2), "small": (0.08, 0.11)}
# (row, column) of the cell of the image's 3 x 3 grid holding an object's centre.
POSITION_WORDS = {
    (0, 0): ("in the top left corner", "at the top left", "in the upper left"),
    (0, 1): ("at the top", "near the top", "at the top of the picture"),
    (0, 2): ("in the top right corner", "at the top right", "in the upper right"),
    (1, 0): ("on the left", "on the left side", "to the left"),
    (1, 1): ("near the centre", "in the middle", "in the center"),
    (1, 2): ("on the right", "on the right side", "to the right"),
    (2, 0): ("in the bottom left corner", "at the bottom left", "in the lower left"),
    (2, 1): ("at the bottom", "near the bottom", "along the bottom edge"),
    (2, 2): ("in the bottom right corner", "at the bottom right", "in the lower right"),
}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}

OBJECT_COUNT_PROBABILITIES = {1: 0.3, 2: 0.4, 3: 0.3}
PLACEMENT_ATTEMPTS = 30  # tries to find a free spot for an object before leaving it out
COMMON_WORD_PROBABILITY = 0.6
SIZE_MENTION_PROBABILITY = 0.5
FINAL_PERIOD_PROBABILITY = 0.3
NOISE_STD = 5.0


@dataclass(frozen=True)
class SceneObject:
    """One shape drawn in a demo image; coordinates in pixels, y downwards."""

    shape: str  # a key of SHAPE_WORDS
    colour: str  # a key of COLOURS
    size: str  # a key of SIZE_WORDS
    x: float  # centre
    y: float
    radius: float  # of the circle the shape fits in
    rotation: float  # degrees, for triangles and stars
    cell: tuple[int, int]  # (row, column) of the 3 x 3 grid cell holding the centre
    rgb: tuple[int, int, int]  # the colour drawn: the named colour, slightly varied


@dataclass(frozen=True)
class DemoExample:
    objects: list[SceneObject]  # the most salient (largest) first
    image: Image.Image
    captions: list[str]


def demo_image_name(index: int) -> str:
    return f"demo_{index:06d}.png"


def generate_demo(
    out_dir: Path,
    n_train: int = 1000,
    n_val: int = 200,
    n_test: int = 200,
    image_size: int = 96,
    seed: int = 0,
    *,
    workers: int = 1,
    chunk: int = CHUNK_IMAGES,
) -> None:
    """Write the demo dataset into `out_dir`, in the layout `demo_layout(out_dir)` describes.

    Images are numbered in split order: the first `n_train` are the training images,
    then come the validation and test images. They are drawn in chunks of `chunk` images by
    `workers` processes (1: in this process; the `data` stage uses `default_workers()`);
    every image depends on (seed, its index) only, so the files are the same for any of these.
    More than one worker starts processes by spawning, which re-imports the caller's
    `__main__`: call it from a module or a script guarded by `if __name__ == "__main__"`.
    """
    split_sizes = {"train": n_train, "val": n_val, "test": n_test}
    if min(split_sizes.values()) < 0:
        raise ValueError(f"split sizes must not be negative, got {split_sizes}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be at least {MIN_IMAGE_SIZE}, got {image_size}")
    layout = demo_layout(out_dir)
    layout.image_dir.mkdir(parents=True, exist_ok=True)

    n_images = sum(split_sizes.values())
    names = [demo_image_name(index) for index in range(n_images)]
    starts = range(0, n_images, chunk)
    tasks = [
        (layout.image_dir, seed, image_size, start, min(start + chunk, n_images))
        for start in starts
    ]
    workers = min(workers, len(tasks))
    token_lines = []
    with progress(total=n_images, desc="demo images", unit="img") as bar:
        for lines in _run_chunks(tasks, workers):
            token_lines += lines
            bar.update(len(lines) // CAPTIONS_PER_IMAGE)
    _write_lines(layout.token_file, token_lines)

    start = 0
    for split, size in split_sizes.items():
        split_names = names[start : start + size]
        _write_lines(layout.split_files[split], [f"{name}\n" for name in split_names])
        start += size


def default_workers() -> int:
    """The CPUs this process may run on (its affinity where the OS has one: Linux), else
    the machine's count (macOS, Windows)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _run_chunks(tasks: list[tuple], workers: int):
    """Each task's caption lines, in task order; the tasks run in `workers` processes."""
    if workers <= 1:
        yield from (_write_chunk(*task) for task in tasks)
        return
    # spawn, not fork: a fork of a process that runs threads (TensorFlow's, BLAS's) can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_write_chunk, *zip(*tasks, strict=True))


def _write_chunk(image_dir: Path, seed: int, image_size: int, start: int, stop: int) -> list[str]:
    """Draw and write images start..stop-1; return their token-file lines, in order."""
    lines = []
    for index in range(start, stop):
        name = demo_image_name(index)
        example = make_demo_example(seed, index, image_size)
        example.image.save(image_dir / name, format="PNG")
        lines += [f"{name}#{k}\t{caption}\n" for k, caption in enumerate(example.captions)]
    return lines


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8", newline="\n")


def make_demo_example(seed: int, index: int, image_size: int) -> DemoExample:
    """The scene, image and captions of demo image `index`; a function of its arguments only."""
    rng = np.random.default_rng([seed, index])
    objects = _place_objects(rng, image_size)
    image = _draw_scene(rng, objects, image_size)
    templates = rng.permutation(len(CAPTION_TEMPLATES))[:CAPTIONS_PER_IMAGE]
    captions = []
    for template in templates:
        caption = CAPTION_TEMPLATES[template](rng, objects, image_size)
        if rng.random() < FINAL_PERIOD_PROBABILITY:
            caption += "."
        captions.append(caption)
    return DemoExample(objects=objects, image=image, captions=captions)


# Scenes ---------------------------------------------------------------------------------


def _place_objects(rng: np.random.Generator, image_size: int) -> list[SceneObject]:
    """One to three objects of distinct colours that do not overlap, largest first.

    Each object's centre lies well inside one cell of the 3 x 3 grid, so that the position
    words of that cell are true of it. An object with no free spot is left out.
    """
    counts = list(OBJECT_COUNT_PROBABILITIES)
    n_objects = rng.choice(counts, p=list(OBJECT_COUNT_PROBABILITIES.values()))
    colours = rng.choice(list(COLOURS), size=n_objects, replace=False)
    gap = 0.03 * image_size
    objects: list[SceneObject] = []
    for colour in colours:
        shape = str(rng.choice(list(SHAPE_WORDS)))
        size = str(rng.choice(list(SIZE_WORDS)))
        radius = image_size * rng.uniform(*SIZE_RADIUS_FRACTIONS[size])
        rotation = rng.uniform(-15.0, 15.0)
        varied = np.array(COLOURS[colour]) + rng.integers(-15, 16, 3)
        rgb = tuple(int(c) for c in np.clip(varied, 0, 255))
        for _attempt in range(PLACEMENT_ATTEMPTS):
            row, column = (int(i) for i in rng.integers(3, size=2))
            x = _coordinate_in_cell(rng, column, radius, image_size)
            y = _coordinate_in_cell(rng, row, radius, image_size)
            if all(np.hypot(x - o.x, y - o.y) > radius + o.radius + gap for o in objects):
                objects.append(
                    SceneObject(
                        shape=shape,
                        colour=str(colour),
                        size=size,
                        x=x,
                        y=y,
                        radius=radius,
                        rotation=rotation,
                        cell=(row, column),
                        rgb=rgb,
                    )
                )
                break
    return sorted(objects, key=lambda o: -o.radius)


def _coordinate_in_cell(
    rng: np.random.Generator, cell_index: int, radius: float, image_size: int
) -> float:
    """A centre coordinate inside grid cell `cell_index` (0, 1, 2), the shape inside the image."""
    cell_size = image_size / 3
    margin = 0.1 * cell_size  # keeps the centre clearly inside its cell
    low = max(cell_index * cell_size + margin, radius + 1)
    high = min((cell_index + 1) * cell_size - margin, image_size - radius - 1)
    return float(rng.uniform(low, high))


def _draw_scene(
    rng: np.random.Generator, objects: list[SceneObject], image_size: int
) -> Image.Image:
    grey = rng.uniform(170, 230)
    background = np.clip(grey + rng.uniform(-18, 18, 3), 0, 255)
    image = Image.new("RGB", (image_size, image_size), tuple(int(c) for c in background))
    draw = ImageDraw.Draw(image)
    _draw_clutter(rng, draw, background, image_size)
    for obj in objects:
        _draw_shape(draw, obj)
    noise = rng.normal(0.0, NOISE_STD, (image_size, image_size, 3))
    pixels = np.asarray(image, dtype=np.float64) + noise
    return Image.fromarray(np.clip(pixels.round(), 0, 255).astype(np.uint8))


def _draw_clutter(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, background: np.ndarray, image_size: int
) -> None:
    """Faint thin lines and specks: texture that is not an object and no caption names."""
    for _ in range(rng.integers(2, 5)):
        shade = np.clip(background - rng.uniform(20, 45), 0, 255)
        ends = rng.uniform(0, image_size, 4)
        draw.line(tuple(float(v) for v in ends), fill=tuple(int(c) for c in shade), width=1)
    for _ in range(rng.integers(8, 25)):
        shade = np.clip(background + rng.uniform(-35, 35), 0, 255)
        x, y = rng.uniform(0, image_size, 2)
        speck = rng.uniform(0.5, 1.5)
        fill = tuple(int(c) for c in shade)
        draw.ellipse((x - speck, y - speck, x + speck, y + speck), fill=fill)


def _draw_shape(draw: ImageDraw.ImageDraw, obj: SceneObject) -> None:
    x, y, r = obj.x, obj.y, obj.radius
    if obj.shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=obj.rgb)
    elif obj.shape == "square":
        half_side = 0.7 * r  # corners stay inside the object's circle
        draw.rectangle((x - half_side, y - half_side, x + half_side, y + half_side), fill=obj.rgb)
    elif obj.shape == "triangle":
        draw.regular_polygon((x, y, r), 3, rotation=obj.rotation, fill=obj.rgb)
    elif obj.shape == "star":
        angles = np.deg2rad(obj.rotation - 90 + 36 * np.arange(10))  # outer and inner corners
        radii = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
        xs, ys = x + radii * np.cos(angles), y + radii * np.sin(angles)
        points = [(float(px), float(py)) for px, py in zip(xs, ys, strict=True)]
        draw.polygon(points, fill=obj.rgb)
    else:
        raise ValueError(f"unknown shape {obj.shape!r}; expected one of {list(SHAPE_WORDS)}")


# Captions -------------------------------------------------------------------------------
# Every template names the most salient object, objects[0], and may name the others.


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    """The first (common) word most of the time, otherwise one of its synonyms."""
    if len(words) == 1 or rng.random() < COMMON_WORD_PROBABILITY:
        return words[0]
    return words[rng.integers(1, len(words))]


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _describe(rng: np.random.Generator, obj: SceneObject, position: bool) -> str:
    """'big crimson disc on the left', without an article; the size word is optional."""
    words = []
    if rng.random() < SIZE_MENTION_PROBABILITY:
        words.append(_pick(rng, SIZE_WORDS[obj.size]))
    words += [_pick(rng, COLOUR_WORDS[obj.colour]), _pick(rng, SHAPE_WORDS[obj.shape])]
    if position:
        words.append(_pick(rng, POSITION_WORDS[obj.cell]))
    return " ".join(words)


def _join(phrases: list[str]) -> str:
    """'a, b and c'."""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def _relation(
    rng: np.random.Generator, obj: SceneObject, other: SceneObject, image_size: int
) -> str:
    """Where `obj` is relative to `other`: 'to the left of', 'above', ... ('next to' if close)."""
    dx, dy = obj.x - other.x, obj.y - other.y
    if np.hypot(dx, dy) < 0.45 * image_size and rng.random() < 0.3:
        return _pick(rng, ("next to", "beside", "near"))
    if abs(dx) >= abs(dy):
        return "to the left of" if dx < 0 else "to the right of"
    return "above" if dy < 0 else "below"


def _salient_object(rng, objects, image_size):
    """'a big red circle on the left'"""
    return _with_article(_describe(rng, objects[0], position=True))


def _there_is(rng, objects, image_size):
    """'there is a red circle near the centre'"""
    opener = _pick(rng, ("there is", "we see", "you can see"))
    return f"{opener} {_with_article(_describe(rng, objects[0], position=True))}"


def _all_objects(rng, objects, image_size):
    """'a red circle, a small blue box at the top and a green star'"""
    return _join([_with_article(_describe(rng, o, rng.random() < 0.5)) for o in objects])


def _counted_objects(rng, objects, image_size):
    """'two shapes: a red circle and a blue square'"""
    if len(objects) == 1:
        return f"a single {_describe(rng, objects[0], position=True)}"
    noun = _pick(rng, ("shapes", "objects", "figures"))
    separator = _pick(rng, (":", ","))
    described = _join([_with_article(_describe(rng, o, position=False)) for o in objects])
    return f"{NUMBER_WORDS[len(objects)]} {noun}{separator} {described}"


def _salient_relative_to_another(rng, objects, image_size):
    """'a red circle to the left of a blue square'"""
    salient = objects[0]
    if len(objects) == 1:
        plain = _pick(rng, ("plain", "pale", "light", "speckled"))
        return f"{_with_article(_describe(rng, salient, position=True))} on a {plain} background"
    other = objects[rng.integers(1, len(objects))]
    relation = _relation(rng, salient, other, image_size)
    return (
        f"{_with_article(_describe(rng, salient, position=False))} {relation} "
        f"{_with_article(_describe(rng, other, position=False))}"
    )


def _picture_of(rng, objects, image_size):
    """'a picture of a big red circle and two other shapes'"""
    opener = _pick(rng, ("a picture of", "an image of", "a drawing of", "a photo of"))
    text = f"{opener} {_with_article(_describe(rng, objects[0], rng.random() < 0.5))}"
    n_others = len(objects) - 1
    if n_others == 0:
        return text + " " + _pick(rng, ("on its own", "alone"))
    return text + f" and {NUMBER_WORDS[n_others]} other shape" + ("s" if n_others > 1 else "")


def _salient_with_neighbour(rng, objects, image_size):
    """'a big red circle with a small blue star to the right of it'"""
    salient = objects[0]
    if len(objects) == 1:
        return f"just {_with_article(_describe(rng, salient, position=True))}"
    neighbour = objects[1]
    relation = _relation(rng, neighbour, salient, image_size)
    return (
        f"{_with_article(_describe(rng, salient, position=False))} with "
        f"{_with_article(_describe(rng, neighbour, position=False))} {relation} it"
    )


def _shape_in_colour(rng, objects, image_size):
    """'a circle in crimson near the centre'"""
    salient = objects[0]
    shape = _with_article(_pick(rng, SHAPE_WORDS[salient.shape]))
    colour = _pick(rng, COLOUR_WORDS[salient.colour])
    joiner = _pick(rng, ("in", "coloured", "painted"))
    return f"{shape} {joiner} {colour} {_pick(rng, POSITION_WORDS[salient.cell])}"


CAPTION_TEMPLATES = (
    _salient_object,
    _there_is,
    _all_objects,
    _counted_objects,
    _salient_relative_to_another,
    _picture_of,
    _salient_with_neighbour,
    _shape_in_colour,
)
