"""Every kind of dataset as an object: one protocol, one implementation per kind, by name.

A kind writes its raw folder (`prepare`, the `data` stage) and says what it wrote
(`prepared_lines`), reads that folder into a `Corpus` split the params' way (`read`, the
`splits` stage) after checking what only its files can tell (`check_files`), lists what an
image encoder reads for each image (`image_sources`), and names its split scheme for the
provenance of a result (`split_text`). `KINDS` holds one of each, by the names of
`tie.config.registry.DATASETS` (a test checks that both agree); nothing else asks which
kind a dataset is.

- `demo`: generated (`tie.datasets.demo`) in the Flickr8k file layout;
- `flickr8k`, `flickr30k`, `coco`: fetched and checked (`tie.datasets.real`), read by their
  official lists (Flickr8k's) or Karpathy's split file;
- `custom`: your folder of images and captions file, copied and checked
  (`tie.datasets.custom`);
- `webdataset`: tar shards, indexed, never extracted (`tie.datasets.webdataset`).

`params` is what a stage gets from `tie.config.params.load_params`: each kind reads only
the sections it needs (`demo`, `custom`, `webdataset`, `raw`, `split`).

The stages that only read images (`image_features`, `evaluate`'s gallery) and `tie search`
call `tie.raw.layout.image_sources` themselves, which `image_sources` here delegates to: it
reads a fact of `registry.DATASETS` (`images_in_shards`), so that those stages depend on
the raw folder's layout only, not on every kind's preparing and reading code (a change to
how the demo is generated must not re-run a VGG19 extraction of COCO).
"""

from __future__ import annotations

from pathlib import Path

from tie.config.params import PARAMS_FILE
from tie.config.schema import ParamError, check_eval_ks
from tie.corpus.corpus import Corpus
from tie.corpus.custom import read_custom
from tie.corpus.flickr8k import SAME_CONTENT, format_report, read_flickr8k_layout
from tie.corpus.karpathy import read_karpathy_json
from tie.corpus.read import content_digests, same_content
from tie.corpus.webdataset import read_webdataset
from tie.datasets.custom import copy_custom
from tie.datasets.demo import default_workers, generate_demo
from tie.datasets.real import prepare_real_dataset
from tie.datasets.sources import sources_for
from tie.datasets.webdataset import prepare_webdataset
from tie.errors import TieError
from tie.raw.captions_file import fraction_for, split_counts
from tie.raw.layout import KARPATHY_FILE, demo_layout, flickr8k_official_layout, image_dir
from tie.raw.layout import image_sources as layout_image_sources


class DatasetKind:
    """The protocol, with what most kinds share: images in the raw folder's `images/`."""

    name: str

    def prepare(self, raw_dir: Path, params, downloads_dir: Path) -> dict | None:
        """Write the raw folder; the report of what was extracted or copied (None: none)."""
        raise NotImplementedError

    def prepared_lines(self, report: dict, raw_dir: Path) -> list[str]:
        """What the data stage says about `prepare`'s report."""
        return [
            f"{report['images_extracted']} of {report['expected_images']} images extracted and"
            f" readable; {report['missing_or_unreadable']} missing or unreadable"
        ]

    def check_files(self, params, source: str = PARAMS_FILE) -> None:
        """What only the dataset's files can tell about params.yaml (`source`), e.g. how
        many images a split of your captions file holds; a one-line TieError."""

    def read(self, raw_dir: Path, params) -> Corpus:
        """The corpus of the raw folder, split the `params.split` way."""
        raise NotImplementedError

    def read_lines(self, corpus: Corpus) -> list[str]:
        """What the splits stage says about the reader's report (problems counted)."""
        return [format_report(corpus.report)]

    def image_sources(self, raw_dir: Path, ids: list[str]) -> list:
        """What an image encoder reads for each image id: a file, or a tar member."""
        return layout_image_sources(self.name, raw_dir, ids)

    def split_text(self, split: str | None, split_seed: int | None) -> str:
        """How its images were split, for a result's provenance: ` (official split)`."""
        return f" ({split} split)" if split else ""


class Demo(DatasetKind):
    name = "demo"

    def prepare(self, raw_dir, params, downloads_dir):
        # one process per CPU this process may use (the same files as one)
        generate_demo(Path(raw_dir), **params.demo.model_dump(), workers=default_workers())
        return None

    def read(self, raw_dir, params):
        corpus = read_flickr8k_layout(demo_layout(raw_dir), dataset=self.name)
        corpus.report[SAME_CONTENT] = same_content(corpus, raw_dir)
        return corpus


class Published(DatasetKind):
    """A real dataset: fetched, extracted and checked; read by its official split lists
    (Flickr8k's, in the layout the demo copies) or by Karpathy's split file."""

    def __init__(self, name: str):
        self.name = name

    def prepare(self, raw_dir, params, downloads_dir):
        return prepare_real_dataset(
            self.name,
            sources_for(self.name),
            raw_dir,
            downloads_dir,
            params.raw.max_missing_fraction,
            splits=(params.split,),
        )

    def read(self, raw_dir, params):
        return read_published(self.name, raw_dir, params.split)


def read_published(name: str, raw_dir: Path, split: str) -> Corpus:
    """The corpus of real dataset `name` in `raw_dir`, by `split` (official | karpathy)."""
    raw_dir = Path(raw_dir)
    if split == "karpathy":
        corpus = read_karpathy_json(raw_dir / KARPATHY_FILE, image_dir(raw_dir), name)
    else:
        corpus = read_flickr8k_layout(flickr8k_official_layout(raw_dir), dataset=name)
    corpus.report[SAME_CONTENT] = same_content(corpus, raw_dir)
    return corpus


class Custom(DatasetKind):
    name = "custom"

    def prepare(self, raw_dir, params, downloads_dir):
        return copy_custom(params.custom.images, params.custom.captions, raw_dir)

    def prepared_lines(self, report, raw_dir):
        lines = [
            f"{report['images_copied']} of the {report['images_named']} images named by "
            f"custom.captions copied; {len(report['missing'])} missing, "
            f"{len(report['unreadable'])} unreadable (see {raw_dir}/extraction_report.json)"
        ]
        near_misses = [name for name in report["missing"] if "(no such file;" in name]
        return lines + [f"  missing: {near_miss}" for near_miss in near_misses[:5]]

    def check_files(self, params, source: str = PARAMS_FILE) -> None:
        """Your captions file names captioned images, and `eval.split` holds at least
        max(eval.ks) of them (counted as the splits stage will split them)."""
        custom, split = params.custom, params.eval.split
        settings = custom.model_dump()
        counts = split_counts(**settings)
        if counts is None:  # the files are not there (yet): the data stage says so
            return
        try:
            if not any(counts.values()):
                raise ParamError(
                    "custom.captions",
                    custom.captions,
                    f"no captioned images found: no row names a file of custom.images"
                    f" {custom.images} with a caption",
                )
            check_eval_ks(
                params,
                counts[split],
                f"custom.captions {custom.captions}",
                self._fixes(params, counts[split], settings),
            )
        except ParamError as error:
            raise TieError(f"{source}: {error}") from None

    @staticmethod
    def _fixes(params, n_images: int, settings: dict) -> list[str]:
        split, needed = params.eval.split, max(params.eval.ks)
        fitting = [k for k in params.eval.ks if k <= n_images] or [n_images]
        fixes = [f"lower eval.ks to {fitting}"] if n_images >= 1 else []
        if split == "train":
            return fixes
        found = fraction_for(split, needed, **settings)
        if found:
            fixes.append(f"raise custom.{split}_fraction to {found[0]} ({found[1]} {split} images)")
        else:
            fixes.append(
                f"give at least {needed} images the {split} split (more images, or the split"
                " column of custom.captions)"
            )
        return fixes

    def read(self, raw_dir, params):
        custom = params.custom
        corpus = read_custom(
            Path(raw_dir),
            val_fraction=custom.val_fraction,
            test_fraction=custom.test_fraction,
            split_seed=custom.split_seed,
            same_picture=custom.same_picture,
            digests=content_digests(raw_dir),
        )
        corpus.report[SAME_CONTENT] = same_content(corpus, raw_dir)
        return corpus

    def split_text(self, split, split_seed):
        """No published split: the file's own, else hashed."""
        return (
            " (split: the captions file's split column, else hashed by image name with"
            f" custom.split_seed={split_seed})"
        )


class Webdataset(DatasetKind):
    name = "webdataset"

    def prepare(self, raw_dir, params, downloads_dir):
        return prepare_webdataset(raw_dir, params.webdataset)

    def prepared_lines(self, report, raw_dir):
        bad = ", ".join(f"{n} {reason}" for reason, n in report["bad"].items() if n)
        return [
            f"{report['good']} of {report['samples']} samples good; bad: {bad or 'none'}",
            f"(every bad sample is named in {raw_dir}/report.json)",
        ]

    def read(self, raw_dir, params):
        return read_webdataset(Path(raw_dir), params.webdataset)

    def read_lines(self, corpus):
        return []  # its bad samples: in the data stage's report


KINDS: dict[str, DatasetKind] = {
    "demo": Demo(),
    "webdataset": Webdataset(),
    **{name: Published(name) for name in ("flickr8k", "flickr30k", "coco")},
    "custom": Custom(),
}


def dataset_kind(name: str) -> DatasetKind:
    """The kind of dataset `name` (a name params.yaml's schema accepted)."""
    return KINDS[name]
