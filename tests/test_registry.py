"""The light name registry agrees with the modules that implement the names, and the
params check and the cca stage's imports load no encoder (no TensorFlow, Keras, gensim)."""

import ast
import subprocess
import sys
from math import inf
from pathlib import Path

import pytest

from tie.config import registry
from tie.corpus.read import DATASET_SPLITS
from tie.datasets.kinds import KINDS
from tie.image.encoders import BUILDERS as IMAGE_BUILDERS
from tie.image.keras_models import KERAS_MODELS
from tie.text.encoders import BUILDERS as TEXT_BUILDERS
from tie.text.encoders import VOCABULARY_SAMPLES
from tie.towers.models import TOWER_MODELS


def test_the_registry_names_what_the_heavy_modules_implement():
    assert list(registry.TEXT_ENCODERS) == list(TEXT_BUILDERS)
    assert list(registry.IMAGE_ENCODERS) == list(IMAGE_BUILDERS)
    assert set(registry.KERAS_MODEL_NAMES) == set(KERAS_MODELS)
    assert registry.TOWER_MODEL_NAMES == tuple(TOWER_MODELS)
    tables = {name for name, info in registry.TEXT_ENCODERS.items() if info.pretrained_table}
    assert tables == set(VOCABULARY_SAMPLES)
    assert DATASET_SPLITS == {name: info.splits for name, info in registry.DATASETS.items()}
    assert list(KINDS) == list(registry.DATASETS)
    assert all(kind.name == name for name, kind in KINDS.items())
    for name, info in registry.DATASETS.items():
        assert set(info.eval_images) <= set(info.splits), name


def test_allowed_values_are_defined_once_for_the_schema_and_the_implementations():
    from tie.config import schema
    from tie.image import keras_backbone
    from tie.text import tokenize, word_vectors
    from tie.towers import load

    def literal(model, field):
        return model.model_fields[field].annotation.__args__

    # (section, field) -> the registry's tuple, and the implementation's own name for it
    checks = [
        (schema.CaptionVectors, "word_scaling", registry.WORD_SCALINGS, word_vectors.WORD_SCALINGS),
        (schema.Tokenizer, "stop_words", registry.STOP_WORD_LISTS, tokenize.STOP_WORD_LISTS),
        (schema.Backbone, "vgg_layer", registry.VGG_LAYERS, keras_backbone.VGG_LAYERS),
        (schema.Backbone, "crops", registry.CROPS, keras_backbone.CROPS),
        (schema.Tower, "dtype", registry.TOWER_DTYPES, load.DTYPES),
        (schema.Cca, "method", registry.CCA_METHODS, registry.CCA_METHODS),
        (schema.CaptionVectors, "pooling", registry.POOLINGS, registry.POOLINGS),
        (schema.Fisher, "store", registry.FISHER_STORES, registry.FISHER_STORES),
        (schema.Compute, "engine", registry.ENGINES, registry.ENGINES),
    ]
    for section, field, values, implementation in checks:
        assert literal(section, field) == values, field
        assert implementation is values, field


HEAVY = (
    "tensorflow",
    "keras",
    "keras_hub",
    "gensim",
    "ray",
    "tie.text.encoders",
    "tie.image.encoders",
)


def modules_loaded_by(code):
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_params_and_the_cca_stage_import_no_encoder():
    loaded = modules_loaded_by(
        "import tie.config.params, tie.config.paths, tie.config.registry, tie.config.schema\n"
        "import runpy, sys\n"
        "sys.argv = ['cca']\n"
        # the cca stage's module level (its imports), without running main()
        "runpy.run_path('stages/cca.py', run_name='not_main')"
    )
    assert "tie.joint.cca" in loaded and "tie.config.params" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert not heavy, heavy


def test_the_library_error_does_not_depend_on_click():
    assert "click" not in modules_loaded_by("import tie.errors, tie.config.params")


@pytest.mark.parametrize(
    "name, bad", [("n_components", 0), ("n_components", 2.5), ("reg", -0.5), ("scale_power", inf)]
)
def test_the_cca_constraints_are_declared_once_for_the_schema_and_the_estimator(name, bad):
    import pydantic

    from tie.config.registry import CCA_PARAM_CONSTRAINTS
    from tie.config.schema import Cca
    from tie.joint.cca import CCA, InvalidParam

    good = {"n_components": 4, "reg": 0.001, "scale_power": 1.0}
    assert all(CCA_PARAM_CONSTRAINTS[key].admits(value) for key, value in good.items())
    assert not CCA_PARAM_CONSTRAINTS[name].admits(bad)
    with pytest.raises(InvalidParam, match=f"^{name}="):
        CCA(**good | {name: bad}).check_params(10, 10)
    with pytest.raises(pydantic.ValidationError):
        Cca.model_validate(good | {name: bad})
    Cca.model_validate(good)


@pytest.mark.parametrize(
    "module, not_loaded",
    [
        ("tie.image.decode", ("tie.image.encoders", "tie.image.keras_backbone", "tie.towers.")),
        ("tie.raw.layout", ("tie.datasets.", "tie.corpus.", "tie.download")),
        ("tie.text.tokenize", ("tie.text.encoders", "tie.text.glove", "tie.towers.")),
        ("tie.joint.cca", ("tie.evaluation.", "tie.image.", "tie.text.")),
    ],
)
def test_a_package_import_runs_only_what_it_names(module, not_loaded):
    """`__init__.py` files name things and import nothing: importing one module of a
    package does not load its siblings' registries."""
    loaded = modules_loaded_by(f"import {module}")
    assert module in loaded
    assert not [name for name in loaded if name.startswith(not_loaded)], sorted(loaded)


def dataset_dispatch(path) -> list[int]:
    """Lines of `path` that compare a value with a dataset's name (`dataset == "custom"`,
    `name in ("demo", "flickr8k")`): a choice by kind made outside `tie.datasets.kinds`."""
    names = set(registry.DATASETS)
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            values = (
                operand.elts if isinstance(operand, ast.Tuple | ast.List | ast.Set) else [operand]
            )
            if any(isinstance(v, ast.Constant) and v.value in names for v in values):
                lines.append(node.lineno)
    return lines


def test_no_choice_by_dataset_kind_outside_the_registry_of_kinds(tmp_path):
    """What differs between kinds of dataset is a method of its object (`KINDS`) or a fact of
    `registry.DATASETS`, never an `if` on its name elsewhere."""
    repo = Path(__file__).resolve().parents[1]
    kinds = repo / "src/tie/datasets/kinds.py"
    sources = [*(repo / "src/tie").rglob("*.py"), *(repo / "stages").glob("*.py")]
    found = {
        str(path.relative_to(repo)): lines
        for path in sources
        if path != kinds and (lines := dataset_dispatch(path))
    }
    assert found == {}, f"choices by dataset name outside tie.datasets.kinds: {found}"
    probe = tmp_path / "probe.py"
    probe.write_text('if dataset == "custom" or name in ("demo", "x") or "coco" != d:\n    pass\n')
    assert dataset_dispatch(probe) == [1, 1, 1]
