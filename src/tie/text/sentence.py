"""Sentence encoders (CLIP, SigLIP text towers) have no vocabulary: the `vocab` placeholder.

The pipeline has one `vocab` stage and one `text_features` stage for every text encoder
(DVC has no conditional stages). For a word-vector encoder, `vocab` saves the word
vectors that `text_features` pools. For a sentence encoder, `vocab` writes this
placeholder instead, and `text_features` runs the text tower on whole captions. The
placeholder's bytes depend only on the encoder's name (a zip with a fixed date), so
re-running `vocab` never makes `text_features` run again.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

_ENTRY = "sentence_encoder.npy"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def write_placeholder(path: Path, name: str) -> None:
    """An `.npz` holding only `sentence_encoder = name`, byte-identical every time."""
    buffer = io.BytesIO()
    np.save(buffer, np.array(name))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo(_ENTRY, date_time=_FIXED_DATE), buffer.getvalue())
