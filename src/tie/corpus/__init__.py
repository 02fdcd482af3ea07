"""A dataset's raw folder read into a `Corpus` (images, captions, splits; stage
`splits`): one reader per layout (`tie.datasets.kinds` chooses among them), and the
caption-image pairing the metrics and the CCA use (`pairs`)."""
