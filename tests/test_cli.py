from importlib.metadata import version

from click.testing import CliRunner

from tie.results.cli import main


def test_version_is_the_installed_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tie, version {version('tie')}\n"


def test_show_outside_a_project_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["show"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path} is not a tie project (no dvc.yaml here): run `tie show` in the"
        " repository's root folder\n"
    )


def test_every_option_has_a_help_text():
    import click

    def commands(group, path=()):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, (*path, name))
            else:
                yield (*path, name), command

    bare = [
        f"tie {' '.join(path)} --{param.name}"
        for path, command in commands(main)
        for param in command.params
        if isinstance(param, click.Option) and not param.help
    ]
    assert not bare
