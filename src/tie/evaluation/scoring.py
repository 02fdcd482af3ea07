"""Hubness-aware scoring (`eval.scoring`): how a query and a candidate are compared.

`cosine` is the protocol's own similarity (`tie.joint.retrieval`, untouched). The
other rules correct the cosine s(q, g) for hubs, candidates that are near many queries,
using banks drawn from the **train** split (never from the queries scored):

- `inverted_softmax` (Smith et al. 2017): exp(beta s(q, g)) / sum_{b in B} exp(beta s(b, g))
  over a bank B of queries (train captions for image search, train images for annotation);
- `qb_norm` (Bogolin et al. 2022, the dynamic inverted softmax): the inverted softmax, only
  for the queries whose top-1 candidate is in the activation set (the top-`activation_k`
  candidates of every bank query); other queries keep the cosine;
- `csls` (Conneau et al. 2018): 2 s(q, g) - r_B(g), where r_B(g) is the mean cosine of g to
  its `neighbours_k` nearest bank queries (the query's own term r_G(q) is the same for all
  its candidates: it cannot change a rank, and is left out);
- `dual_bank` (DBNorm, Wang et al. 2023, as the authors' code computes it): the product of
  two inverted softmaxes, one over the query bank (`beta`), one over a gallery bank, train
  items of the candidates' own kind (`gallery_beta`).

For one query, each rule is the cosine times a constant minus a per-candidate offset (a
log-sum-exp or a mean over a bank), so ranks are computed from log scores:
beta s(q, g) - LSE_b(beta s(b, g)), never the exponentials. The offsets are computed once
per candidate, streaming over the bank block by block (`bank_statistics`), so memory stays
within the budget whatever the bank's size (COCO: 566,000 train captions).

"No information" (an all-zero row, DESIGN.md) ranks last under every rule here: a pair
involving a zero query or a zero candidate scores -inf, all equal, and the tie rule counts
them against the query; zero rows of a bank are left out of the bank. (Under `cosine`, as
ever, a zero row has similarity 0 with everything.)

Ranks follow the protocol's tie rule: rank = 1 + the number of candidates of other owners
whose score is >= the best score of the query's own candidates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from tie.config.registry import HUBNESS_PARAMS, SCORING_PARAMS
from tie.config.schema import Hubness
from tie.features.rows import unit_rows
from tie.joint.retrieval import RSUM_KS, metrics_from_ranks, ranks, rounded, rsum

# Bank rows added up per step of a log-sum-exp: the order of additions does not depend on
# the memory budget (only on the bank), and a step's temporaries stay small.
BANK_STEP = 256
# Bytes per score of a block: the float64 cosines and scores, and at most three float64 or
# int64 temporaries (a rule's terms, a partition's copy, a running count).
_BYTES_PER_SCORE = 5 * np.dtype(np.float64).itemsize


@dataclass(frozen=True)
class Direction:
    """One direction of retrieval with its banks: queries rank the gallery."""

    queries: np.ndarray  # (n_queries, d), unit rows (zero rows: no information)
    gallery: np.ndarray  # (n_gallery, d), unit rows
    query_owner: np.ndarray  # per query: the image it belongs to (or is)
    gallery_owner: np.ndarray  # per candidate: the image it belongs to (or is)
    query_bank: np.ndarray  # train rows of the queries' kind, unit, no zero rows
    gallery_bank: np.ndarray  # train rows of the candidates' kind, unit, no zero rows


@dataclass
class BankStatistics:
    """What the rules need of the banks, per candidate of the gallery."""

    lse: dict = field(default_factory=dict)  # beta -> LSE_{b in query bank} beta s(b, g)
    gallery_lse: dict = field(default_factory=dict)  # beta -> the same over the gallery bank
    active: dict = field(default_factory=dict)  # activation_k -> candidates in the set (bool)
    neighbours: dict = field(default_factory=dict)  # k -> mean of the k largest s(b, g)


def directions(images, captions, caption_image_index, train_images, train_captions):
    """(image search, image annotation), each with its banks from the train rows given."""
    images, captions = unit_rows(images), unit_rows(captions)
    image_bank, caption_bank = _bank(train_images), _bank(train_captions)
    index = np.asarray(caption_image_index, dtype=np.int64)
    owners = np.arange(len(images))
    search = Direction(captions, images, index, owners, caption_bank, image_bank)
    annotation = Direction(images, captions, owners, index, image_bank, caption_bank)
    return search, annotation


def grid_points(rule: str, hubness: Hubness) -> list[dict]:
    """Every combination of the values `eval.hubness` gives the params of `rule`, in order."""
    names = SCORING_PARAMS[rule]
    values = [_as_list(getattr(hubness, name)) for name in names]
    return [dict(zip(names, point, strict=True)) for point in itertools.product(*values)]


def bank_statistics(direction: Direction, points: list[dict], budget_bytes: float):
    """The bank statistics every point of `points` needs, each bank read once."""
    wanted = {name: sorted({p[name] for p in points if name in p}) for name in HUBNESS_PARAMS}
    stats = BankStatistics()
    zero_gallery = ~direction.gallery.any(axis=1)
    if wanted["beta"] or wanted["activation_k"] or wanted["neighbours_k"]:
        lse, top, neighbours = _stream_bank(
            direction.query_bank,
            direction.gallery,
            wanted["beta"],
            max(wanted["activation_k"], default=0),
            max(wanted["neighbours_k"], default=0),
            zero_gallery,
            budget_bytes,
        )
        stats.lse = lse
        for k in wanted["activation_k"]:
            active = np.zeros(len(direction.gallery), dtype=bool)
            active[top[:, :k].ravel()] = True
            stats.active[k] = active & ~zero_gallery
        for k in wanted["neighbours_k"]:
            stats.neighbours[k] = neighbours[:k].sum(axis=0) / len(neighbours[:k])
    if wanted["gallery_beta"]:
        stats.gallery_lse, _, _ = _stream_bank(
            direction.gallery_bank,
            direction.gallery,
            wanted["gallery_beta"],
            0,
            0,
            zero_gallery,
            budget_bytes,
        )
    return stats


def rule_scores(rule: str, point: dict, raw, stats: BankStatistics, zero_queries, zero_gallery):
    """The scores of a block of queries (`raw`: their cosines with the gallery) by `rule`."""
    if rule == "cosine":
        scores = raw.copy()
    elif rule == "inverted_softmax":
        scores = point["beta"] * raw - stats.lse[point["beta"]]
    elif rule == "qb_norm":
        top1 = np.argmax(np.where(zero_gallery, -np.inf, raw), axis=1)  # ties: the first
        activated = stats.active[point["activation_k"]][top1]
        normalised = point["beta"] * raw - stats.lse[point["beta"]]
        scores = np.where(activated[:, None], normalised, raw)
    elif rule == "csls":
        scores = 2 * raw - stats.neighbours[point["neighbours_k"]]
    elif rule == "dual_bank":
        beta, gallery_beta = point["beta"], point["gallery_beta"]
        scores = (beta + gallery_beta) * raw - stats.lse[beta] - stats.gallery_lse[gallery_beta]
    else:
        raise ValueError(f"unknown scoring rule {rule!r}")
    scores[zero_queries] = -np.inf
    scores[:, zero_gallery] = -np.inf
    return scores


def direction_ranks(
    direction: Direction, rule: str, points: list[dict], budget_bytes: float, stats=None
) -> list[np.ndarray]:
    """The ranks of the queries of `direction` under `rule`, one array per point."""
    stats = bank_statistics(direction, points, budget_bytes) if stats is None else stats
    n_queries, n_gallery = len(direction.queries), len(direction.gallery)
    zero_queries = ~direction.queries.any(axis=1)
    zero_gallery = ~direction.gallery.any(axis=1)
    out = [np.empty(n_queries, dtype=np.int64) for _ in points]
    step = max(1, int(budget_bytes // (n_gallery * _BYTES_PER_SCORE)))
    for start in range(0, n_queries, step):
        stop = min(start + step, n_queries)
        raw = direction.queries[start:stop] @ direction.gallery.T
        own = direction.gallery_owner[None, :] == direction.query_owner[start:stop, None]
        for point_ranks, point in zip(out, points, strict=True):
            scores = rule_scores(rule, point, raw, stats, zero_queries[start:stop], zero_gallery)
            best_own = np.where(own, scores, -np.inf).max(axis=1)
            at_least = (scores >= best_own[:, None]) & ~own
            point_ranks[start:stop] = 1 + np.count_nonzero(at_least, axis=1)
    return out


def hubness_ranks(rule, point, images, captions, caption_image_index, bank, budget_bytes):
    """(search ranks, annotation ranks) of the test rows under `rule` with params `point`.

    `bank` is (train image rows, train caption rows) in the joint space.
    """
    search, annotation = directions(images, captions, caption_image_index, *bank)
    (search_ranks,) = direction_ranks(search, rule, [point], budget_bytes)
    (annotation_ranks,) = direction_ranks(annotation, rule, [point], budget_bytes)
    return search_ranks, annotation_ranks


def _stream_bank(bank, gallery, betas, top_k, neighbours_k, zero_gallery, budget_bytes):
    """One pass over the bank's rows against every candidate.

    Returns (beta -> LSE_b beta s(b, g) per candidate; each bank row's `top_k` best
    candidates, best first, ties to the lower index, zero candidates never; the
    `neighbours_k` largest s(b, g) per candidate, descending).
    """
    n_gallery = len(gallery)
    rows = int(budget_bytes // (n_gallery * _BYTES_PER_SCORE)) // BANK_STEP * BANK_STEP
    rows = max(BANK_STEP, rows)
    peak = {beta: np.full(n_gallery, -np.inf) for beta in betas}
    total = {beta: np.zeros(n_gallery) for beta in betas}
    top = np.empty((len(bank), min(top_k, n_gallery)), dtype=np.int64)
    largest = np.full((0, n_gallery), -np.inf)
    for start in range(0, len(bank), rows):
        stop = min(start + rows, len(bank))
        block = bank[start:stop] @ gallery.T
        for step in range(0, stop - start, BANK_STEP):
            part = block[step : step + BANK_STEP]
            for beta in betas:  # online log-sum-exp: rescale the sum to the new maximum
                new_peak = np.maximum(peak[beta], beta * part.max(axis=0))
                total[beta] = total[beta] * np.exp(peak[beta] - new_peak) + np.exp(
                    beta * part - new_peak
                ).sum(axis=0)
                peak[beta] = new_peak
        if top_k:
            top[start:stop] = top_items(np.where(zero_gallery, -np.inf, block), top.shape[1])
        if neighbours_k:
            merged = np.concatenate([largest, block])
            keep = min(neighbours_k, len(merged))
            largest = np.partition(merged, len(merged) - keep, axis=0)[len(merged) - keep :]
    lse = {beta: peak[beta] + np.log(total[beta]) for beta in betas}
    return lse, top, -np.sort(-largest, axis=0)


def top_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Each row's k best columns, best first; equal scores: the lower column first."""
    if k == 1:
        return np.argmax(scores, axis=1)[:, None]  # the first of equal maxima
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # each row's k-th largest value
    above, tied = scores > kth, scores == kth
    need = k - np.count_nonzero(above, axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))
    columns = np.nonzero(chosen)[1].reshape(len(scores), k)  # ascending within each row
    values = np.take_along_axis(scores, columns, axis=1)
    order = np.lexsort((columns, -values), axis=1)
    return np.take_along_axis(columns, order, axis=1)


def _bank(rows) -> np.ndarray:
    """A bank: the train rows as unit vectors, without the zero rows (no information)."""
    rows = unit_rows(rows)
    rows = rows[rows.any(axis=1)]
    if not len(rows):
        raise ValueError("the train split has no non-zero rows to make a bank of")
    return rows


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass
class ScoringChoice:
    """A rule and its params chosen on val, with the val numbers of every point tried."""

    rule: str
    params: dict  # the chosen point: {} for cosine
    table: list[dict] = field(default_factory=list)  # per point: its params and val numbers
    cosine_criterion: float | None = None  # val rsum by cosine, for comparison

    def selection(self) -> dict:
        """The selection file's content (numbers, and the rule's name)."""
        chosen = next((row for row in self.table if _point_of(row) == self.params), None)
        out = {"scoring": self.rule, **self.params}
        if chosen is not None:
            out["val_criterion"] = chosen["criterion"]
            out["cosine_val_criterion"] = self.cosine_criterion
        out["grid_points"] = len(self.table)
        if self.table:
            out["val_grid"] = {_point_name(_point_of(row)): row["criterion"] for row in self.table}
        return out

    def describe(self) -> str:
        return describe_scoring(self.rule, self.params)


def describe_scoring(rule: str, params: dict) -> str:
    """`qb_norm (beta=20, activation_k=1)`; `cosine`."""
    details = ", ".join(f"{name}={value}" for name, value in params.items())
    return f"{rule} ({details})" if details else rule


def choose_on_val(rule, hubness, images, captions, caption_image_index, bank, memory_budget_mb):
    """The point of `rule`'s grid (`eval.hubness`) with the best rsum on val.

    `images`, `captions`, `caption_image_index`: the val split in the joint space, its
    queries ranked against its own candidates; `bank`: (train image rows, train caption
    rows). Each bank is read once for the whole grid. Ties go to the first point in the
    order the values are listed.
    """
    if rule == "cosine":
        return ScoringChoice(rule, {})
    budget_bytes = memory_budget_mb * 2**20
    points = grid_points(rule, hubness)
    search, annotation = directions(images, captions, caption_image_index, *bank)
    search_ranks = direction_ranks(search, rule, points, budget_bytes)
    annotation_ranks = direction_ranks(annotation, rule, points, budget_bytes)
    table = []
    for point, s, a in zip(points, search_ranks, annotation_ranks, strict=True):
        metrics = metrics_from_ranks(s, a, RSUM_KS)
        recalls = {
            f"{direction}_R_at_{k}": rounded(values[f"R_at_{k}"])
            for direction, values in metrics.items()
            for k in RSUM_KS
        }
        table.append({**point, **recalls, "criterion": rsum(s, a)})
    best = max(table, key=lambda row: row["criterion"])  # max keeps the first of equals
    cosine = rsum(*ranks(images, captions, caption_image_index, memory_budget_mb))
    return ScoringChoice(rule, _point_of(best), table, cosine)


def ranks_function(choice: ScoringChoice, bank, memory_budget_mb):
    """(images, captions, caption_image_index) -> (search ranks, annotation ranks) by the
    rule chosen; `cosine` is the protocol's own `tie.joint.retrieval.ranks`."""
    if choice.rule == "cosine":
        return lambda images, captions, index: ranks(images, captions, index, memory_budget_mb)
    budget_bytes = memory_budget_mb * 2**20

    def rank(images, captions, index):
        return hubness_ranks(
            choice.rule, choice.params, images, captions, index, bank, budget_bytes
        )

    return rank


def _point_of(row: dict) -> dict:
    return {name: row[name] for name in HUBNESS_PARAMS if name in row}


def _point_name(point: dict) -> str:
    return " ".join(f"{name}={value}" for name, value in point.items())
