"""Every command README.md and docs/*.md show in a console block runs on the demo as shown.

The docs mark commands that run on the demo: lines starting with `$ ` inside a
```` ```console ```` block (see docs/README.md). Each file's commands run in order, as a
reader would run them, on a private copy of the demo project after `dvc repro`.
"""

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
        code, out = run(["bash", "-c", command], project, check=False)
        assert code == 0, f"{doc.name}: `{command}` failed ({code}):\n{out}"
