"""Tiny, randomly initialised CLIP and SigLIP presets, saved the way KerasHub saves any.

Each is a real `CLIPBackbone` / `SigLIPBackbone` with its real tokenizer (a BPE vocabulary
of the demo's words for CLIP, a SentencePiece model trained on demo-like captions for
SigLIP), preprocessor and image converter, written by `save_to_preset`: the pipeline
loads it through the same `from_preset` a downloaded preset goes through. Small enough
(32-pixel images, one transformer layer, width 16) that building and running it is fast.
`make_clip` builds the same at other sizes (the benchmarks use ViT-B/32's).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SIZE = 32
SEQUENCE_LENGTH = 16
# The tiny towers' shape; `make_clip` takes others (benchmarks/towers.py: ViT-B/32's).
TINY = {
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "width": 16,
    "layers": 1,
    "heads": 2,
    "text_width": 16,
    "text_layers": 1,
    "text_heads": 2,
    "vocabulary_size": None,  # None: the tokenizer's own
    "sequence_length": SEQUENCE_LENGTH,
    "projection_dim": 12,
}
WORDS = (
    "a an the of on in with and at left right top bottom middle small large big tiny"
    " red green blue yellow orange purple white black circle square triangle star ring"
    " cross shape picture image scene there is are one two three near next to"
).split()


def _clip_vocabulary(words):
    """A byte-level BPE vocabulary and merges that spell every word in one token.

    As in CLIP's own, every byte is a token (alone and word-final), so any text can be
    tokenized: there are no unknown tokens.
    """
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    vocabulary, merges = {}, []
    for char in bytes_to_unicode()[1]:
        vocabulary.setdefault(char, len(vocabulary))
        vocabulary.setdefault(char + "</w>", len(vocabulary))
    for word in words:
        merged = word[0]
        for i, char in enumerate(word[1:], start=1):
            piece = char + "</w>" if i == len(word) - 1 else char
            merge = f"{merged} {piece}"
            if merge not in merges:
                merges.append(merge)
            merged += piece
            vocabulary.setdefault(merged, len(vocabulary))
    # As in CLIP's own vocabulary, the special tokens come last: the text pooler takes
    # the state at the largest token id, the end-of-text token.
    vocabulary["<|startoftext|>"] = len(vocabulary)
    vocabulary["<|endoftext|>"] = len(vocabulary)
    return vocabulary, merges


def make_tiny_clip(folder: Path, seed: int = 0) -> Path:
    return make_clip(folder, seed, **TINY)


def make_clip(
    folder: Path,
    seed: int,
    *,
    image_size: int,
    patch_size: int,
    width: int,
    layers: int,
    heads: int,
    text_width: int,
    text_layers: int,
    text_heads: int,
    vocabulary_size: int | None,
    sequence_length: int,
    projection_dim: int,
) -> Path:
    """A random CLIP of the given shape (MLP width 4x, as CLIP's) with the demo's BPE."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    vocabulary, merges = _clip_vocabulary(WORDS)
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    std = (0.26862954, 0.26130258, 0.27577711)  # CLIP's own normalisation
    mean = (0.48145466, 0.4578275, 0.40821073)
    converter = keras_hub.layers.CLIPImageConverter(
        image_size=(image_size, image_size),
        scale=[1 / 255 / s for s in std],
        offset=[-m / s for m, s in zip(mean, std, strict=True)],
        interpolation="bicubic",
    )
    preprocessor = keras_hub.models.CLIPPreprocessor(
        tokenizer=tokenizer, image_converter=converter, sequence_length=sequence_length
    )
    backbone = keras_hub.models.CLIPBackbone(
        vision_encoder=keras_hub.models.CLIPVisionEncoder(
            patch_size=patch_size,
            hidden_dim=width,
            num_layers=layers,
            num_heads=heads,
            intermediate_dim=4 * width,
            image_shape=(image_size, image_size, 3),
        ),
        text_encoder=keras_hub.models.CLIPTextEncoder(
            vocabulary_size=vocabulary_size or len(vocabulary),
            embedding_dim=text_width,
            hidden_dim=text_width,
            num_layers=text_layers,
            num_heads=text_heads,
            intermediate_dim=4 * text_width,
            max_sequence_length=sequence_length,
        ),
        projection_dim=projection_dim,
    )
    backbone.save_to_preset(folder)
    preprocessor.save_to_preset(folder)
    return Path(folder)


def make_tiny_siglip(folder: Path, seed: int = 0) -> Path:
    import keras
    import keras_hub
    import sentencepiece

    keras.utils.set_random_seed(seed)
    proto = io.BytesIO()
    sentences = [" ".join(WORDS[i::7]) for i in range(7)] + [" ".join(WORDS)]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=proto,
        vocab_size=96,
        model_type="bpe",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    tokenizer = keras_hub.models.SigLIPTokenizer(proto=proto.getvalue())
    converter = keras_hub.layers.SigLIPImageConverter(
        image_size=(IMAGE_SIZE, IMAGE_SIZE), scale=1 / 127.5, offset=-1.0
    )
    preprocessor = keras_hub.models.SigLIPPreprocessor(
        tokenizer=tokenizer, image_converter=converter, sequence_length=SEQUENCE_LENGTH
    )
    backbone = keras_hub.models.SigLIPBackbone(
        vision_encoder=keras_hub.models.SigLIPVisionEncoder(
            patch_size=8,
            hidden_dim=16,
            num_layers=1,
            num_heads=2,
            intermediate_dim=32,
            image_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        ),
        text_encoder=keras_hub.models.SigLIPTextEncoder(
            vocabulary_size=tokenizer.vocabulary_size(),
            embedding_dim=16,
            hidden_dim=16,
            num_layers=1,
            num_heads=2,
            intermediate_dim=32,
            max_sequence_length=SEQUENCE_LENGTH,
        ),
    )
    backbone.save_to_preset(folder)
    preprocessor.save_to_preset(folder)
    return Path(folder)


def direct_image_rows(preset_dir, paths):
    """The reference: each image alone through the preset's converter and vision tower."""
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(preset_dir))
    converter = keras_hub.layers.ImageConverter.from_preset(str(preset_dir))
    rows = []
    for path in paths:
        try:
            pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        except OSError:
            rows.append(None)
            continue
        embedding = backbone.get_vision_embeddings(converter(pixels[None]))
        rows.append(np.asarray(embedding)[0])
    return rows


def direct_text_rows(model, preset_dir, captions):
    """The reference: each caption alone through the preset's preprocessor and text tower."""
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(preset_dir))
    preprocessor_cls = {
        "clip": keras_hub.models.CLIPPreprocessor,
        "siglip": keras_hub.models.SigLIPPreprocessor,
    }[model]
    preprocessor = preprocessor_cls.from_preset(str(preset_dir))
    dummy = np.zeros((1, 8, 8, 3), dtype=np.float32)
    rows = []
    for caption in captions:
        token_ids = preprocessor({"prompts": [caption], "images": dummy})["token_ids"]
        rows.append(np.asarray(backbone.get_text_embeddings(token_ids))[0])
    return np.stack(rows)
