"""Pictures of what a model retrieves: the evaluation gallery and the search contact sheet.

The gallery shows, for a fixed sample of test captions, the caption and its top images
(the true image framed in green), then, for a fixed sample of test images, the image
and its top captions (its own captions marked). The samples depend only on the number
of test items and a fixed seed, so galleries of two runs show the same queries.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np

from tie.features.rows import unit_rows

SAMPLE_SEED = 0
THUMBNAIL_PX = 160
TRUE_COLOUR = "#1a9641"


def top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the k best candidates of each query, best first.

    A zero vector has similarity 0 with everything, as in `tie.joint.retrieval`.
    """
    q = unit_rows(queries)
    c = unit_rows(candidates)
    scores = q @ c.T
    k = min(k, c.shape[0])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def fixed_sample(n: int, count: int) -> np.ndarray:
    """`count` distinct row numbers out of n, the same for every run with the same n."""
    rng = np.random.default_rng(SAMPLE_SEED)
    return np.sort(rng.choice(n, size=min(count, n), replace=False))


def write_gallery(
    path: Path,
    image_files: list[Path],
    captions: list[str],
    image_embeddings: np.ndarray,
    caption_embeddings: np.ndarray,
    caption_image_index: np.ndarray,
    n_queries: int = 4,
    top: int = 5,
) -> None:
    """The gallery PNG: caption queries with their top images, image queries with captions."""
    plt = _pyplot()
    caption_queries = fixed_sample(len(captions), n_queries)
    image_queries = fixed_sample(len(image_files), n_queries)
    found_images, _ = top_k(caption_embeddings[caption_queries], image_embeddings, top)
    found_captions, _ = top_k(image_embeddings[image_queries], caption_embeddings, top)

    n_rows = len(caption_queries) + len(image_queries)
    fig = plt.figure(figsize=(2.2 * (top + 1.6), 2.2 * n_rows))
    grid = fig.add_gridspec(n_rows, top + 2)
    for row, (query, found) in enumerate(zip(caption_queries, found_images, strict=True)):
        text_ax = fig.add_subplot(grid[row, :2])
        _text(text_ax, f"Query: {captions[query]}", width=34)
        for col, image in enumerate(found):
            framed = image == caption_image_index[query]
            _thumbnail(fig.add_subplot(grid[row, col + 2]), image_files[image], framed)
    for offset, (query, found) in enumerate(zip(image_queries, found_captions, strict=True)):
        row = len(caption_queries) + offset
        _thumbnail(fig.add_subplot(grid[row, 0]), image_files[query], framed=False)
        lines = [
            ("\u2713 " if caption_image_index[c] == query else "   ") + f"{rank}. {captions[c]}"
            for rank, c in enumerate(found, start=1)
        ]
        _text(fig.add_subplot(grid[row, 1:]), "\n".join(lines), width=110)
    fig.suptitle(
        f"Top {top} images for sample captions (true image framed), "
        f"top {top} captions for sample images (\u2713 = its own caption)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)


def write_contact_sheet(
    path: Path, query: str, image_files: list[Path], scores: list[float]
) -> None:
    """One row of images found for a text query, each with its rank and similarity."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(image_files), figsize=(2.4 * len(image_files), 2.9))
    for rank, (ax, file, s) in enumerate(
        zip(np.atleast_1d(axes), image_files, scores, strict=True), start=1
    ):
        _thumbnail(ax, file, framed=False)
        ax.set_title(f"{rank}. {file.name}\ncosine {s:.3f}", fontsize=8)
    fig.suptitle(textwrap.shorten(query, 120), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    image = io.BytesIO()
    fig.savefig(image, dpi=72, format=Path(path).suffix.lower()[1:])
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a full disk or /dev/full: an OSError here, not swallowed
        f.write(image.getvalue())
        f.flush()


def image_format_problem(path: Path) -> str | None:
    """Why matplotlib cannot write a picture to `path` (its suffix), or None."""
    formats = sorted(_pyplot().figure().canvas.get_supported_filetypes())
    _pyplot().close("all")
    suffix = Path(path).suffix.lower()[1:]
    if suffix in formats:
        return None
    named = f"suffix .{suffix}" if suffix else "no suffix"
    return f"{path} has {named}: not a picture format; end it in one of .{', .'.join(formats)}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _thumbnail(ax, file: Path, framed: bool) -> None:
    from tie.image.decode import DEFAULT_MAX_PIXELS, ImageDecodeError, open_rgb

    try:
        with open_rgb(file, DEFAULT_MAX_PIXELS) as image:
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            ax.imshow(np.asarray(image))
    except ImageDecodeError as error:  # its feature row is zeros; say why, draw nothing
        ax.text(0.5, 0.5, textwrap.fill(f"unreadable: {error}", 24), ha="center", fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(framed)
        spine.set_color(TRUE_COLOUR)
        spine.set_linewidth(5)


def _text(ax, text: str, width: int) -> None:
    wrapped = "\n".join(
        textwrap.fill(line, width, subsequent_indent="      ") for line in text.splitlines()
    )
    ax.text(0, 0.5, wrapped, va="center", ha="left", fontsize=9, family="monospace")
    ax.axis("off")
