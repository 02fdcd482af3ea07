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

# What a stage imports that cannot change what it computes: listing it would re-run every
# stage, a VGG19 extraction of COCO included, for a reworded message. What these import
# only for themselves cannot change outputs either: the closure does not go through them.
NEVER_CHANGE_OUTPUTS = (
    "src/tie/__init__.py",  # the package's docstring
    "src/tie/errors.py",  # the exception class of user errors
    "src/tie/commands.py",  # prints a TieError as one line
    "src/tie/redact.py",  # strips credentials from messages
    "src/tie/progress.py",  # progress lines on stderr
    "src/tie/tensorflow_logs.py",  # TensorFlow's start-up lines held back from stderr
    "src/tie/recorded.py",  # refuses an input unlike its dvc.lock record; changes no value
    # params.yaml read and checked (values returned as written), the valid names, the
    # output paths (the stages get theirs from dvc.yaml's cmd)
    "src/tie/config",
)


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


def import_closure(script: Path, through_exempt: bool = False) -> set[str]:
    """Every file under src/tie that running `script` imports, package `__init__`s too.

    The modules an exempt one (NEVER_CHANGE_OUTPUTS) imports are followed only with
    `through_exempt`.
    """
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
                    if through_exempt or not covered(rel, NEVER_CHANGE_OUTPUTS):
                        todo.append((file, prefix))
    return files


def stages():
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def script_of(stage: dict, root: Path = REPO) -> Path:
    words = stage["cmd"].split()
    return root / words[words.index("python") + 1]


def covered(file: str, deps) -> bool:
    return any(file == dep or file.startswith(dep.rstrip("/") + "/") for dep in deps)


def missing_deps(root: Path = REPO) -> dict[str, list[str]]:
    """Stage -> the library files its script (under `root`) imports but does not declare."""
    missing = {}
    for name, stage in stages().items():
        closure = import_closure(script_of(stage, root))
        deps = [*stage["deps"], *NEVER_CHANGE_OUTPUTS]
        gaps = sorted(f for f in closure if not covered(f, deps))
        if gaps:
            missing[name] = gaps
    return missing


def test_every_module_a_stage_imports_is_one_of_its_deps():
    missing = missing_deps()
    assert not missing, f"dvc.yaml deps miss modules the stages import: {missing}"


def test_an_import_outside_the_deps_is_found(tmp_path):
    """The check fails for a stage that imports what it does not declare (a scratch copy)."""
    (tmp_path / "stages").mkdir()
    for script in (REPO / "stages").glob("*.py"):
        (tmp_path / "stages" / script.name).write_text(script.read_text())
    splits = tmp_path / "stages" / "splits.py"
    bad_import = "\ndef unrelated():\n    from tie.evaluation import bootstrap\n"
    splits.write_text(splits.read_text() + bad_import)
    missing = missing_deps(tmp_path)
    assert list(missing) == ["splits"]
    assert {"src/tie/evaluation/__init__.py", "src/tie/evaluation/bootstrap.py"} <= set(
        missing["splits"]
    )


def test_exemptions_are_still_imported():
    """An exemption that no stage needs any more is removed, not left to hide a gap."""
    every = set().union(*(import_closure(script_of(stage)) for stage in stages().values()))
    for exempt in NEVER_CHANGE_OUTPUTS:
        assert any(covered(file, [exempt]) for file in every), exempt


def test_every_library_dep_is_imported_by_its_stage():
    """A folder or file a stage declares but never imports re-runs it for nothing."""
    idle = {}
    for name, stage in stages().items():
        closure = import_closure(script_of(stage), through_exempt=True)
        library = [dep for dep in stage["deps"] if dep.startswith("src/")]
        unused = [dep for dep in library if not any(covered(f, [dep]) for f in closure)]
        if unused:
            idle[name] = unused
    assert not idle, f"dvc.yaml declares library deps its stages do not import: {idle}"


def test_the_closure_follows_imports_inside_functions_and_packages(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text(
        "from tie.text.encoders import BUILDERS\ndef main():\n    from tie import cca\n"
    )
    closure = import_closure(script)
    # a package's __init__, the modules imported inside a function, and theirs
    assert {
        "src/tie/text/__init__.py",
        "src/tie/text/encoders.py",
        "src/tie/cca.py",
        "src/tie/joint/cca.py",
        "src/tie/text/word2vec_local.py",
    } <= closure
    # not through an exempt module: what the one-line error printer imports is its own
    vocab = REPO / "stages" / "vocab.py"
    assert "src/tie/stage_inputs.py" not in import_closure(vocab)
    assert "src/tie/stage_inputs.py" in import_closure(vocab, through_exempt=True)
    assert not covered("src/tie/text/tokenize.py", ["src/tie/text/tok"])
    assert covered("src/tie/text/tokenize.py", ["src/tie/text"])


def test_data_flows_one_way_from_the_joint_space_to_its_evaluation():
    """`tie.joint` (the cca stage) imports nothing of `tie.evaluation` or `tie.results`, and
    `tie.evaluation` nothing of `tie.results`: a change to scoring or reporting never re-runs
    the CCA (its ranks and rsum for model selection are `tie.joint.retrieval`'s)."""
    later = {"joint": ("tie.evaluation", "tie.results"), "evaluation": ("tie.results",)}
    backwards = []
    for package, forbidden in later.items():
        for file in sorted((SRC / "tie" / package).rglob("*.py")):
            module = ".".join(file.relative_to(SRC).with_suffix("").parts)
            backwards += [
                f"{file.relative_to(REPO)} imports {name}"
                for name in imported_modules(file, module)
                if name.startswith(forbidden)
            ]
    assert not backwards, backwards
