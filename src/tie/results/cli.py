"""The `tie` command line."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tie.commands import Group
from tie.config.params import PARAMS_FILE, checked_params, read_params
from tie.config.paths import DOWNLOADS
from tie.config.registry import choices
from tie.config.schema import advice
from tie.datasets.real import obtain_archives
from tie.datasets.sources import SOURCES, sources_for
from tie.errors import TieError
from tie.evaluation.report import format_table
from tie.raw.names import folder_problem, name_encoding_advice, path_problem, unencodable_name
from tie.results.provenance import eval_counts, protocol_text, workspace_provenance
from tie.results.report_table import SORT_KEYS

MAX_DRAWN = 10  # images on the `tie search` contact sheet; --top prints more


@click.group(cls=Group)
@click.version_option(package_name="tie", prog_name="tie")
def main() -> None:
    """Joint text-image embeddings by CCA (run the pipeline with `dvc repro`)."""


@main.command()
@click.argument("revision", required=False)
def show(revision: str | None) -> None:
    """Print the retrieval table of the workspace, or of REVISION (a DVC experiment's name,
    a commit, branch or tag), labelled with the run that produced it.

    The labels (dataset, splits, protocol counts, encoders, CCA chosen) come from dvc.lock
    and the metrics files it records, never from the current params.yaml.
    """
    if not Path("dvc.yaml").is_file():
        raise TieError(
            f"{Path.cwd()} is not a tie project (no dvc.yaml here): run `tie show` in the"
            " repository's root folder"
        )
    if revision is None:
        metrics, provenance = workspace_provenance()
        where = "dvc.lock and the metrics files it records"
    else:
        from tie.results.provenance import provenance_at
        from tie.results.significance import experiment_rev, git_rev

        rev = experiment_rev(revision, Path(".")) or git_rev(revision, Path("."))
        if rev is None:
            raise TieError(
                f"{revision!r} is neither a DVC experiment (`dvc exp list`) nor a git revision"
            )
        recorded = provenance_at(rev, f"{revision} ({rev[:7]})")
        if recorded is None:
            raise TieError(f"{revision} ({rev[:7]}) has no metrics/retrieval.json: no run there")
        metrics, provenance = recorded
        where = f"{revision}'s dvc.lock and metrics files, commit {rev[:7]}"
    click.echo(provenance.describe())
    click.echo(f"(from {where})\n")
    click.echo(format_table(metrics))
    for name, values in metrics.items():  # extra protocols, e.g. COCO's 1K folds
        if isinstance(values, dict) and "image_search" in values:
            counts = eval_counts(values)
            click.echo(f"\n{name}: {protocol_text(provenance.eval_split, *counts)} per fold")
            click.echo(format_table(values))


@main.command(name="list")
def list_choices() -> None:
    """List the valid values of `dataset`, `text` and `image` in params.yaml."""
    for key, names in choices().items():
        click.echo(f"{key}: {', '.join(names)}")


@main.command()
@click.argument("params_file", default=PARAMS_FILE, type=click.Path(path_type=Path))
def check(params_file: Path) -> None:
    """Check every param of PARAMS_FILE (default: params.yaml) against the schema."""
    from tie.datasets.kinds import dataset_kind

    params = read_params(params_file)
    check_custom_paths(params)  # before the custom captions file is read
    checked = checked_params(params, str(params_file))
    # what only the dataset's files tell (the splits stage checks it again, when it reads them)
    dataset_kind(checked.dataset).check_files(checked, str(params_file))
    for note in advice(checked) + uncommitted_params_note(params_file):
        click.echo(f"{params_file}: note: {note}", err=True)
    click.echo(f"{params_file} is valid")


def uncommitted_params_note(params_file: Path) -> list[str]:
    """A note if `params_file` differs from git's HEAD: a `dvc exp run -S` that failed, was
    interrupted or was refused (another one running) leaves its values there (DVC writes them
    before it runs anything), and the next `dvc repro` would run with them."""
    import subprocess

    where = params_file.resolve().parent
    result = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", params_file.resolve().name],
        cwd=where,
        capture_output=True,
        check=False,
    )
    if result.returncode != 1 or result.stderr:  # 0: as committed; 1 with an error: not a
        return []  # git checkout, or no commit yet
    return [
        "it differs from the last commit (`git diff HEAD -- params.yaml`): if a `dvc exp run"
        " -S` failed or was interrupted, its values are still here; `git checkout --"
        " params.yaml dvc.lock metrics/ && dvc checkout --force` restores the committed ones"
    ]


def check_custom_paths(written: dict) -> None:
    """custom.images and custom.captions as DVC and the stages will take them, read for their
    types only (`written`: params.yaml as written, before it is checked): they are deps of
    `data` whatever the dataset, so DVC hashes them."""
    custom = written.get("custom") if isinstance(written.get("custom"), dict) else {}
    images, captions = custom.get("images"), custom.get("captions")
    for key, value, want in (("images", images, "folder"), ("captions", captions, "file")):
        problem = path_problem(Path(value), want) if isinstance(value, str) and value else None
        if problem:
            raise TieError(
                f"custom.{key} {value} {problem}: DVC reads it as a dep of the data stage"
                f" whatever the dataset; set custom.{key} in params.yaml to a {want}"
            )
    if isinstance(images, str) and images and Path(images).is_dir():
        found = folder_problem(Path(images))
        if found is not None:
            raise TieError(
                f"custom.images {images} holds {found[0]}, which is {found[1]}: DVC would read"
                " it hashing the folder (a FIFO: forever); remove it, or set custom.images to"
                " a folder of images only"
            )
        name = unencodable_name(Path(images))
        if name is not None:
            raise TieError(
                f"custom.images: the name {name} cannot be written as UTF-8, so DVC (hashing"
                f" the folder) would stop with `surrogates not allowed`: {name_encoding_advice()}"
            )


@main.group()
def data() -> None:
    """Real datasets' raw files."""


@data.command()
@click.argument("dataset", type=click.Choice(sorted(SOURCES)))
@click.option(
    "--downloads",
    default=DOWNLOADS,
    type=click.Path(path_type=Path),
    show_default=True,
    help="Folder for the archives; the pipeline's `data` stage looks for them there.",
)
@click.option(
    "--split",
    type=click.Choice(["official", "karpathy"]),
    help="Fetch the caption files of this split only (default: the dataset's own split).",
)
@click.option(
    "--accept-local",
    is_flag=True,
    help="Accept your copy of an archive whose checksum differs from the published one, "
    "after checking its content (every image, the caption file); recorded for later runs.",
)
def fetch(dataset: str, downloads: Path, split: str | None, accept_local: bool) -> None:
    """Download DATASET's archives (resumable, checked) without running the pipeline.

    Set TIE_DOWNLOAD_MIRROR=<url> to fetch every file from <url>/<file name> instead.
    """
    from tie.corpus.read import DATASET_SPLITS, check_split

    split = split or DATASET_SPLITS[dataset][0]
    check_split(dataset, split)
    if accept_local:
        from tie.datasets.accept import accept_local_copy

        for line in accept_local_copy(dataset, sources_for(dataset), downloads, split):
            click.echo(line)
        return
    for name, path in obtain_archives(dataset, sources_for(dataset), downloads, (split,)).items():
        click.echo(f"{name}: {path}")


@main.command()
@click.option("--force", is_flag=True, help="Re-create tags that already exist.")
@click.option(
    "--remove", is_flag=True, help="Delete the tags `tie baseline` creates, and only them."
)
def baseline(force: bool, remove: bool) -> None:
    """Tag the published baselines (e.g. klein2015/flickr8k) for `dvc metrics diff`.

    Each tag is a commit whose tree is HEAD's with metrics/retrieval.json holding the
    published numbers (metrics/baselines/published.csv); the working tree, the index
    and the current branch are not touched. The tags stay local unless you push them
    (`git push --tags` would); `tie baseline --remove` deletes them.
    """
    from tie.results.baselines import create_tags, existing_tags, load_baselines, remove_tags

    baselines = load_baselines()
    if remove:
        removed = remove_tags(Path.cwd(), baselines)
        click.echo(
            f"deleted {len(removed)} baseline tags" + (f": {', '.join(removed)}" if removed else "")
        )
        return
    existing = existing_tags(Path.cwd(), baselines)
    new = len(baselines) - (0 if force else len(existing))
    if new:
        click.echo(
            f"writing {new} git tags <baseline>/<dataset> into this repository (local: `git"
            " push --tags` would publish them; `tie baseline --remove` deletes them)"
        )
    outcome = create_tags(Path.cwd(), baselines, force=force)
    for tag, what in outcome.items():
        click.echo(f"{what:8} {tag}")
    click.echo("compare with: dvc metrics diff klein2015/<dataset> [<experiment>]")


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "csv", "json"]),
    default="md",
    show_default=True,
    help="What is printed: the markdown tables, or one CSV or JSON record per row.",
)
@click.option(
    "--runs",
    type=click.Choice(["dvc", "mlflow"]),
    default="dvc",
    show_default=True,
    help="dvc: the workspace and every DVC experiment; mlflow: every finished MLflow run.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="metrics/report.md",
    show_default=True,
    help="Where the markdown table is written.",
)
@click.option(
    "--sort-by",
    type=click.Choice(SORT_KEYS),
    help="Order each table's runs by this metric, best first (published rows stay on top);"
    " rsum: R@1+R@5+R@10 of both directions.",
)
@click.option(
    "--best",
    type=click.IntRange(min=1),
    help="Keep the N best runs of each table (by --sort-by, else image_search.R_at_1).",
)
@click.option(
    "--reference",
    help="Mark the values not significantly different from this row's (a run's name as the"
    " table shows it) instead of from each column's best.",
)
def report(
    fmt: str, runs: str, output: Path, sort_by: str | None, best: int | None, reference: str | None
) -> None:
    """The results tables: runs beside the published rows of the same dataset and protocol.

    Every run is labelled with what produced it, read from its record (dvc.lock and the
    metrics files of the workspace or of the experiment's commit, or the MLflow run), with
    the 95% interval of every value, and ≈ where a value is not significantly different
    from its column's best (or `--reference`).
    """
    from tie.evaluation.tracking import mlflow_settings, tracking_uri
    from tie.results import report_table

    applied = None
    with mlflow_settings():
        if runs == "dvc":
            ours, applied = report_table.without_applied_workspace(report_table.dvc_rows())
        else:
            ours = report_table.mlflow_rows(tracking_uri())
    groups, apart = report_table.group_rows(ours, report_table.published_rows())
    groups = report_table.sort_rows(groups, sort_by, best)
    labels = {row.label for group in groups for row in group.rows}
    if reference is not None and reference not in labels:
        raise TieError(
            f"--reference {reference}: no such row; the rows: {', '.join(sorted(labels))}"
        )
    groups = report_table.mark_significance(groups, reference)
    markdown = report_table.to_markdown(groups, apart, reference, applied)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown)
    except OSError as error:  # e.g. a full disk
        raise TieError(f"could not write {output}: {error.strerror or error}") from None
    if fmt == "md":
        click.echo(markdown, nl=False)
    elif fmt == "csv":
        click.echo(report_table.to_csv(groups), nl=False)
    else:
        click.echo(report_table.to_json(groups, apart), nl=False)


@main.command()
@click.argument("a")
@click.argument("b")
@click.option(
    "--resamples",
    default=1000,
    show_default=True,
    type=click.IntRange(min=100),
    help="Bootstrap resamples of the test images (as eval.bootstrap.n).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the bootstrap resamples: the same seed gives the same verdicts.",
)
def compare(a: str, b: str, resamples: int, seed: int) -> None:
    """Is the difference between results A and B real? The paired bootstrap of every metric.

    A and B: `workspace`, a git revision (HEAD), a DVC experiment's name, an MLflow run id or
    name, or a published row (klein2015/flickr8k). Both must be of the same dataset and
    protocol.
    """
    from tie.evaluation.tracking import mlflow_settings, tracking_uri
    from tie.results.significance import compare as compare_results
    from tie.results.significance import find_result

    uri = tracking_uri()
    with mlflow_settings():  # MLflow's run ids and names are looked up too
        first, second = find_result(a, uri), find_result(b, uri)
    run = first if first.kind != "published" else second
    keys = run.metrics["image_search"]
    ks = [int(k[len("R_at_") :]) for k in keys if re.fullmatch(r"R_at_\d+", k)]
    click.echo(compare_results(first, second, ks, resamples, seed), nl=False)


@main.command()
@click.argument("query")
@click.option(
    "--top",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many images to list, closest first.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="metrics/search.png",
    show_default=True,
    help=f"The contact sheet of the first {MAX_DRAWN} images found (git-ignored by default).",
)
def search(query: str, top: int, output: Path) -> None:
    """Find the test images closest to QUERY with the current model (params.yaml)."""
    if not query.isprintable() or query != query.encode("utf-8", "replace").decode("utf-8"):
        # click passes bytes that are not UTF-8 as lone surrogates, which nothing can print
        raise TieError(
            "the query is not UTF-8 text (or holds control characters): type it again as"
            " plain words, e.g. tie search 'a red circle'"
        )
    # checked before the encoders are imported: a bad query is refused at once
    from tie.config.params import load_params
    from tie.evaluation.gallery import image_format_problem, write_contact_sheet
    from tie.results.search import echoed, search_images

    problem = image_format_problem(output)
    if problem:
        raise TieError(f"--output {problem}")
    result = search_images(load_params(), query, top)
    hits = result.hits
    click.echo(f"query words used: {echoed(' '.join(result.used))}")
    if result.stop_words:
        stop_words = echoed(" ".join(result.stop_words))
        click.echo(f"dropped as stop words (tokenizer.stop_words): {stop_words}")
    if result.unknown:
        unknown = echoed(" ".join(result.unknown))
        click.echo(f"dropped, no word vector in this dataset's captions: {unknown}")
    for rank, hit in enumerate(hits, start=1):
        click.echo(f"{rank:3}. {hit.score:6.3f}  {hit.path}")
    drawn = hits[:MAX_DRAWN]
    write_contact_sheet(output, echoed(query), [h.path for h in drawn], [h.score for h in drawn])
    more = f" (the first {len(drawn)} of {len(hits)})" if len(drawn) < len(hits) else ""
    click.echo(f"contact sheet{more}: {output}")


@main.command()
@click.option(
    "--port",
    default=5000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="The port the UI listens on.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address the UI listens on (0.0.0.0: every interface of this machine).",
)
def ui(port: int, host: str) -> None:
    """The MLflow UI on this project's runs (mlflow.db), until Ctrl-C."""
    from tie.evaluation.tracking import repo_root
    from tie.results.ui import serve

    serve(repo_root(), host, port, announce=click.echo)


@main.command()
@click.argument("run_id")
@click.option("--name", required=True, help="The registered model's name.")
@click.option("--alias", default="champion", show_default=True, help="The alias that points at it.")
def register(run_id: str, name: str, alias: str) -> None:
    """Register run RUN_ID's joint model (MLflow model registry) as NAME@ALIAS.

    RUN_ID `latest`: the newest run that logged one.
    """
    from tie.results.register import register_run

    registered = register_run(run_id, name, alias)
    click.echo(
        f"run {registered.run_id}'s joint model is version {registered.version} of"
        f" {registered.name}, alias @{registered.alias}:"
        f" mlflow.pyfunc.load_model({registered.uri!r})"
    )
