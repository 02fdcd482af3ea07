"""Published retrieval numbers as data, and as git tags that `dvc metrics diff` can read.

`metrics/baselines/published.csv` holds one record per row of a published table (one
direction of one method on one dataset), with its source. A number the source does
not give is an empty cell and stays absent (never zero) in everything built from it.

Each record also gives the protocol its numbers were measured on, `n_test_images` and
`n_test_captions` (empty when the source does not state it): numbers are compared only
when dataset and protocol match (`tie.results.report_table`).

`create_tags` turns each (baseline, dataset) pair into a git tag `<baseline>/<dataset>`
(e.g. `klein2015/flickr8k`) on a commit whose tree is HEAD's with
`metrics/retrieval.json` replaced by the published numbers and their protocol counts
(`n_queries`, `n_candidates` per direction, as the evaluate stage writes them), and
without the records of HEAD's own run (`dvc.lock`, the CCA selection and grid), so that
nothing of the workspace's run can be read as the paper's. It uses git plumbing and a
temporary index only, so the working tree, the index and the current branch are left
exactly as they were.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tie.config.paths import CCA_GRID, CCA_SELECTION, RETRIEVAL, SCORING_SELECTION
from tie.errors import TieError
from tie.joint.retrieval import DIRECTIONS

BASELINES_FILE = Path("metrics/baselines/published.csv")
METRICS_FILE = RETRIEVAL
# Records of HEAD's own run, which a `dvc metrics diff` against a baseline's tag would
# otherwise show as the baseline's values: left out of its commit, or (metrics files
# DVC expects at every revision) emptied.
RUN_RECORD_FILES = ("dvc.lock", CCA_GRID)
EMPTIED_METRICS_FILES = (CCA_SELECTION, SCORING_SELECTION)
METRIC_KEYS = ("R_at_1", "R_at_5", "R_at_10", "median_rank", "mean_rank")


@dataclass(frozen=True)
class Baseline:
    """The published numbers of one method on one dataset, both directions."""

    name: str  # e.g. klein2015
    dataset: str  # e.g. flickr8k
    method: str  # the row's label in its table
    source: str
    metrics: dict  # {"image_search": {...}, "image_annotation": {...}}, given numbers only
    n_test_images: int | None = None  # the protocol; None: the source does not state it
    n_test_captions: int | None = None

    @property
    def tag(self) -> str:
        return f"{self.name}/{self.dataset}"

    def metrics_with_protocol(self) -> dict:
        """The metrics, with the protocol counts where known: the tag's metrics file."""
        if self.n_test_images is None or self.n_test_captions is None:
            return self.metrics
        counts = {
            "image_search": {"n_queries": self.n_test_captions, "n_candidates": self.n_test_images},
            "image_annotation": {
                "n_queries": self.n_test_images,
                "n_candidates": self.n_test_captions,
            },
        }
        return {d: values | counts[d] for d, values in self.metrics.items()}


def load_baselines(path: Path = BASELINES_FILE) -> list[Baseline]:
    """The records of `path`, grouped by (baseline, dataset), in file order."""
    path = Path(path)
    if not path.exists():
        raise TieError(f"{path} not found: run from the repository root")
    grouped: dict[tuple[str, str], dict] = {}
    with path.open(newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["direction"] not in DIRECTIONS:
                raise TieError(
                    f"{path}:{line}: direction {row['direction']!r} is not one of {DIRECTIONS}"
                )
            entry = grouped.setdefault(
                (row["baseline"], row["dataset"]),
                {"method": row["method"], "sources": [], "metrics": {}, "protocol": {}},
            )
            for key in ("n_test_images", "n_test_captions"):
                if (row.get(key) or "").strip():
                    entry["protocol"][key] = int(row[key])
            if row["source"] not in entry["sources"]:
                entry["sources"].append(row["source"])
            entry["metrics"][row["direction"]] = {
                key: float(row[key]) for key in METRIC_KEYS if row[key].strip()
            }
    return [
        Baseline(
            name=name,
            dataset=dataset,
            method=entry["method"],
            source="; ".join(entry["sources"]),
            metrics={d: entry["metrics"][d] for d in DIRECTIONS if d in entry["metrics"]},
            **entry["protocol"],
        )
        for (name, dataset), entry in grouped.items()
    ]


def _git(args: list[str], cwd: Path, stdin: str | None = None, env: dict | None = None) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise TieError(f"`git {' '.join(args)}` failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


def _tag_exists(repo: Path, tag: str) -> bool:
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}"],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def create_tags(repo: Path, baselines: list[Baseline], force: bool = False) -> dict[str, str]:
    """Tag one commit per baseline; returns {tag: "created" | "updated" | "exists"}.

    Each commit's parent is HEAD and its tree is HEAD's tree with `metrics/retrieval.json`
    holding the baseline's numbers. Existing tags are kept unless `force`.
    """
    repo = Path(repo)
    head = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode != 0:
        raise TieError(f"{repo} has no commit yet: commit your work, then run `tie baseline`")
    head_commit = head.stdout.strip()
    outcome = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        for baseline in baselines:
            exists = _tag_exists(repo, baseline.tag)
            if exists and not force:
                outcome[baseline.tag] = "exists"
                continue
            content = json.dumps(baseline.metrics_with_protocol(), indent=2) + "\n"
            blob = _git(["hash-object", "-w", "--stdin"], repo, stdin=content)
            _git(["read-tree", head_commit], repo, env=index)
            _git(
                ["rm", "--cached", "--quiet", "--ignore-unmatch", *RUN_RECORD_FILES],
                repo,
                env=index,
            )
            empty = _git(["hash-object", "-w", "--stdin"], repo, stdin="{}\n")
            for path in EMPTIED_METRICS_FILES:
                _git(
                    ["update-index", "--add", "--cacheinfo", f"100644,{empty},{path}"],
                    repo,
                    env=index,
                )
            _git(
                ["update-index", "--add", "--cacheinfo", f"100644,{blob},{METRICS_FILE}"],
                repo,
                env=index,
            )
            tree = _git(["write-tree"], repo, env=index)
            message = (
                f"Published baseline {baseline.tag}: {baseline.method}\n\n"
                f"Source: {baseline.source}\n"
                f"{METRICS_FILE} holds the published numbers; the rest of the tree is"
                f" {head_commit}'s, without the records of its own run"
                f" ({', '.join(RUN_RECORD_FILES + EMPTIED_METRICS_FILES)}).\n"
            )
            commit = _git(["commit-tree", tree, "-p", head_commit], repo, stdin=message)
            _git(["update-ref", f"refs/tags/{baseline.tag}", commit], repo)
            outcome[baseline.tag] = "updated" if exists else "created"
    return outcome


def existing_tags(repo: Path, baselines: list[Baseline]) -> list[str]:
    """The tags of `baselines` that exist in `repo`."""
    return [b.tag for b in baselines if _tag_exists(Path(repo), b.tag)]


def remove_tags(repo: Path, baselines: list[Baseline]) -> list[str]:
    """Delete the tags of `baselines` that exist (never another tag); the deleted ones."""
    tags = existing_tags(repo, baselines)
    if tags:
        _git(["tag", "-d", *tags], Path(repo))
    return tags
