"""Reader for Karpathy's split files: dataset_flickr8k.json, _flickr30k.json, _coco.json.

Layout: `{"images": [{"filename", "split", "sentences": [{"raw", "tokens", ...}, ...], ...}]}`
(COCO adds `filepath` and `cocoid`). Splits are "train", "val", "test" and, for COCO,
"restval": the rest of COCO's val2014 images, which every paper since 2015 trains on, so it
is read as "train" (113,287 train / 5,000 val / 5,000 test images).

Captions are the `raw` sentences: the pipeline's tokenizer makes the words. Some COCO images
have six or seven captions; the first five are kept so that every image has five, as in the
published 1K and 5K protocols, and the others are counted in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from tie.config.registry import SPLITS
from tie.corpus.corpus import Corpus
from tie.corpus.flickr8k import Problems
from tie.errors import TieError
from tie.raw.captions_file import SPLIT_OF_LABEL
from tie.raw.layout import CAPTIONS_PER_IMAGE
from tie.raw.names import name_problem
from tie.recorded import check_recorded


def read_karpathy_json(json_file: Path, image_dir: Path, dataset: str) -> Corpus:
    """Read a Karpathy split file into a `Corpus`, images in split order then file order.

    An image without a file in `image_dir` or without captions is dropped and reported.
    """
    json_file, image_dir = Path(json_file), Path(image_dir)
    if not json_file.is_file():
        raise FileNotFoundError(
            f"Karpathy split file {json_file} of dataset {dataset!r} does not exist: "
            "fetch the raw data again"
        )
    check_recorded(json_file)
    try:
        entries = json.loads(json_file.read_text(encoding="utf-8"))["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{json_file} is not a Karpathy split file (expected {{'images': [...]}}): {error}"
        ) from error
    image_files = {path.name for path in image_dir.iterdir() if path.is_file()}

    problems = Problems()
    by_split: dict[str, list[tuple[str, list[str]]]] = {split: [] for split in SPLITS}
    seen: set[str] = set()
    n_sentences = 0
    if not isinstance(entries, list):
        raise TieError(f"{json_file}: `images` is not a list: fetch the raw data again")
    for number, entry in enumerate(entries):
        _check_entry(json_file, number, entry)
        image = entry["filename"]
        split = SPLIT_OF_LABEL.get(entry["split"])
        if split is None:
            raise ValueError(
                f"image {image} in {json_file} has split {entry['split']!r}; "
                f"expected one of {list(SPLIT_OF_LABEL)}"
            )
        sentences = [s["raw"].strip() for s in entry["sentences"] if s["raw"].strip()]
        n_sentences += len(entry["sentences"])
        if image in seen:
            problems.add("dropped_split_repeats", image)
            continue
        seen.add(image)
        if name_problem(image) or image not in image_files:
            problems.add("dropped_images_missing_file", str(image)[:80])
            continue
        if not sentences:
            problems.add("dropped_images_no_captions", image)
            continue
        if len(sentences) < CAPTIONS_PER_IMAGE:
            problems.add("images_few_captions", image)
        for _extra in sentences[CAPTIONS_PER_IMAGE:]:
            problems.add("dropped_captions_beyond_five", image)
        by_split[split].append((image, sentences[:CAPTIONS_PER_IMAGE]))

    records = [(image, split, caps) for split in SPLITS for image, caps in by_split[split]]
    report = {
        "caption_lines": n_sentences,
        "images_kept": len(records),
        "captions_kept": sum(len(caps) for _, _, caps in records),
        **problems.as_dict(),
    }
    return Corpus(
        dataset=dataset,
        images=[image for image, _, _ in records],
        splits=[split for _, split, _ in records],
        captions=[caps for _, _, caps in records],
        report=report,
    )


def _check_entry(json_file: Path, number: int, entry) -> None:
    """Refuse an entry of the wrong shape, naming the file, the entry and the field."""
    where = f"{json_file}, images[{number}]"
    problem = None
    if not isinstance(entry, dict):
        problem = f"{where} is not an object"
    elif not isinstance(entry.get("filename"), str) or not isinstance(entry.get("split"), str):
        problem = f"{where}: filename and split must be strings"
    elif not isinstance(entry.get("sentences"), list):
        problem = f"{where}.sentences must be a list"
    else:
        for k, sentence in enumerate(entry["sentences"]):
            if not (isinstance(sentence, dict) and isinstance(sentence.get("raw"), str)):
                problem = f"{where}.sentences[{k}] must be an object whose raw is a string"
                break
    if problem:
        raise TieError(f"{problem}: not a Karpathy split file; fetch the raw data again")
