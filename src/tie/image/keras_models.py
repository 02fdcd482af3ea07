"""The keras.applications models usable as `image`, by name, without importing TensorFlow.

`params.yaml` names a model in lowercase (`vgg19`, `inceptionresnetv2`, `resnet50`,
`efficientnetb3`, ...). Each entry says which constructor of `keras.applications` builds
it, which submodule holds its `preprocess_input`, and the input size its ImageNet
weights were trained at. Keeping the table here lets `tie list` and the params check
name every backbone without loading TensorFlow; a test checks it against Keras itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KerasModel:
    constructor: str  # attribute of keras.applications
    module: str  # submodule of keras.applications with its preprocess_input
    input_size: int  # pixels, square


def _family(module: str, sizes: dict[str, int]) -> dict[str, KerasModel]:
    return {name.lower(): KerasModel(name, module, size) for name, size in sizes.items()}


KERAS_MODELS: dict[str, KerasModel] = {
    **_family("vgg19", {"VGG19": 224}),
    **_family("inception_resnet_v2", {"InceptionResNetV2": 299}),
    **_family("vgg16", {"VGG16": 224}),
    **_family("inception_v3", {"InceptionV3": 299}),
    **_family("xception", {"Xception": 299}),
    **_family("resnet", {"ResNet50": 224, "ResNet101": 224, "ResNet152": 224}),
    **_family("resnet_v2", {"ResNet50V2": 224, "ResNet101V2": 224, "ResNet152V2": 224}),
    **_family("densenet", {"DenseNet121": 224, "DenseNet169": 224, "DenseNet201": 224}),
    **_family("mobilenet", {"MobileNet": 224}),
    **_family("mobilenet_v2", {"MobileNetV2": 224}),
    **_family("mobilenet_v3", {"MobileNetV3Small": 224, "MobileNetV3Large": 224}),
    **_family("nasnet", {"NASNetMobile": 224, "NASNetLarge": 331}),
    **_family(
        "efficientnet",
        {
            "EfficientNetB0": 224,
            "EfficientNetB1": 240,
            "EfficientNetB2": 260,
            "EfficientNetB3": 300,
            "EfficientNetB4": 380,
            "EfficientNetB5": 456,
            "EfficientNetB6": 528,
            "EfficientNetB7": 600,
        },
    ),
    **_family(
        "efficientnet_v2",
        {
            "EfficientNetV2B0": 224,
            "EfficientNetV2B1": 240,
            "EfficientNetV2B2": 260,
            "EfficientNetV2B3": 300,
            "EfficientNetV2S": 384,
            "EfficientNetV2M": 480,
            "EfficientNetV2L": 480,
        },
    ),
    **_family(
        "convnext",
        {
            "ConvNeXtTiny": 224,
            "ConvNeXtSmall": 224,
            "ConvNeXtBase": 224,
            "ConvNeXtLarge": 224,
            "ConvNeXtXLarge": 224,
        },
    ),
}
