"""The schema of params.yaml: every param's type, range and allowed values, in one place.

Built on pydantic (v2) models, strict (no `"1"` for 1, no `true` for 1) and closed (an
unknown key is an error). Each field's `description` says what is allowed: it is the
error message's last part (`params.yaml: cca.reg = 'abc': must be a number >= 0 ...`).
Rules that involve several params (a `split` of that dataset, every K of `eval.ks` at
most the number of images scored) are in `Params.check_across_sections`.

Adding a section: one model class below, and one field of `Params` naming it.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WrapValidator,
    field_validator,
    model_validator,
)

from tie.config.registry import (
    BACKBONE_DTYPES,
    CCA_METHODS,
    CCA_PARAM_CONSTRAINTS,
    CROPS,
    DATASETS,
    ENGINES,
    FISHER_FIT_ON,
    FISHER_MIXTURES,
    FISHER_REDUCTIONS,
    FISHER_STORES,
    IMAGE_ENCODERS,
    POOLINGS,
    SAME_PICTURE,
    SCORING_PARAMS,
    SCORINGS,
    SPLIT_LISTS,
    SPLITS,
    STOP_WORD_LISTS,
    TEXT_ENCODERS,
    TOWER_DTYPES,
    TOWER_MODEL_NAMES,
    VGG_LAYERS,
    WORD_SCALINGS,
)
from tie.errors import shorten

# Upper limits on sizes, each with its reason: a value past them would exhaust memory or
# time before anything useful is computed, so it is refused at once, never attempted.
MAX_DEMO_IMAGES = 1_000_000  # generated here: ~5-7 ms of one CPU per image at 96 px (COCO: 123,287)
MAX_SEED = 2**32 - 1  # numpy and scikit-learn take 32-bit seeds
MAX_SAMPLES = 10_000_000  # held-out webdataset images: every one is ranked against all others
MAX_SHARDS = 1_000_000  # shard names a brace pattern may expand to (10^10 samples at 10^4 each)
MAX_BATCH = 4096  # images or captions per forward pass: more does not fit an accelerator
MAX_DIM = 10_000  # CCA components / reduced word dimension: a dim x dim matrix is fitted
MAX_MIXTURE = 1024  # Fisher mixture components: the vector has 2 x K x D entries per caption
MAX_GRID = 100  # values of one CCA grid param: every combination is fitted
MAX_PATH = 4096  # characters of a path or URL (Linux PATH_MAX)


def _as_written(value, check):
    """A float param checked as a float, kept as written: an integer stays an integer (an
    int is a float to Python's typing), so what a stage records is what params.yaml says."""
    checked = check(value)
    return value if type(value) is int else checked


# A float param: an int or a float, as written (`256` stays 256, `1e-3` is 0.001).
Number = Annotated[float, WrapValidator(_as_written)]
PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
SEED_TEXT = f"an integer from 0 to {MAX_SEED}"


def allowed(text: str, **constraints):
    """A field whose errors say it must be `text`."""
    return Field(description=text, **constraints)


def integer(low: int, high: int, note: str = ""):
    """An integer field from `low` to `high`; its errors say so, with `note` after."""
    text = f"an integer from {low} to {high}" + (f" ({note})" if note else "")
    return allowed(text, ge=low, le=high)


class ParamError(ValueError):
    """A rule across params broken: names the param, its value and what is wrong."""

    def __init__(self, name: str, value, problem: str):
        super().__init__(f"{name} = {shorten(value)}: {problem}")
        self.name, self.value, self.problem = name, value, problem


class Section(BaseModel):
    """A section of params.yaml, checked and read-only: what a stage is given."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Demo(Section):
    n_train: int = integer(2, MAX_DEMO_IMAGES, "images of the train split; generated here")
    n_val: int = integer(2, MAX_DEMO_IMAGES, "images of the val split; generated here")
    n_test: int = integer(2, MAX_DEMO_IMAGES, "images of the test split; ranking needs 2")
    image_size: int = integer(32, 1024, "pixels")
    seed: Seed = allowed(SEED_TEXT)


class Webdataset(Section):
    shards: str = allowed(
        "a shard path or URL with brace ranges, e.g. data/cc3m/{00000..00331}.tar",
        min_length=1,
        max_length=MAX_PATH,
    )
    caption_field: str = allowed(
        "the extension of each sample's caption member, e.g. txt",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
    )
    test_size: int = integer(2, MAX_SAMPLES, "held-out test images")
    val_size: int = integer(2, MAX_SAMPLES, "val images")
    seed: Seed = allowed(SEED_TEXT)

    @field_validator("shards")
    @classmethod
    def _few_enough_shards(cls, shards: str) -> str:
        n = shard_count(shards)
        if n > MAX_SHARDS:
            raise ParamError(
                "webdataset.shards",
                shards,
                f"its brace ranges name {n} shards, more than {MAX_SHARDS} (at 10,000 samples"
                " a shard, more than any collection); check the ranges",
            )
        return shards


class Compute(Section):
    """How the heavy stages compute, never what: no stage declares it to DVC."""

    engine: Literal[ENGINES] = allowed(" or ".join(ENGINES))
    address: str = allowed('"" (start Ray here), auto, or a ray:// URL', max_length=MAX_PATH)
    num_cpus: Number = allowed(
        "a number from 0 (excluded) to 1024 (CPUs per encoder actor)",
        gt=0,
        le=1024,
        allow_inf_nan=False,
    )
    num_gpus: Number = allowed(
        "a number from 0 to 64 (GPUs per encoder actor)", ge=0, le=64, allow_inf_nan=False
    )
    concurrency: int = integer(1, 1024, "encoder actors at once")


class Raw(Section):
    max_missing_fraction: Number = allowed("a number from 0 to 1 (e.g. 0.01)", ge=0, le=1)


PILLOW_HARD_LIMIT = 178_956_970  # pixels: twice Pillow's MAX_IMAGE_PIXELS (tie.image.decode)


class ImageDecode(Section):
    max_pixels: int = integer(1, PILLOW_HARD_LIMIT, "pixels; Pillow refuses more")


class Custom(Section):
    images: str = allowed("the path of a folder of images", min_length=1, max_length=MAX_PATH)
    captions: str = allowed(
        "the path of a .csv or .jsonl file (image, caption, optional split) or of a "
        "Karpathy-format .json",
        pattern=r"(?i)\.(csv|jsonl|json)$",
        max_length=MAX_PATH,
    )
    val_fraction: Number = allowed("a number from 0 to 1 (e.g. 0.1)", ge=0, le=1)
    test_fraction: Number = allowed("a number from 0 to 1 (e.g. 0.1)", ge=0, le=1)
    split_seed: Seed = allowed(SEED_TEXT)
    same_picture: Literal[SAME_PICTURE] = allowed(
        "one_split (byte-identical pictures share the split of the first by name) or by_name"
        " (each name split on its own)"
    )

    @model_validator(mode="after")
    def _leave_a_train_split(self) -> Custom:
        if self.val_fraction + self.test_fraction >= 1:
            raise ParamError(
                "custom.test_fraction",
                self.test_fraction,
                f"with custom.val_fraction = {self.val_fraction} it leaves no train images;"
                " the two must add up to less than 1",
            )
        return self


class Backbone(Section):
    weights: str = allowed(
        "imagenet, none, or the path of a weights file", min_length=1, max_length=MAX_PATH
    )
    vgg_layer: Literal[VGG_LAYERS] = allowed(f"one of: {', '.join(VGG_LAYERS)}")
    crops: Literal[CROPS] = allowed("1 (whole image) or 10 (corners + centre, flipped)")
    batch_size: int = integer(1, MAX_BATCH)
    input_size: int | None = allowed(
        "null (the model's own) or an integer from 32 to 2048 (pixels)", ge=32, le=2048
    )
    dtype: Literal[BACKBONE_DTYPES] = allowed(f"one of: {', '.join(BACKBONE_DTYPES)}")


class Tower(Section):
    """`clip` / `siglip`: the preset both towers of the model are loaded from."""

    preset: str = allowed(
        "a KerasHub preset name (e.g. clip_vit_base_patch32) or the path of a preset directory",
        min_length=1,
        max_length=MAX_PATH,
    )
    batch_size: int = integer(1, MAX_BATCH, "images or captions per forward pass")
    dtype: Literal[TOWER_DTYPES] = allowed(f"one of: {', '.join(TOWER_DTYPES)}")


class Tokenizer(Section):
    lowercase: bool = allowed("true or false")
    stop_words: Literal[STOP_WORD_LISTS] = allowed(f"one of: {', '.join(STOP_WORD_LISTS)}")
    keep_digits: bool = allowed("true or false")


class CaptionVectors(Section):
    pooling: Literal[POOLINGS] = allowed(f"one of: {', '.join(POOLINGS)}")
    idf: bool = allowed("true or false")
    sif: bool = allowed("true or false (not with idf: true)")
    word_scaling: Literal[WORD_SCALINGS] = allowed(f"one of: {', '.join(WORD_SCALINGS)}")
    common_components: int = integer(0, 10, "principal components removed, e.g. 0 or 1")

    @model_validator(mode="after")
    def _one_weighting(self) -> CaptionVectors:
        if self.idf and self.sif:
            raise ParamError(
                "caption_vectors.sif",
                True,
                "with caption_vectors.idf = true: a mean has one weighting, IDF or SIF;"
                " set one of the two to false",
            )
        return self


class Fisher(Section):
    mixture: Literal[FISHER_MIXTURES] = allowed(f"one of: {', '.join(FISHER_MIXTURES)}")
    n_components: int = integer(1, MAX_MIXTURE, "components per mixture, e.g. 30")
    reduce: Literal[FISHER_REDUCTIONS] = allowed(f"one of: {', '.join(FISHER_REDUCTIONS)}")
    reduced_dim: int = integer(1, MAX_DIM, "capped at the word-vector dimension, e.g. 300")
    fit_on: Literal[FISHER_FIT_ON] = allowed(f"one of: {', '.join(FISHER_FIT_ON)}")
    sample_size: int = allowed(
        f"an integer from 1 to {MAX_SAMPLES} (pretrained words sampled with fit_on"
        " pretrained_sample, e.g. 100000)",
        ge=1,
        le=MAX_SAMPLES,
    )
    max_iter: int = integer(1, 100_000, "EM iterations at most")
    seed: Seed = allowed(SEED_TEXT)
    normalize: bool = allowed("true or false")
    store: Literal[FISHER_STORES] = allowed(
        "one of: codes (each caption's words and the words' codes), dense (every row)"
    )


def _cca_param(name: str, **bounds):
    """The pydantic type of CCA param `name`, from its declared interval (and `bounds`)."""
    interval = CCA_PARAM_CONSTRAINTS[name]
    limits = {"ge": interval.low, "le": interval.high} | bounds
    limits = {key: value for key, value in limits.items() if value is not None}
    if interval.kind is int:
        return Annotated[int, Field(**limits)]
    return Annotated[Number, Field(allow_inf_nan=False, **limits)]


def _value_or_list(item):
    """A value, or a non-empty list of values (a grid the cca stage chooses from on val)."""
    return item | Annotated[list[item], Field(min_length=1, max_length=MAX_GRID)]


class Cca(Section):
    method: Literal[CCA_METHODS] = allowed(
        "one of: cca (fit on train), none (zero-shot: the model's own space)", default="cca"
    )
    # The CCA's own constraints (CCA_PARAM_CONSTRAINTS), with MAX_DIM as the upper bound
    # of n_components here: the features' dimension is checked when they are read.
    n_components: _value_or_list(_cca_param("n_components", le=MAX_DIM)) = allowed(
        f"an integer from 1 to {MAX_DIM}, or a non-empty list of them (e.g. 50 or [32, 64])"
    )
    reg: _value_or_list(_cca_param("reg")) = allowed(
        "a number >= 0 (e.g. 0.001), or a non-empty list of them"
    )
    scale_power: _value_or_list(_cca_param("scale_power")) = allowed(
        "a finite number (e.g. 1.0), or a non-empty list of them"
    )


class Bootstrap(Section):
    # 100,000 resamples put a 95% interval's ends within ~0.1% of their limit; more only cost
    n: int = integer(0, 100_000, "resamples; 0: no intervals")
    seed: Seed = allowed(SEED_TEXT)


MAX_BETA = 1000  # a softmax's inverse temperature: cosines x 1000 leave one candidate
MAX_NEIGHBOURS = 1000  # qb_norm / csls k: k values or indices are kept per bank row or candidate


class Hubness(Section):
    """The params of the hubness-aware rules (`eval.scoring`), each tried on val."""

    beta: _value_or_list(Annotated[Number, Field(gt=0, le=MAX_BETA, allow_inf_nan=False)]) = (
        allowed(f"a number > 0 and <= {MAX_BETA} (e.g. 20), or a non-empty list of them")
    )
    gallery_beta: _value_or_list(
        Annotated[Number, Field(gt=0, le=MAX_BETA, allow_inf_nan=False)]
    ) = allowed(f"a number > 0 and <= {MAX_BETA} (e.g. 3), or a non-empty list of them")
    activation_k: _value_or_list(Annotated[int, Field(ge=1, le=MAX_NEIGHBOURS)]) = allowed(
        f"an integer from 1 to {MAX_NEIGHBOURS} (e.g. 1), or a non-empty list of them"
    )
    neighbours_k: _value_or_list(Annotated[int, Field(ge=1, le=MAX_NEIGHBOURS)]) = allowed(
        f"an integer from 1 to {MAX_NEIGHBOURS} (e.g. 10), or a non-empty list of them"
    )


class Eval(Section):
    split: Literal[SPLITS] = allowed(f"one of: {', '.join(SPLITS)}")
    ks: Annotated[list[PositiveInt], Field(min_length=1, max_length=MAX_GRID)] = allowed(
        "a non-empty list of distinct integers >= 1 (e.g. [1, 5, 10])"
    )
    curve_max_k: int = integer(1, MAX_SAMPLES, "the curve stops at the number of images scored")
    memory_budget_mb: Number = allowed(
        "a number > 0 (megabytes), at most 1048576 (1 TB)", gt=0, le=2**20, allow_inf_nan=False
    )
    bootstrap: Bootstrap
    scoring: Literal[SCORINGS] = allowed(f"one of: {', '.join(SCORINGS)}", default="cosine")
    # Required by a scoring other than cosine (check_scoring); absent from older files. The
    # default is never validated, so a given section's errors name its own fields.
    hubness: Hubness = None

    @field_validator("ks")
    @classmethod
    def _distinct(cls, ks: list[int]) -> list[int]:
        if len(set(ks)) != len(ks):
            raise ValueError("repeated K")
        return ks


class Params(Section):
    """The whole params.yaml."""

    dataset: Literal[tuple(DATASETS)] = allowed(f"one of: {', '.join(DATASETS)}")
    split: Literal[SPLIT_LISTS] = allowed(f"one of: {', '.join(SPLIT_LISTS)}")
    text: Literal[tuple(TEXT_ENCODERS)] = allowed(f"one of: {', '.join(TEXT_ENCODERS)}")
    image: Literal[tuple(IMAGE_ENCODERS)] = allowed(
        f"one of: {', '.join(IMAGE_ENCODERS)} (`tie list`)"
    )
    demo: Demo
    custom: Custom
    webdataset: Webdataset
    raw: Raw
    image_decode: ImageDecode
    backbone: Backbone
    clip: Tower
    siglip: Tower
    tokenizer: Tokenizer
    caption_vectors: CaptionVectors
    fisher: Fisher
    cca: Cca
    eval: Eval
    compute: Compute

    @model_validator(mode="after")
    def check_across_sections(self) -> Params:
        splits = DATASETS[self.dataset].splits
        if self.split not in splits:
            raise ParamError(
                "split",
                self.split,
                f"dataset {self.dataset} has the split(s): {', '.join(splits)}"
                f" (e.g. `dvc exp run -S split={splits[0]}`)",
            )
        if self.cca.method == "none" and not (
            self.image == self.text and self.image in TOWER_MODEL_NAMES
        ):
            raise ParamError(
                "cca.method",
                "none",
                f"the zero-shot row compares the image and text embeddings of one model, but"
                f" image {self.image} and text {self.text} are not one model's towers (use"
                " image and text clip, or siglip; or cca.method cca)",
            )
        if self.caption_vectors.pooling == "fisher":
            check_fisher_text(self)
        check_scoring(self)
        n_images, source = eval_images(self)
        if n_images is not None:
            check_eval_ks(self, n_images, source, eval_images_fixes(self, n_images))
        return self


_BRACES = re.compile(r"\{([^{}]*)\}")


def shard_count(pattern: str) -> int:
    """How many names brace pattern `pattern` expands to, counted without expanding it.

    `{a,b}` is 2 names, `{000..199}` 200 (an empty range counts 0); the counts of the
    braces multiply. `tie.datasets.webdataset.expand_braces` expands the same grammar.
    """
    count = 1
    for body in _BRACES.findall(pattern):
        numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
        if numeric:
            first, last = (int(bound) for bound in numeric.groups())
            count *= max(last - first + 1, 0)
        else:
            count *= len(body.split(","))
    return count


def check_fisher_text(params: Params) -> None:
    """A pretrained sample needs a published table. (Fisher vectors pool word vectors: with
    a sentence encoder, which embeds whole captions, pooling does not apply.)"""
    text = TEXT_ENCODERS[params.text]
    if text.kind == "sentence":  # no word vectors to pool: said by `advice`, not refused
        return
    if params.fisher.fit_on == "pretrained_sample" and not text.pretrained_table:
        raise ParamError(
            "fisher.fit_on",
            "pretrained_sample",
            f"text {params.text} has no pretrained vocabulary to sample (its word vectors"
            " are trained on the train captions); use fisher.fit_on train_words or"
            " train_tokens, or a pretrained text such as glove or word2vec",
        )


def check_scoring(params: Params) -> None:
    """A hubness-aware rule needs its params, and banks from a split other than the one scored."""
    scoring = params.eval.scoring
    if scoring == "cosine":
        return
    if params.eval.split == "train":
        raise ParamError(
            "eval.scoring",
            scoring,
            "its banks come from the train split, which eval.split = train scores: use"
            " eval.split test (or val), or eval.scoring cosine",
        )
    if params.eval.hubness is None:
        names = ", ".join(f"eval.hubness.{name}" for name in SCORING_PARAMS[scoring])
        raise ParamError(
            "eval.scoring", scoring, f"needs section eval.hubness (its params: {names})"
        )


def check_eval_ks(params: Params, n_images: int, source: str, fixes: list[str]) -> None:
    """Every K of `eval.ks` at most `n_images`, the images of `eval.split` (as `source`
    says); else a ParamError naming `fixes`, the settings that would do."""
    if max(params.eval.ks) > n_images:
        raise ParamError(
            "eval.ks",
            params.eval.ks,
            f"every K must be at most {n_images}, the number of {params.eval.split}"
            f" images ({source}); {' or '.join(fixes)}",
        )


def _split_size_param(params: Params) -> str | None:
    """The param that sets the number of `eval.split` images (`demo.n_test`), if any."""
    template = DATASETS[params.dataset].split_size_param
    if template is None:
        return None
    name = template.format(split=params.eval.split)
    section, key = name.split(".")
    return name if key in type(getattr(params, section)).model_fields else None


def eval_images(params: Params) -> tuple[int | None, str]:
    """How many images `eval.split` holds, and where that number comes from.

    The demo, a webdataset: their params (`demo.n_test`, `webdataset.test_size`). A real
    dataset: its published protocol (e.g. 1000 test images for Flickr8k, 5000 for COCO
    with Karpathy's split); None where no count is published (the train split). A custom
    dataset: None here, its files tell (`tie.datasets.kinds`, when the splits stage reads
    them).
    """
    name = _split_size_param(params)
    if name is not None:
        section, key = name.split(".")
        return getattr(getattr(params, section), key), name
    counts = DATASETS[params.dataset].eval_images.get(params.split, {})
    return counts.get(params.eval.split), f"{params.dataset}, {params.split} split"


def eval_images_fixes(params: Params, n_images: int) -> list[str]:
    """Settings that would fit `eval.ks` to the images scored, with the numbers: the Ks
    that fit, and what gives max(eval.ks) images (where a param of this project does)."""
    fixes = []
    fitting = [k for k in params.eval.ks if k <= n_images] or [n_images]
    if n_images >= 1:
        fixes.append(f"lower eval.ks to {fitting}")
    name = _split_size_param(params)
    if name is not None:
        fixes.append(f"raise {name} to {max(params.eval.ks)}")
    return fixes


def advice(params: Params) -> list[str]:
    """Valid settings that have no effect with these choices: said, not refused."""
    notes = []
    if "backbone" not in IMAGE_ENCODERS[params.image].sections and params.backbone.crops != 1:
        notes.append(
            f"backbone.crops = {params.backbone.crops} has no effect with image"
            f" {params.image} (only Keras backbones read section `backbone`)"
        )
    vectors = params.caption_vectors
    weighs_the_mean = (
        vectors.idf or vectors.sif or vectors.word_scaling != "none" or vectors.common_components
    )
    if TEXT_ENCODERS[params.text].kind == "sentence" and (
        weighs_the_mean or vectors.pooling == "fisher"
    ):
        notes.append(
            f"caption_vectors has no effect with text {params.text} (a sentence encoder"
            " embeds whole captions: no word vectors to pool)"
        )
    elif vectors.pooling == "fisher" and weighs_the_mean:
        notes.append(
            "caption_vectors.idf, sif, word_scaling and common_components have no effect"
            " with caption_vectors.pooling = fisher (they shape the mean)"
        )
    return notes
