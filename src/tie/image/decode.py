"""Opening image files: the one path every image encoder decodes through, with a pixel limit.

A file's header is read first (`image_size`): its pixel count is compared with the limit
(params.yaml `image_decode.max_pixels`) before any pixel is decoded, so a decompression
bomb (a small file claiming, say, 20,000 x 20,000 pixels) or an oversized photo costs a
few bytes of reading, not gigabytes of memory. `tie.image.extract` checks every header
against the limit before an encoder sees the file; encoders then decode with `open_rgb`
(no limit of its own: only Pillow's fixed one). Every failure, whatever the decoder raised,
becomes an `ImageDecodeError` whose message is the reason, in words, for the stage's report.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

# 100 Mpx: the largest consumer camera photos (about 300 MB once decoded to RGB). Pillow
# itself refuses twice its own limit (about 179 Mpx) as a possible decompression bomb,
# so no limit can go beyond that.
DEFAULT_MAX_PIXELS = 100_000_000
PILLOW_HARD_LIMIT = 2 * Image.MAX_IMAGE_PIXELS


class ImageDecodeError(Exception):
    """An image file that cannot be used; the message says why."""


def image_size(path: Path, max_pixels: int | None = None) -> tuple[int, int]:
    """(width, height) from the file's header; raises ImageDecodeError if it is unusable."""
    with _opened(path, max_pixels) as image:
        return image.size


def open_rgb(path: Path, max_pixels: int | None = None) -> Image.Image:
    """The image decoded to RGB; raises ImageDecodeError (missing, not an image, too large,
    truncated, or anything else the decoder raises)."""
    with _opened(path, max_pixels) as image:
        try:
            return image.convert("RGB")
        except Exception as error:  # Pillow raises many kinds for a damaged file
            raise ImageDecodeError(_reason(error)) from error


def decode_problem(path: Path, max_pixels: int | None = None) -> str | None:
    """Why `path` cannot be decoded, or None when it decodes."""
    try:
        open_rgb(path, max_pixels).close()
    except ImageDecodeError as error:
        return str(error)
    return None


class _opened:
    """`Image.open` with the pixel limit checked on the header, errors as ImageDecodeError."""

    def __init__(self, path, max_pixels: int | None):
        # a file, or a member of a tar shard (tie.raw.webdataset.TarMember: `open`)
        self.path = (
            path if hasattr(path, "read_bytes") and not isinstance(path, Path) else Path(path)
        )
        self.max_pixels = max_pixels
        self.image = None

    def __enter__(self) -> Image.Image:
        if isinstance(self.path, Path) and not self.path.is_file():
            raise ImageDecodeError("no such file")
        try:
            with warnings.catch_warnings():  # the limit below replaces Pillow's warning
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                source = self.path if isinstance(self.path, Path) else self.path.open("rb")
                self.image = Image.open(source)
        except Image.DecompressionBombError as error:
            raise ImageDecodeError(f"too large, a possible decompression bomb ({error})") from error
        except Exception as error:
            raise ImageDecodeError(_reason(error)) from error
        width, height = self.image.size
        if self.max_pixels is not None and width * height > self.max_pixels:
            self.image.close()
            raise ImageDecodeError(
                f"too large: {width} x {height} = {width * height:,} pixels, over "
                f"image_decode.max_pixels = {self.max_pixels:,} (raise it in params.yaml if "
                "the image is genuine)"
            )
        return self.image

    def __exit__(self, *exc_info) -> None:
        self.image.close()


def _reason(error: Exception) -> str:
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
