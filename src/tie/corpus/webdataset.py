"""Reading an indexed WebDataset collection into a `Corpus`: the split by hashed key.

See `tie.raw.webdataset` for the index the data stage writes and the protocol.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tie.config.schema import Webdataset
from tie.corpus.corpus import Corpus
from tie.errors import TieError
from tie.raw.webdataset import REPORT_FILE
from tie.raw.webdataset import records as index_records


def read_webdataset(raw_dir: Path, section: Webdataset) -> Corpus:
    """The corpus of the indexed samples, split by hashed key (see the module's docstring)."""
    records = index_records(raw_dir)
    seed = section.seed
    rank = sorted(
        range(len(records)),
        key=lambda i: hashlib.sha256(f"{seed}:{records[i]['key']}".encode()).digest(),
    )
    split = ["train"] * len(records)
    n_test, n_val = section.test_size, section.val_size
    if len(records) < n_test + n_val + 2:
        raise TieError(
            f"the collection has {len(records)} good samples, too few for webdataset.test_size"
            f" = {n_test} and val_size = {n_val} and a train split: lower them"
        )
    for position, i in enumerate(rank):
        split[i] = "test" if position < n_test else "val" if position < n_test + n_val else "train"
    report = json.loads((Path(raw_dir) / REPORT_FILE).read_text())
    return Corpus(
        dataset="webdataset",
        images=[r["key"] for r in records],
        splits=split,
        captions=[[r["caption"]] for r in records],
        report={name: report[name] for name in ("shards", "samples", "good", "bad")},
    )
