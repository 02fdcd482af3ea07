"""The library on a finished run: load its outputs, score the test split, search by words.

Run it in a project after `make demo` (or `dvc repro`, or `dvc pull` of a shared run):

    python examples/library.py "red circle"

It reads the run that `params.yaml` names (dataset, image and text encoders), the files
the pipeline wrote: the splits (corpus), the feature files, the word vectors and the CCA
model. Only public names of `tie` are used.
"""

import sys
from pathlib import Path

import numpy as np
import yaml

from tie.cca import CCA
from tie.corpus import Corpus
from tie.embeddings import load_split_embeddings
from tie.retrieval import score
from tie.text.captions import CaptionEncoder

query = sys.argv[1] if len(sys.argv) > 1 else "red circle"
params = yaml.safe_load(Path("params.yaml").read_text())
dataset, image, text = params["dataset"], params["image"], params["text"]

# The run's outputs: every caption and image of the dataset, and the fitted CCA.
corpus = Corpus.load(f"data/splits/{dataset}.json")
model = CCA.load(f"models/{dataset}/{image}-{text}")

# The test split in the joint space, scored both ways: what `metrics/retrieval.json` holds.
test = load_split_embeddings(
    corpus,
    "test",
    f"features/{dataset}/image/{image}.npy",
    f"features/{dataset}/text/{text}.npy",
    model,
)
metrics = score(test.images, test.captions, test.view.caption_image_index)
print(f"{dataset} test split, {len(test.images)} images / {len(test.captions)} captions:")
for direction in ("image_search", "image_annotation"):
    print(f"  {direction}: R@1 {metrics[direction]['R_at_1']:.1f}")

# A query embedded as the pipeline embeds captions, then the closest test image by cosine.
encoder = CaptionEncoder.from_params(params, f"features/{dataset}/vocab/{text}.npz", corpus)
query_embedding = model.transform_captions(encoder.encode([query]))[0]
similarities = test.images @ query_embedding
similarities /= np.linalg.norm(test.images, axis=1) * np.linalg.norm(query_embedding) + 1e-12
best = int(np.argmax(similarities))
print(f"closest test image to {query!r}: {corpus.images[test.view.image_rows[best]]}")
