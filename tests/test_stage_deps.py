"""Each stage's DVC deps cover every module of `src/tie` its script imports, found by `ast`.

A stage re-runs when a dep changes; a library module it imports but does not declare
would leave its outputs stale after a change. The closure is built from the source
(imports inside functions count: they run when the stage runs), nothing is imported.
"""

import ast
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"

# Modules a stage imports that cannot change what it computes: listing them would
# re-run every stage, a VGG19 extraction of COCO included, for a reworded message.
NEVER_CHANGE_OUTPUTS = {
    "src/tie/__init__.py",  # the package marker
    "src/tie/errors.py",  # the exception class of user errors
    "src/tie/commands.py",  # prints a TieError as one line
    "src/tie/params.py",  # reads and checks params.yaml; returns the values as written
    "src/tie/schema.py",  # the checks; it converts nothing
    "src/tie/registry.py",  # the valid names; the implementations are deps
    "src/tie/paths.py",  # output paths: the stages get theirs from dvc.yaml's cmd
    # Imported by the schema to count a custom dataset's test images; the stages that
    # read it to split (data, splits) declare it.
    "src/tie/custom_captions.py",
    "src/tie/image_names.py",  # the same; data, splits and image_features declare it
    "src/tie/redact.py",  # strips credentials from messages
}
# Per stage: modules imported with their package (Python runs a package's __init__, which
# imports all of it) that the stage does not call.
DATASET_READERS = {"src/tie/corpus.py", "src/tie/datasets/karpathy.py"}
# `tie.datasets.image_dir` (a dep) names the images' folder inside the raw folder (a dep);
# generating, fetching and reading a dataset are not run.
DATASET_MAKERS = {
    "src/tie/datasets/custom.py",
    "src/tie/datasets/demo.py",
    "src/tie/datasets/flickr8k_layout.py",
    "src/tie/datasets/karpathy.py",
    "src/tie/datasets/real.py",
    "src/tie/datasets/sources.py",
    "src/tie/download.py",
}
# The word-vector sources; text_features reads the vocab stage's file (a dep) instead.
WORD_VECTOR_SOURCES = {
    "src/tie/text/__init__.py",
    "src/tie/text/glove.py",
    "src/tie/text/pretrained.py",
    "src/tie/text/vector_files.py",
    "src/tie/text/vocabulary_sample.py",
    "src/tie/text/word2vec_local.py",
    "src/tie/download.py",
}
# The gallery decodes its thumbnails with `tie.image.decode` (a dep of evaluate); importing
# it runs the package's __init__, whose encoders evaluate does not call.
IMAGE_ENCODERS = {
    "src/tie/image/__init__.py",
    "src/tie/image/colorgrid.py",
    "src/tie/image/keras_backbone.py",
    "src/tie/image/keras_models.py",
    "src/tie/image/tf_sources.py",
    "src/tie/tensorflow_logs.py",
    "src/tie/towers/__init__.py",
    "src/tie/towers/image.py",
    "src/tie/towers/load.py",
}
# The CLIP / SigLIP text towers (tie.text names them); for a sentence encoder `vocab`
# writes a placeholder (tie.text.sentence, a dep) and runs no tower.
TEXT_TOWERS = {"src/tie/towers/__init__.py", "src/tie/towers/text.py", "src/tie/towers/load.py"}
ACCEPTED = {
    # `data` writes the raw files; the readers that turn them into a corpus belong to
    # `splits`. Changing a reader must not extract a real dataset again.
    "data": DATASET_READERS,
    "vocab": TEXT_TOWERS,
    # fits on word vectors: the vocab stage's file or a sample of a pretrained table
    "mixture": {"src/tie/text/word2vec_local.py"} | TEXT_TOWERS,
    "text_features": WORD_VECTOR_SOURCES,
    "evaluate": DATASET_MAKERS | IMAGE_ENCODERS,
    # `tie.datasets.image_sources` only: the images' folder and list are its deps. And
    # `tie.features` imports the reader of compact caption features, which images never use.
    "image_features": DATASET_MAKERS | {"src/tie/corpus.py", "src/tie/fisher_rows.py"},
}


def module_file(module: str) -> Path | None:
    """The file of a `tie...` module, or None if it is not a module (a name inside one)."""
    base = SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, module: str) -> set[str]:
    """The `tie` modules that `path` (module `module`, "" for a script) imports."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            found.add(source)
            found |= {f"{source}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "tie" and module_file(name)}


def import_closure(script: Path) -> set[str]:
    """Every file under src/tie that running `script` imports, package `__init__`s too."""
    todo = [(script, "")]
    files = set()
    while todo:
        path, module = todo.pop()
        for name in imported_modules(path, module):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/, a/b/ first
                prefix = ".".join(parts[:depth])
                file = module_file(prefix)
                rel = file.relative_to(REPO).as_posix()
                if rel not in files:
                    files.add(rel)
                    todo.append((file, prefix))
    return files


def stages():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def script_of(stage: dict) -> Path:
    words = stage["cmd"].split()
    return REPO / words[words.index("python") + 1]


def covered(file: str, deps: list[str]) -> bool:
    return any(file == dep or file.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_every_module_a_stage_imports_is_one_of_its_deps():
    missing = {}
    for name, stage in stages().items():
        accepted = NEVER_CHANGE_OUTPUTS | ACCEPTED.get(name, set())
        closure = import_closure(script_of(stage))
        gaps = sorted(f for f in closure - accepted if not covered(f, stage["deps"]))
        if gaps:
            missing[name] = gaps
    assert not missing, f"dvc.yaml deps miss modules the stages import: {missing}"


def test_accepted_exclusions_are_still_imported():
    """An exclusion that no stage needs any more is removed, not left to hide a gap."""
    closures = {name: import_closure(script_of(stage)) for name, stage in stages().items()}
    every = set().union(*closures.values())
    assert NEVER_CHANGE_OUTPUTS <= every
    for name, files in ACCEPTED.items():
        assert files <= closures[name], name


def test_the_closure_follows_imports_inside_functions_and_packages(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(
        "from tie.text.tokenize import Tokenizer\ndef main():\n    from tie import cca\n"
    )
    closure = import_closure(script)
    assert {"src/tie/text/__init__.py", "src/tie/text/tokenize.py", "src/tie/cca.py"} <= closure
    # tie.text's __init__ imports its encoders: they are in the closure too
    assert "src/tie/text/word2vec_local.py" in closure
    assert not covered("src/tie/text/tokenize.py", ["src/tie/text/tok"])
    assert covered("src/tie/text/tokenize.py", ["src/tie/text"])
