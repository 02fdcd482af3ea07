"""The real Flickr8k benchmark, one command: every row a `dvc exp run`, the table in
docs/results.md.

    ../shared/real/get-flickr8k GIT_DIR /tmp/flickr8k-archives     # the two official archives
    .venv/bin/python benchmarks/real_flickr8k.py /tmp/flickr8k-archives

It goes the documented way (docs/datasets.md): a fresh clone of this repository (--work,
kept between calls so that an interrupted benchmark resumes from DVC's cache), the archives
copied into its `data/downloads/`, `tie data fetch flickr8k --accept-local`, then one `dvc exp
run -n ROW -S dataset=flickr8k -S image=mobilenet -S ...` per row, each from the clone's
committed params (its own settings only). Every setting is chosen on the val split (the CCA
grid and the scoring params inside the pipeline; the row's val criterion, rsum on val, is
in the table), test numbers are reported only. It then writes --output (docs/results.md):
the rows with their val criterion, chosen CCA params, time and stages, the paired verdicts
(`tie compare`) of every row against the plain-mean baseline and against the best row on
val, and `tie report`'s table (95% intervals, Klein et al.'s and the seed's rows beside).

The photos are 224x224 copies of the real Flickr8k images (../shared/real/README.md) and the
CNN is MobileNet v1, not VGG19: every row is this project's own number on them, not Klein
et al.'s exact protocol. `--rows a,b` runs some rows only (for a look; docs/results.md is
written only when every row ran).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHIVES = ("Flickr8k_Dataset.zip", "Flickr8k_text.zip")
BASE = ("dataset=flickr8k", "image=mobilenet", "backbone.weights=imagenet")
OLD_DEFAULTS = (  # the defaults before the real photos (chosen on the demo)
    "caption_vectors.pooling=mean",
    "cca.n_components=50",
    "cca.reg=0.0001",
    "cca.scale_power=2.0",
)
MEAN = ("caption_vectors.pooling=mean",)


@dataclass
class Row:
    name: str
    what: str
    settings: tuple[str, ...] = ()
    baseline: str = "mean"  # the row its paired verdict is against, beside the best row
    result: dict = field(default_factory=dict)


ROWS = [
    Row("defaults", "the defaults (Fisher vectors, HGLMM, K 30; the CCA grid), nothing else set"),
    Row("old-defaults", "the defaults before: mean, one CCA point 50 / 1e-4 / 2", OLD_DEFAULTS),
    Row("mean", "plain mean of GloVe 50-d, the CCA grid on val", MEAN, "old-defaults"),
    Row("idf", "mean weighted by IDF", (*MEAN, "caption_vectors.idf=true")),
    Row("unit", "mean of unit-length word vectors", (*MEAN, "caption_vectors.word_scaling=unit")),
    Row(
        "sif",
        "SIF weights, first principal component removed",
        (*MEAN, "caption_vectors.sif=true", "caption_vectors.common_components=1"),
    ),
    Row("no-stop-words", "mean, stop words kept", (*MEAN, "tokenizer.stop_words=none")),
    Row(
        "word2vec_local",
        "mean of word2vec trained on the train captions",
        (*MEAN, "text=word2vec_local"),
    ),
    *(
        Row(f"fisher-{m}", f"Fisher vectors, {m}", (f"fisher.mixture={m}",), "defaults")
        for m in ("gmm", "lmm", "gmm+hglmm")
    ),
    Row("fisher-k64", "Fisher vectors, HGLMM, K 64", ("fisher.n_components=64",), "defaults"),
    Row(
        "fisher-ica",
        "Fisher vectors, HGLMM on ICA-rotated words",
        ("fisher.reduce=ica",),
        "defaults",
    ),
    Row(
        "fisher-pretrained",
        "Fisher vectors, HGLMM fitted on 100,000 words sampled from GloVe's table",
        ("fisher.fit_on=pretrained_sample",),
        "defaults",
    ),
    Row(
        "fisher-power-1-4",
        "Fisher vectors, the CCA grid with scale_power 1, 2, 3, 4",
        ("cca.scale_power=[1.0,2.0,3.0,4.0]",),
        "defaults",
    ),
    *(
        Row(
            f"scoring-{rule}",
            f"the defaults, scored by {rule} (banks from train)",
            (f"eval.scoring={rule}",),
            "defaults",
        )
        for rule in ("inverted_softmax", "qb_norm", "csls", "dual_bank")
    ),
    Row(
        "k64-dual_bank",
        "the best Fisher setting and the best rule on val together: K 64, scored by dual_bank",
        ("fisher.n_components=64", "eval.scoring=dual_bank"),
        "defaults",
    ),
]


def run(
    args: list[str], cwd: Path, log=None, library: Path | None = None
) -> tuple[str, dict[str, float]]:
    """Run a command, its output to `log` as it comes; (output, seconds per DVC stage).

    `tie` and the stages import `library` (default: the clone's own `src`, not the venv's
    editable install of this checkout)."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", DO_NOT_TRACK="true")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    library = library or cwd / "src"
    if (library / "tie").is_dir():
        env["PYTHONPATH"] = str(library)
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines, stages, current, started = [], {}, None, time.monotonic()
    for line in process.stdout:
        lines.append(line)
        if log:
            log.write(line)
            log.flush()
        if line.startswith("Running stage '"):
            now = time.monotonic()
            if current:
                stages[current] = now - started
            current, started = line.split("'")[1], now
    if current:
        stages[current] = time.monotonic() - started
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{''.join(lines[-30:])}")
    return "".join(lines), stages


def prepare(work: Path, archives: Path, log) -> Path:
    """A fresh clone of this repository with the archives accepted (kept between calls)."""
    clone = work / "clone"
    if not (clone / ".git").is_dir():
        work.mkdir(parents=True, exist_ok=True)
        run(["git", "clone", "--quiet", str(REPO), str(clone)], work, log)
        for name, value in (("user.name", "benchmark"), ("user.email", "benchmark@localhost")):
            run(["git", "config", name, value], clone, log)
        page = REPO / ".dvc/plots/offline.html"  # what `make install` adds to a checkout
        if page.is_file():
            shutil.copy2(page, clone / ".dvc/plots/offline.html")
    downloads = clone / "data/downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVES:
        if not (downloads / name).exists():
            shutil.copy2(archives / name, downloads / name)
    if not (downloads / "accepted-checksums.json").exists():
        run(["tie", "data", "fetch", "flickr8k", "--accept-local"], clone, log)
    return clone


def run_row(clone: Path, row: Row, log) -> None:
    run(["git", "checkout", "--", "params.yaml"], clone, log)
    settings = [arg for s in (*BASE, *row.settings) for arg in ("-S", s)]
    started = time.monotonic()
    _, stages = run(["dvc", "exp", "run", "-n", row.name, *settings], clone, log)
    metrics = json.loads((clone / "metrics/retrieval.json").read_text())
    selection = json.loads((clone / "metrics/cca_selection.json").read_text())
    scoring = json.loads((clone / "metrics/scoring_selection.json").read_text())
    row.result = {
        "seconds": time.monotonic() - started,
        "stages": stages,
        "metrics": metrics,
        "selection": selection,
        "scoring": scoring,
    }
    run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics/"], clone, log)


VERDICT_LINE = re.compile(
    r"^(search R@1|annotation R@1|rsum)\s+\S+\s+\S+\s+(\S+)\s+\[.*\]\s+(\S+)\s+(.*)$"
)


def verdict(clone: Path, a: str, b: str, log) -> str:
    """`tie compare a b` on R@1 of both directions and rsum: a - b, p, and the better one."""
    if a == b:
        return "—"
    out, _ = run(["tie", "compare", a, b], clone, log)
    found = []
    for line in out.splitlines():
        match = VERDICT_LINE.match(line)
        if match:
            metric, difference, p_value, said = match.groups()
            said = said.strip().replace("a better", f"{a} better")
            said = said.replace("b better", f"{b} better")
            found.append(f"{metric} {difference} (p {p_value}, {said})")
    return "; ".join(found)


def val_rsum(row: Row) -> float:
    """The row's criterion on val: rsum of its scoring rule's choice (cosine: the CCA's)."""
    scoring = row.result.get("scoring") or {}
    return scoring.get("val_criterion") or row.result["selection"]["val_criterion"]


def scoring_text(row: Row) -> str:
    scoring = dict(row.result.get("scoring") or {"scoring": "cosine"})
    rule = scoring.pop("scoring", "cosine")
    chosen = {
        k: v
        for k, v in scoring.items()
        if k in ("beta", "gallery_beta", "activation_k", "neighbours_k")
    }
    return rule + (
        " (" + ", ".join(f"{k} {v:g}" for k, v in chosen.items()) + ")" if chosen else ""
    )


def backfill_scoring(clone: Path, row: Row, log) -> None:
    """A row measured before its scoring selection was recorded: read it from its
    experiment's commit."""
    if "scoring" in row.result:
        return
    refs, _ = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], clone, log)
    ref = next((r for r in refs.split() if r.endswith(f"/{row.name}")), None)
    if ref is None:
        return
    text = subprocess.run(
        ["git", "show", f"{ref}:metrics/scoring_selection.json"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    row.result["scoring"] = json.loads(text) if text.strip() else {"scoring": "cosine"}


def number(value) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def write_results(output: Path, rows: list[Row], best: Row, verdicts, report: str, info) -> None:
    lines = [
        "# Results on real Flickr8k photos",
        "",
        "Made by `benchmarks/real_flickr8k.py` (the command is in its docstring): every row a",
        "`dvc exp run` on all 8,091 real Flickr8k photos (224x224 copies, see",
        "`../shared/real/README.md`), the official split (6,000 train / 1,000 val / 1,000 test",
        "images, 5 captions each), MobileNet v1 with its ImageNet weights and GloVe 6B 50-d unless",
        "the row says otherwise. **Every row is this project's own number on these copies with",
        "MobileNet**, not Klein et al.'s protocol (VGG19, 300-d word2vec, the original photos).",
        "Every setting was chosen on val (the CCA grid inside the pipeline; the defaults from the",
        "val criterion below); test numbers are reported, never tuned on.",
        "",
        f"Machine: {info['machine']}. Commit {info['commit']} (the clone's). The rows'"
        f" `dvc exp run`s took {info['minutes']:.0f} min in all (a stage DVC restored from its"
        " cache is not re-timed: the image features, computed once, are timed in the first"
        " run's log).",
        "",
        "## Rows",
        "",
        "R@1 / R@5 / R@10 / median rank of the 1,000 test images (image search: 5,000 caption",
        "queries; image annotation: 1,000 image queries). Val: rsum (R@1+R@5+R@10, both",
        "directions) on val of the chosen CCA point, and with a hubness-aware rule of its chosen",
        "params (banks from train): the criterion every choice was made by. Klein et al. (VGG19,",
        "word2vec 300-d, original photos): Mean Vec 19.1 / 45.3 / 60.4 / 7 | 22.6 / 48.8 / 61.2 /",
        "6; GMM+HGLMM 21.2 / 50.0 / 64.8 | 31.0 / 59.3 / 73.7 (R@1 / R@5 / R@10 [/ median]).",
        "",
        "| row | what | val rsum | CCA chosen (n, reg, power) | scoring (chosen) | image search"
        " | image annotation | test rsum | min |",
        "|---|---|---:|---|---|---|---|---:|---:|",
    ]
    for row in rows:
        m, s = row.result["metrics"], row.result["selection"]
        cells = [
            " / ".join(number(m[d][k]) for k in ("R_at_1", "R_at_5", "R_at_10", "median_rank"))
            for d in ("image_search", "image_annotation")
        ]
        chosen = f"{s['n_components']}, {s['reg']:g}, {s['scale_power']:g}"
        lines.append(
            f"| {row.name} | {row.what} | {val_rsum(row):.1f} | {chosen} | {scoring_text(row)} |"
            f" {cells[0]} | {cells[1]} | {m['rsum']:.1f} | {row.result['seconds'] / 60:.1f} |"
        )
    lines += [
        "",
        f"Best row on val: **{best.name}** ({val_rsum(best):.1f}).",
        "",
        "## Paired verdicts",
        "",
        "`tie compare ROW OTHER`: the paired bootstrap on the same test images (1,000 resamples);",
        "the difference ROW - OTHER, and which is better where significant (n.s.: not).",
        "",
        "| row | against its baseline | against the best row on val |",
        "|---|---|---|",
    ]
    for row in rows:
        against_base, against_best = verdicts[row.name]
        lines.append(
            f"| {row.name} | {row.baseline}: {against_base} | {best.name}: {against_best} |"
        )
    lines += [
        "",
        "## Stages",
        "",
        "Seconds per stage of each row's `dvc exp run` (stages DVC skipped or restored from",
        "its cache are not listed).",
        "",
        "| row | stages |",
        "|---|---|",
    ]
    for row in rows:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in row.result["stages"].items())
        lines.append(f"| {row.name} | {stages} |")
    lines += ["", "## `tie report`", "", "With the 95% intervals and the published rows.", ""]
    lines += [report.replace("## Retrieval results", "").strip(), ""]
    output.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("archives", type=Path, help="the folder get-flickr8k wrote")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tie-real-flickr8k"))
    parser.add_argument("--rows", help="comma-separated row names (default: every row)")
    parser.add_argument("--output", type=Path, default=REPO / "docs/results.md")
    parser.add_argument(
        "--again", action="store_true", help="re-run rows an earlier call measured (rows.json)"
    )
    args = parser.parse_args()
    missing = [n for n in ARCHIVES if not (args.archives / n).is_file()]
    if missing:
        raise SystemExit(f"{args.archives}: no {', '.join(missing)} (make them with get-flickr8k)")
    rows = ROWS
    if args.rows:
        wanted = args.rows.split(",")
        unknown = sorted(set(wanted) - {r.name for r in ROWS})
        if unknown:
            raise SystemExit(f"unknown rows {unknown}; rows: {', '.join(r.name for r in ROWS)}")
        rows = [r for r in ROWS if r.name in wanted]
    args.work.mkdir(parents=True, exist_ok=True)
    with open(args.work / "benchmark.log", "a") as log:
        clone = prepare(args.work, args.archives, log)
        done_file = args.work / "rows.json"
        done = json.loads(done_file.read_text()) if done_file.exists() else {}
        for row in rows:
            print(f"{row.name}: {row.what}", flush=True)
            if row.name in done and not args.again:
                row.result = done[row.name]  # measured by an earlier call (its experiment kept)
            else:
                run_row(clone, row, log)
                done[row.name] = row.result
                done_file.write_text(json.dumps(done, indent=1))
            m, s = row.result["metrics"], row.result["selection"]
            print(
                f"  val rsum {s['val_criterion']:.1f}; test R@1 {m['image_search']['R_at_1']:.1f}"
                f" / {m['image_annotation']['R_at_1']:.1f}; {row.result['seconds'] / 60:.1f} min",
                flush=True,
            )
        if args.rows:
            return
        for row in rows:
            backfill_scoring(clone, row, log)
        best = max(rows, key=val_rsum)
        done_verdicts = args.work / "verdicts.json"  # kept: a paired test takes seconds each
        known = json.loads(done_verdicts.read_text()) if done_verdicts.exists() else {}
        for a, b in {(r.name, other) for r in rows for other in (r.baseline, best.name)}:
            if f"{a} {b}" not in known or args.again:
                known[f"{a} {b}"] = verdict(clone, a, b, log)
                done_verdicts.write_text(json.dumps(known, indent=1))
        verdicts = {
            r.name: (known[f"{r.name} {r.baseline}"], known[f"{r.name} {best.name}"]) for r in rows
        }
        # The table as this checkout's `tie report` writes it (the rows' records are the clone's).
        report_file = str(args.work / "report.md")
        report, _ = run(["tie", "report", "--output", report_file], clone, log, REPO / "src")
        commit, _ = run(["git", "rev-parse", "--short", "HEAD"], clone, log)
        info = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "commit": commit.strip(),
            "minutes": sum(r.result["seconds"] for r in rows) / 60,
        }
        write_results(args.output, rows, best, verdicts, report, info)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
