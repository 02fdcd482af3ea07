"""Every command README.md and docs/*.md show in a console block runs on the demo as shown.

The docs mark commands that run on the demo: lines starting with `$ ` inside a
```` ```console ```` block (see docs/README.md). Each file's commands run in order, as a
reader would run them, on a private copy of the demo project after `dvc repro`, in a
200-column terminal: a `dvc exp show` the docs print must fit it (no column cut off).
"""

import re

import pytest
from helpers import REPO, copy_project, run

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def console_commands(text):
    """The `$ ` lines of the ```console blocks of a markdown text, in order."""
    commands, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```console"
        elif inside and line.startswith("$ "):
            commands.append(line[2:])
    return commands


def test_console_commands_are_found_only_in_console_blocks():
    text = "```console\n$ tie show\noutput\n```\n```sh\n$ make ui\n```\n```console\n$ tie list\n```"
    assert console_commands(text) == ["tie show", "tie list"]
    assert "tie report" in console_commands((REPO / "README.md").read_text())


@pytest.mark.e2e
@pytest.mark.parametrize(
    "doc",
    [doc for doc in DOCS if console_commands(doc.read_text())],
    ids=lambda doc: doc.relative_to(REPO).as_posix(),
)
def test_console_commands_run_on_the_demo(doc, demo_project, tmp_path):
    project = copy_project(demo_project, tmp_path / "project")
    for command in console_commands(doc.read_text()):
        code, out = run(["bash", "-c", command], project, check=False, env={"COLUMNS": "200"})
        assert code == 0, f"{doc.name}: `{command}` failed ({code}):\n{out}"
        if command.startswith("dvc exp show"):
            too_wide = [line for line in out.splitlines() if len(line) > 200 or "…" in line]
            assert not too_wide, f"{doc.name}: `{command}` does not fit 200 columns:\n{out}"


def layout_modules(text: str) -> set[str]:
    """The library files docs/layout.md lists: `pkg/` lines, then `  module.py` under them."""
    block = text.split("## The library")[1].split("```")[1]
    files, package = set(), ""
    for line in block.splitlines():
        top = re.match(r"^(\w+(?:\.py|/))\s", line)
        inner = re.match(r"^  (\w+\.py)\s", line)
        if top:
            name = top.group(1)
            package = name if name.endswith("/") else ""
            files.add(f"{name}__init__.py" if package else name)
        elif inner:
            assert package, f"docs/layout.md: {inner.group(1)} is under no package"
            files.add(package + inner.group(1))
    return files


def test_layout_lists_every_module_of_the_library_and_nothing_else():
    tree = {p.relative_to(REPO / "src/tie").as_posix() for p in (REPO / "src/tie").rglob("*.py")}
    listed = layout_modules((REPO / "docs" / "layout.md").read_text())
    assert listed == tree, f"missing: {sorted(tree - listed)}; gone: {sorted(listed - tree)}"


@pytest.mark.e2e
def test_mlflow_recovery_command_logs_the_missing_run_running_evaluate_only(demo_project, tmp_path):
    """docs/mlflow.md's command for a store that lacks a result: evaluate alone runs."""
    import mlflow

    text = " ".join((REPO / "docs/mlflow.md").read_text().split())
    command = re.search(r"deleted `mlflow.db`\) gets it with `([^`]+)`", text).group(1)
    project = copy_project(demo_project, tmp_path / "project", mlflow_store=False)
    _, out = run(command.split(), project)
    assert re.findall(r"Running stage '(\w+)'", out) == ["evaluate"], out
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    assert experiment is not None and client.search_runs([experiment.experiment_id]), out


def test_readme_shows_the_table_make_demo_prints():
    """README's table is `tie show`'s of the committed demo run (metrics/retrieval.json)."""
    import json

    from tie.evaluation.report import format_table

    table = format_table(json.loads((REPO / "metrics/retrieval.json").read_text()))
    assert "[" in table and "rsum" in table  # intervals and the rsum line
    assert f"```\n{table.rstrip()}\n```" in (REPO / "README.md").read_text()
