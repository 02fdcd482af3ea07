"""Opening image files: the one path every image encoder decodes through, with a pixel limit.

A file's header is read first (`image_size`): its pixel count is compared with the limit
(params.yaml `image_decode.max_pixels`) before any pixel is decoded, so a decompression
bomb (a small file claiming, say, 20,000 x 20,000 pixels) or an oversized photo costs a
few bytes of reading, not gigabytes of memory. `tie.image.extract` checks every header
against the limit before an encoder sees the file; encoders then decode with `open_rgb`
(no limit of its own: only Pillow's fixed one). Every failure, whatever the decoder raised,
becomes an `ImageDecodeError` whose message is the reason, in words, for the stage's report.

What the file says is respected, for every encoder (colorgrid, the Keras backbones and the
CLIP / SigLIP towers all decode here, with Pillow):
- EXIF orientation is applied (`PIL.ImageOps.exif_transpose`): a phone photo stored
  sideways with an orientation tag is encoded upright, as every viewer shows it;
- pixel values are mapped to 8 bits by value, never truncated: 16-bit greyscale
  (`I;16`, a 16-bit PNG or TIFF) by v / 257, so 65535 is white; 32-bit integer (`I`)
  the same when its values fit 0..65535, else stretched from its minimum to its maximum;
  float (`F`, a float TIFF) by v * 255 when its values lie in 0..1, else stretched from its
  minimum to its maximum (NaN and infinities black). Pillow's own `convert("RGB")` would
  clip those to 255 (a 16-bit photo becomes nearly all white). Every other mode (palette,
  CMYK, greyscale with alpha, 16-bit RGB, which Pillow already reads as 8-bit) goes through
  Pillow's `convert("RGB")`; transparency is dropped.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

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
            return to_rgb(image)
        except Exception as error:  # Pillow raises many kinds for a damaged file
            raise ImageDecodeError(_reason(error)) from error


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` upright (its EXIF orientation applied) as 8-bit RGB, its values mapped by value."""
    upright = ImageOps.exif_transpose(image)
    if upright.mode in SIXTEEN_BIT or upright.mode in ("I", "F"):
        return Image.fromarray(_eight_bit(upright)).convert("RGB")
    return upright.convert("RGB")


SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def _eight_bit(image: Image.Image) -> np.ndarray:
    """A one-band 16-bit, 32-bit integer or float image's values as uint8, by value."""
    values = np.asarray(image).astype(np.float64)
    finite = np.isfinite(values)
    values = np.where(finite, values, 0.0)
    low, high = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 0.0)
    if image.mode in SIXTEEN_BIT or (image.mode == "I" and low >= 0 and high <= 65535):
        scaled = values / 257
    elif image.mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255
    elif high > low:
        scaled = (values - low) * (255 / (high - low))
    else:
        scaled = np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


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
