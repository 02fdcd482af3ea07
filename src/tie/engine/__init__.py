"""Where the heavy steps run: params.yaml `compute.engine`, `local` (this process) or
`ray` (a cluster). `engine.Engine` is what stages hold; the Ray code of each step lives
beside the step (`tie.image.ray`, `tie.text.ray`, `tie.moments.ray`), the connection here
(`ray`)."""
