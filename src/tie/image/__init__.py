"""Image encoders by name. Each is a class whose `encode(paths)` gives one row per image.

Backbones that need TensorFlow import it inside their own module, so that choosing
`colorgrid` never loads it.
"""

from tie.image.colorgrid import ColorGrid

IMAGE_ENCODERS = {
    "colorgrid": ColorGrid,
}
