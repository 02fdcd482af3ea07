"""Making a dataset's raw folder (stage `data`): generating the demo, copying a custom
folder, fetching and extracting a real dataset, indexing WebDataset shards; then the
folder's manifest. Each kind of dataset is an object (`kinds`). The layout it writes is
`tie.raw`'s; the readers are `tie.corpus`'s."""
