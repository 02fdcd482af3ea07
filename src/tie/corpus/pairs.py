"""Which image each caption describes: the index that pairs caption rows with image rows.

`CCA.fit` (as `image_index`) and `tie.joint.retrieval` (as `caption_image_index`) take the same
index: for every caption row, the row of its image. One check serves both.
"""

from __future__ import annotations

import numpy as np


def check_image_index(index, n_captions: int, n_images: int, name: str = "image_index"):
    """`index` as an integer array, checked: one entry per caption, each an image row.

    Raises ValueError naming the argument (`name`) and what is wrong.
    """
    index = np.asarray(index)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-D integer array (one image row per caption), got "
            f"dtype {index.dtype} and shape {index.shape}"
        )
    if len(index) != n_captions:
        raise ValueError(
            f"{name} has {len(index)} entries but there are {n_captions} captions; "
            "it needs one entry per caption"
        )
    if n_captions and (index.min() < 0 or index.max() >= n_images):
        raise ValueError(
            f"{name} values must be image rows in 0..{n_images - 1}, got values in "
            f"{index.min()}..{index.max()}"
        )
    return index
