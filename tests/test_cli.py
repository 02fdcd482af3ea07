from importlib.metadata import version

from click.testing import CliRunner

from tie.results.cli import main


def test_version_is_the_installed_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tie, version {version('tie')}\n"
