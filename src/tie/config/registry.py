"""The valid names of `dataset`, `text` and `image`, and what each is, with no heavy import.

`tie.config.params` checks params.yaml against these tables and `tie list` prints them,
without importing an encoder (no TensorFlow, Keras or gensim). The modules that implement
the names (`tie.datasets.kinds.KINDS`, `tie.text.encoders.BUILDERS`,
`tie.image.encoders.BUILDERS`) build them by the same names; a test checks that both
agree. Adding an encoder or a dataset: an entry here, and its implementation there.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, as params.yaml's checks need it (its code: `tie.datasets.kinds`)."""

    splits: tuple[str, ...]  # the `split` values it can be read with (the first: its own)
    # Published protocol: images of the val and test splits, per split scheme. Absent
    # (demo, custom, webdataset): the counts come from params.yaml or from its files.
    eval_images: dict[str, dict[str, int]] = field(default_factory=dict)
    # The param that sets a split's number of images, `{split}` in its name (the demo's
    # `demo.n_{split}`); a split without such a param has none.
    split_size_param: str | None = None
    # Its images are members of tar shards (`tie.raw.webdataset`), not files of a folder.
    images_in_shards: bool = False


@dataclass(frozen=True)
class TextEncoderInfo:
    # "word_vectors": a caption is pooled word vectors (stages vocab + text_features).
    # "sentence": a text tower embeds the whole caption (text_features only; vocab writes
    # a placeholder, tie.text.sentence).
    kind: str
    sections: tuple[str, ...] = ()  # the params.yaml sections that configure it
    # Word vectors from a published table (GloVe, word2vec ...), whose whole vocabulary
    # `fisher.fit_on: pretrained_sample` samples (tie.text.encoders.VOCABULARY_SAMPLES).
    pretrained_table: bool = False


@dataclass(frozen=True)
class ImageEncoderInfo:
    # "descriptor" (weight-free) | "keras" (a keras.applications CNN) | "tower" (the
    # vision tower of an image-text model, tie.towers.models)
    kind: str
    sections: tuple[str, ...] = ()  # the params.yaml sections that configure it


_NUMBER_TYPES = {int: numbers.Integral, float: numbers.Real}
SPLIT_LISTS = ("official", "karpathy")  # `split`: whose train/val/test lists a dataset uses
SAME_PICTURE = ("one_split", "by_name")  # custom.same_picture (tie.corpus.custom)
# The allowed values of the other choices of params.yaml, each read by the schema and by
# the code that implements it.
ENGINES = ("local", "ray")  # compute.engine (tie.engine)
STOP_WORD_LISTS = ("english", "none")  # tokenizer.stop_words (tie.text.tokenize)
POOLINGS = ("mean", "fisher")  # caption_vectors.pooling (tie.text.captions)
WORD_SCALINGS = ("none", "inverse_squared_norm", "unit")  # caption_vectors.word_scaling
FISHER_STORES = ("codes", "dense")  # fisher.store (tie.text.features)
VGG_LAYERS = ("fc2", "fc1")  # backbone.vgg_layer (tie.image.keras_backbone)
CROPS = (1, 10)  # backbone.crops: the whole image, or corners + centre, flipped
TOWER_DTYPES = ("float32", "bfloat16")  # clip.dtype, siglip.dtype (tie.towers)
BACKBONE_DTYPES = ("float32", "bfloat16")  # backbone.dtype (tie.image.keras_backbone)
CCA_METHODS = ("cca", "none")  # cca.method (tie.joint.space)
# eval.scoring: how a query and a candidate are compared in the joint space
# (tie.evaluation.scoring); each rule's params, from section eval.hubness, chosen on val.
SCORING_PARAMS = {
    "cosine": (),
    "inverted_softmax": ("beta",),
    "qb_norm": ("beta", "activation_k"),
    "csls": ("neighbours_k",),
    "dual_bank": ("beta", "gallery_beta"),
}
SCORINGS = tuple(SCORING_PARAMS)


@dataclass(frozen=True)
class Interval:
    """The values a numeric param allows: its type, and its bounds (inclusive; None: open)."""

    kind: type  # int or float; a float param takes ints, never bools or non-finite values
    low: float | None = None
    high: float | None = None

    def admits(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES[self.kind]):
            return False  # numpy's numbers count (np.int64 is Integral, np.float32 Real)
        if not math.isfinite(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        """What is allowed, as the error messages say it ("a number >= 0")."""
        what = "an integer" if self.kind is int else "a number"
        if self.kind is int and self.low == 1 and self.high is None:
            return "a positive integer"
        bounds = [f">= {self.low:g}"] if self.low is not None else []
        bounds += [f"<= {self.high:g}"] if self.high is not None else []
        return " ".join([what, *bounds])  # finite, always


# The CCA's params (tie.joint.cca.CCA, section `cca`: each a value or a list of values to
# try on val), declared once: CCA.check_params and the schema both read these.
CCA_PARAM_CONSTRAINTS = {
    "n_components": Interval(int, low=1),  # and at most min(dx, dy), known at fit time
    "reg": Interval(float, low=0),
    "scale_power": Interval(float),
}
CCA_PARAMS = tuple(CCA_PARAM_CONSTRAINTS)
# The hubness-aware rules' params (section eval.hubness: each a value or a list tried on
# val): beta, the inverse temperature of a softmax over the query bank; gallery_beta, that
# of dual_bank's gallery bank; activation_k, qb_norm's top-k of each bank query;
# neighbours_k, the nearest bank queries csls averages.
HUBNESS_PARAMS = ("beta", "gallery_beta", "activation_k", "neighbours_k")
# Fisher-vector pooling (tie.text.fisher_vectors): section `fisher` of params.yaml.
FISHER_MIXTURES = ("gmm", "lmm", "hglmm", "gmm+hglmm")
FISHER_REDUCTIONS = ("none", "pca", "ica")
FISHER_FIT_ON = ("train_words", "train_tokens", "pretrained_sample")
# The splits of every corpus, in this order (a dataset's `split` scheme assigns images to them).
SPLITS = ("train", "val", "test")

_FLICKR8K_COUNTS = {"val": 1000, "test": 1000}
DATASETS: dict[str, DatasetInfo] = {
    "demo": DatasetInfo(("official",), split_size_param="demo.n_{split}"),
    # tar shards; "official": its held-out split by hashed key (webdataset.test_size ...)
    "webdataset": DatasetInfo(
        ("official",), split_size_param="webdataset.{split}_size", images_in_shards=True
    ),
    "flickr8k": DatasetInfo(
        ("official", "karpathy"), {"official": _FLICKR8K_COUNTS, "karpathy": _FLICKR8K_COUNTS}
    ),
    "flickr30k": DatasetInfo(("karpathy",), {"karpathy": {"val": 1014, "test": 1000}}),
    "coco": DatasetInfo(("karpathy",), {"karpathy": {"val": 5000, "test": 5000}}),
    # Your own images: the split of its captions file, or a seeded hash of each name; the
    # counts come from that file (section `custom`), read by the splits stage.
    "custom": DatasetInfo(("official",)),
}

# Image-text models with an image and a text tower (tie.towers.models), each configured by the
# params section of its name, shared by both towers.
TOWER_MODEL_NAMES = ("clip", "siglip")

_PRETRAINED = TextEncoderInfo("word_vectors", pretrained_table=True)
TEXT_ENCODERS: dict[str, TextEncoderInfo] = {
    "glove": _PRETRAINED,  # GloVe 6B 50-d, packaged
    "word2vec_local": TextEncoderInfo("word_vectors"),  # trained on the train captions
    **{
        name: _PRETRAINED
        for name in (  # downloaded (tie.text.pretrained)
            "word2vec",
            "fasttext",
            "numberbatch",
            "numberbatch1908",
            "glove300",
        )
    },
    **{name: TextEncoderInfo("sentence", (name,)) for name in TOWER_MODEL_NAMES},
}

# keras.applications models, lowercase (tie.image.keras_models holds how to build each)
KERAS_MODEL_NAMES = (
    *("vgg19", "inceptionresnetv2", "vgg16", "inceptionv3", "xception"),
    *("resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"),
    *("densenet121", "densenet169", "densenet201"),
    *("mobilenet", "mobilenetv2", "mobilenetv3small", "mobilenetv3large"),
    *("nasnetmobile", "nasnetlarge"),
    *(f"efficientnetb{i}" for i in range(8)),
    *(f"efficientnetv2b{i}" for i in range(4)),
    *("efficientnetv2s", "efficientnetv2m", "efficientnetv2l"),
    *(f"convnext{size}" for size in ("tiny", "small", "base", "large", "xlarge")),
)
IMAGE_ENCODERS: dict[str, ImageEncoderInfo] = {
    "colorgrid": ImageEncoderInfo("descriptor"),
    **{name: ImageEncoderInfo("keras", ("backbone",)) for name in KERAS_MODEL_NAMES},
    **{name: ImageEncoderInfo("tower", (name,)) for name in TOWER_MODEL_NAMES},
}


def choices() -> dict[str, tuple[str, ...]]:
    """The valid names of each top-level choice in params.yaml."""
    return {
        "dataset": tuple(DATASETS),
        "text": tuple(TEXT_ENCODERS),
        "image": tuple(IMAGE_ENCODERS),
    }
