"""Reader for datasets in the Flickr8k file layout: an image folder, a token file, split lists.

The token file has one caption a line, `<image file name>#<k>\\t<caption>`, k = 0..4. The
split files list one image file name a line. The real Flickr8k files have quirks (CRLF line
ends, trailing blanks after captions, a line for `2258277193_586949ec62.jpg.1`, which is no
image, images with fewer than 5 captions), so every line is checked on its own and captions
are keyed by image name: a bad line is dropped and reported, it never shifts captions onto
another image. Names are compared exactly as written (`tie.raw.names`): only the line end
("\\r\\n") is removed, never a space that is part of a name. Only a name that is no file
while the same name without its surrounding blanks is one (the published lists' trailing
blanks) is read as that file.
"""

from __future__ import annotations

from pathlib import Path

from tie.config.registry import SPLITS
from tie.corpus.corpus import Corpus
from tie.raw.layout import CAPTIONS_PER_IMAGE, Flickr8kLayout
from tie.raw.names import MissingNames, name_problem
from tie.recorded import check_recorded

MAX_REPORT_EXAMPLES = 20

# The report's problem entries, in the order `format_report` prints them.
REPORT_PROBLEMS = {
    "dropped_lines_malformed": "caption lines dropped as malformed",
    "dropped_lines_missing_image": "caption lines dropped because their image file is missing or"
    " unreadable",
    "dropped_lines_duplicate": "caption lines dropped as repeats of an earlier (image, k)",
    "dropped_lines_empty_caption": "caption lines dropped because the caption is empty",
    "dropped_split_repeats": "split entries dropped as repeats within one split file",
    "dropped_images_missing_file": "split images dropped because their file does not exist",
    "dropped_images_no_captions": "split images dropped because they have no captions",
    "images_few_captions": f"split images kept with fewer than {CAPTIONS_PER_IMAGE} captions",
    "images_not_in_splits": "captioned images not listed in any split (not used)",
    "dropped_captions_beyond_five": f"captions dropped beyond the first {CAPTIONS_PER_IMAGE}",
}


class Problems:
    """Counts of dropped or short items, with the first few names of each kind."""

    def __init__(self):
        self.counts = {key: 0 for key in [*REPORT_PROBLEMS, *REPORT_EXTRA]}
        self.examples = {key: [] for key in [*REPORT_PROBLEMS, *REPORT_EXTRA]}

    def add(self, key: str, example: str) -> None:
        self.counts[key] += 1
        if len(self.examples[key]) < MAX_REPORT_EXAMPLES and example not in self.examples[key]:
            self.examples[key].append(example)

    def as_dict(self) -> dict:
        return {
            key: {"count": self.counts[key], "examples": self.examples[key]}
            for key in REPORT_PROBLEMS
        }


# Added by `tie.datasets.kinds` (`tie.corpus.read.same_content`), which has the raw folder's
# manifest.
SAME_CONTENT = "images_same_content"
REPORT_EXTRA = {
    SAME_CONTENT: "kept images whose bytes repeat an earlier image's (one picture, two names)"
}


def read_flickr8k_layout(layout: Flickr8kLayout, dataset: str) -> Corpus:
    """Read images, splits and captions into a `Corpus`, dropping and reporting bad entries.

    Images come in split order (train, then val, then test), each split in its file's
    order; each image's captions come in order of k. An image listed in a split but
    without a file or without captions is dropped; one with fewer than 5 captions is
    kept. Everything dropped or short is counted in `Corpus.report` (see `format_report`).
    """
    _require_file(layout.token_file, dataset, "token file")
    for split in SPLITS:
        _require_file(layout.split_files[split], dataset, f"{split} split list")
    if not layout.image_dir.is_dir():
        raise FileNotFoundError(
            f"image folder {layout.image_dir} of dataset {dataset!r} does not exist: "
            "fetch or generate the raw data again"
        )

    problems = Problems()
    missing = MissingNames(layout.image_dir)
    image_files = {path.name for path in layout.image_dir.iterdir() if path.is_file()}
    split_of_image = _read_splits(layout, image_files, problems)
    captions_by_image, caption_lines = _read_token_file(
        layout.token_file, missing, image_files, problems
    )

    images, splits, captions = [], [], []
    for image, split in split_of_image.items():
        if image not in image_files:
            problems.add("dropped_images_missing_file", missing(image))
            continue
        captions_by_k = captions_by_image.get(image)
        if not captions_by_k:
            problems.add("dropped_images_no_captions", image)
            continue
        if len(captions_by_k) < CAPTIONS_PER_IMAGE:
            problems.add("images_few_captions", image)
        images.append(image)
        splits.append(split)
        captions.append([captions_by_k[k] for k in sorted(captions_by_k)])
    for image in captions_by_image:
        if image not in split_of_image:
            problems.add("images_not_in_splits", image)

    report = {
        "caption_lines": caption_lines,
        "images_kept": len(images),
        "captions_kept": sum(len(caps) for caps in captions),
        **problems.as_dict(),
    }
    return Corpus(dataset=dataset, images=images, splits=splits, captions=captions, report=report)


def format_report(report: dict) -> str:
    """A short human-readable summary of a reader report, a few lines long."""
    lines = [
        f"read {report['caption_lines']} caption lines; kept {report['captions_kept']} "
        f"captions of {report['images_kept']} images"
    ]
    for key, description in {**REPORT_PROBLEMS, **REPORT_EXTRA}.items():
        count = report.get(key, {"count": 0})["count"]
        if count == 0:
            continue
        examples = report[key]["examples"][:5]
        more = ", ..." if count > len(examples) else ""
        lines.append(f"  {count} {counted(count, description)}: {', '.join(examples)}{more}")
    if len(lines) == 1:
        lines.append("  nothing dropped, every image has all its captions")
    return "\n".join(lines)


_SINGULAR = {"lines": "line", "entries": "entry", "images": "image", "captions": "caption"}


def counted(count: int, description: str) -> str:
    """A REPORT_PROBLEMS description for `count` items: `1 caption line dropped ...`."""
    if count != 1:
        return description
    words = description.split(" ")
    first = next(i for i, word in enumerate(words) if word in _SINGULAR)
    words[first] = _SINGULAR[words[first]]
    text = " ".join(words)
    for plural, singular in (
        (" their ", " its "),
        (" they have ", " it has "),
        (" as repeats ", " as a repeat "),
    ):
        text = text.replace(plural, singular)
    return text


def _require_file(path: Path, dataset: str, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} {path} of dataset {dataset!r} does not exist: "
            "fetch or generate the raw data again"
        )


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines, without their line ends ("\\r\\n"); other
    blanks are kept (a name is exact; a caption's blanks are stripped by its parser).

    Splits on "\\n" only, so that a stray "\\r" or another rare separator inside a caption
    does not cut it in two (universal newlines and `str.splitlines` would).
    """
    check_recorded(path)
    text = path.read_bytes().decode("utf-8-sig")  # a byte order mark is not part of a name
    numbered = ((number, line.rstrip("\r")) for number, line in enumerate(text.split("\n"), 1))
    return [(number, line) for number, line in numbered if line.strip()]


def _file_name(written: str, image_files: set[str]) -> str:
    """`written`, or the file it names with its surrounding blanks, where only that is a file."""
    if written in image_files or written.strip() not in image_files:
        return written
    return written.strip()


def _read_splits(
    layout: Flickr8kLayout, image_files: set[str], problems: Problems
) -> dict[str, str]:
    """Image name -> split, in split order then file order."""
    split_of_image: dict[str, str] = {}
    for split in SPLITS:
        for _number, written in _lines(layout.split_files[split]):
            image = _file_name(written, image_files)
            earlier = split_of_image.get(image)
            if earlier == split:
                problems.add("dropped_split_repeats", image)
            elif earlier is not None:
                raise ValueError(
                    f"image {image} is listed in two splits: in {layout.split_files[earlier]} "
                    f"({earlier}) and in {layout.split_files[split]} ({split}); "
                    "each image must be in one split only"
                )
            else:
                split_of_image[image] = split
    return split_of_image


def _read_token_file(
    path: Path, missing: MissingNames, image_files: set[str], problems: Problems
) -> tuple[dict[str, dict[int, str]], int]:
    """Image name -> {k: caption} from the token file, and its number of non-blank lines."""
    captions_by_image: dict[str, dict[int, str]] = {}
    lines = _lines(path)
    for number, line in lines:
        parsed = _parse_caption_line(line)
        if parsed is None:
            problems.add("dropped_lines_malformed", f"line {number}: {line[:80]!r}")
            continue
        image, k, caption = parsed
        image = _file_name(image, image_files)
        if name_problem(image):
            problems.add("dropped_lines_malformed", f"line {number}: {line[:80]!r}")
            continue
        if image not in image_files:
            problems.add("dropped_lines_missing_image", missing(image))
            continue
        captions_by_k = captions_by_image.setdefault(image, {})
        if k in captions_by_k:
            problems.add("dropped_lines_duplicate", f"{image}#{k}")
            continue
        captions_by_k[k] = caption
    return captions_by_image, len(lines)


def _parse_caption_line(line: str) -> tuple[str, int, str] | None:
    """(image, k, caption) of a `<image>#<k>\\t<caption>` line, or None if it is malformed."""
    key, tab, caption = line.partition("\t")
    image, hash_sign, k = key.rpartition("#")
    caption = caption.strip()
    if not (tab and hash_sign and image and caption and k.isascii() and k.isdigit()):
        return None
    return image, int(k), caption
