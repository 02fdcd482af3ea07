"""Joint text-image embeddings by CCA.

The packages follow the pipeline (docs/layout.md): `config` (params.yaml, its schema, the
valid names, the output paths) → `datasets` (making a raw folder) → `raw` (its layout)
→ `corpus` (reading it into images, captions and splits) → `image` / `text` (features)
→ `features` (feature files) → `joint` (CCA and the joint space) → `evaluation`
(retrieval metrics, uncertainty, plots, MLflow) → `results` (the `tie` CLI: reports,
comparisons, search). `engine` says where the heavy steps run (local or Ray).
`tie.cca` and `tie.retrieval` keep the library's public names where they were.
"""
