"""Configuration: params.yaml read and checked (`params`, `schema`), the valid names of
every choice (`registry`) and the pipeline's output paths (`paths`). Light: no encoder,
no dataset code; nothing here changes what a stage computes, only whether it may run."""
