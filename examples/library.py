"""The library on a finished run: load its outputs, score the test split, search by words.

Run it in a project after `make demo` (or `dvc repro`, or `dvc pull` of a shared run):

    python examples/library.py "red circle"

It reads the run that `params.yaml` names (dataset, image and text encoders, pooling,
`cca.method`), the files the pipeline wrote: the splits (corpus), the feature files, the
word vectors (and the Fisher-vector mixture) and the joint model (a CCA, or the towers'
own space with `cca.method: none`).
"""

import sys

import numpy as np

from tie.config.params import load_params
from tie.config.paths import (
    IMAGE_FEATURES,
    MIXTURE_DIR,
    MODEL_DIR,
    SPLITS_FILE,
    TEXT_FEATURES,
    VOCAB,
    output_path,
    path_choices,
)
from tie.corpus.corpus import Corpus
from tie.evaluation.embeddings import load_split_embeddings
from tie.joint.space import load_joint_model
from tie.retrieval import score
from tie.text.features import caption_encoder

query = sys.argv[1] if len(sys.argv) > 1 else "red circle"
params = load_params()  # params.yaml, checked and typed (tie.config.params)
dataset = params.dataset
choice = path_choices(params)  # where the pipeline wrote this run's files (tie.config.paths)

# The run's outputs: every caption and image of the dataset, and the joint model.
corpus = Corpus.load(output_path(SPLITS_FILE, **choice))
model = load_joint_model(output_path(MODEL_DIR, **choice))

# The test split in the joint space, scored both ways: what `metrics/retrieval.json` holds.
test = load_split_embeddings(
    corpus,
    "test",
    output_path(IMAGE_FEATURES, **choice),
    output_path(TEXT_FEATURES, **choice),
    model,
)
metrics = score(test.images, test.captions, test.view.caption_image_index)
print(f"{dataset} test split, {len(test.images)} images / {len(test.captions)} captions:")
for direction in ("image_search", "image_annotation"):
    print(f"  {direction}: R@1 {metrics[direction]['R_at_1']:.1f}")

# A query embedded as the pipeline embeds captions, then the closest test image by cosine.
encoder = caption_encoder(
    params, output_path(VOCAB, **choice), corpus, output_path(MIXTURE_DIR, **choice)
)
query_embedding = model.transform_captions(encoder.encode([query]))[0]
similarities = test.images @ query_embedding
similarities /= np.linalg.norm(test.images, axis=1) * np.linalg.norm(query_embedding) + 1e-12
best = int(np.argmax(similarities))
print(f"closest test image to {query!r}: {corpus.images[test.view.image_rows[best]]}")
