"""The leaderboard: a Bradley-Terry rating of the files from the blind votes, with a 95% interval.

- Each vote is one comparison between its two sides' keys (`VoteSide.key`: the sha256, else the path).
  A win counts 1 to the winner; a tie and a "both bad" count half a win to each side, as in LMSYS's
  arena. A vote of a file against itself (two columns of one file) says nothing about the file: ignored.
- Strengths come from the MM algorithm (Hunter 2004, "MM algorithms for generalized Bradley-Terry
  models"): p_i <- W_i / sum_j n_ij / (p_i + p_j), repeated until no strength moves by more than 1e-9
  of itself (or 10000 rounds).
- The prior: one virtual tie between every pair that was compared. It keeps a side that won everything
  finite, and for two entries gives p_a / p_b = (wins + (ties + 1) / 2) / (losses + (ties + 1) / 2).
- The scale is Elo-like: 1000 + 400 * log10(p_i / geometric mean of p). Entries that were never
  compared, even through others, cannot be placed on one scale: each connected group is centred on
  1000 by itself.
- The 95% interval is the wider of two: the 2.5 and 97.5 percentiles of the rating over `rounds`
  resamplings of the votes with replacement (seeded, so the same votes give the same interval), and
  the Wald interval, rating ± 1.96 standard errors from the model's Fisher information (with the
  prior's ties). The bootstrap alone collapses on a handful of votes (one vote, resampled, is always
  that vote: a zero-width interval on the least evidence there is); the Wald interval is wide there
  and the bootstrap takes over as votes pile up and disagree.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from explorer.probes.votes import Outcome, Vote

BASE = 1000.0
SCALE = 400.0
TOLERANCE = 1e-9
MAX_ITERATIONS = 10000
PRIOR_TIES = 1  # virtual ties between every pair that was compared


@dataclass(frozen=True)
class Rating:
    key: str  # the sha256, or the path when the hash was not known
    label: str  # the latest label a vote gave it
    file: str  # the latest path a vote gave it
    rating: float
    low: float  # 95% interval (see the module's doc)
    high: float
    votes: int
    wins: int
    losses: int
    ties: int  # ties and "both bad"
    both_bad: int  # of the ties, those voted "both bad"


Pair = tuple[str, str]  # (a, b) keys with a < b


def _scores(votes: Iterable[Vote]) -> tuple[dict[Pair, float], dict[Pair, int]]:
    """Per pair (a < b): a's score (wins + half the ties) and the number of votes."""
    score: dict[Pair, float] = {}
    count: dict[Pair, int] = {}
    for v in votes:
        a, b = v.a.key, v.b.key
        s = {Outcome.A: 1.0, Outcome.B: 0.0}.get(v.outcome, 0.5)
        if a > b:
            a, b, s = b, a, 1.0 - s
        score[(a, b)] = score.get((a, b), 0.0) + s
        count[(a, b)] = count.get((a, b), 0) + 1
    return score, count


def _components(keys: Iterable[str], pairs: Iterable[Pair]) -> list[list[str]]:
    parent = {k: k for k in keys}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for k in sorted(parent):
        groups.setdefault(root(k), []).append(k)
    return list(groups.values())


def strengths(score: dict[Pair, float], count: dict[Pair, int],
              start: dict[str, float] | None = None) -> dict[str, float]:
    """Bradley-Terry strengths by MM, with the prior's virtual ties; each connected group has geometric mean 1."""
    wins: dict[str, float] = {}
    games: dict[str, list[tuple[str, float]]] = {}  # key -> (opponent, comparisons with the prior)
    for (a, b), n in count.items():
        s = score[(a, b)]
        wins[a] = wins.get(a, 0.0) + s + PRIOR_TIES / 2
        wins[b] = wins.get(b, 0.0) + (n - s) + PRIOR_TIES / 2
        games.setdefault(a, []).append((b, n + PRIOR_TIES))
        games.setdefault(b, []).append((a, n + PRIOR_TIES))
    out: dict[str, float] = {}
    for group in _components(wins, count):
        p = {k: (start or {}).get(k, 1.0) for k in group}
        for _ in range(MAX_ITERATIONS):
            new = {k: wins[k] / sum(n / (p[k] + p[j]) for j, n in games[k]) for k in group}
            mean = math.exp(sum(math.log(x) for x in new.values()) / len(new))
            new = {k: x / mean for k, x in new.items()}
            change = max(abs(new[k] - p[k]) / p[k] for k in group)
            p = new
            if change < TOLERANCE:
                break
        out.update(p)
    return out


def standard_errors(count: dict[Pair, int], p: dict[str, float]) -> dict[str, float]:
    """Each strength's standard error on the rating scale, from the Fisher information of the log
    strengths: the weighted Laplacian L with L_ij = -(n_ij + prior) p_i p_j / (p_i + p_j)^2 for a
    compared pair. Within a connected group (ratings centred on their mean) the covariance is L's
    pseudo-inverse, (L + J/m)^-1 - J/m for a group of m."""
    weight: dict[Pair, float] = {}
    for (a, b), n in count.items():
        weight[(a, b)] = (n + PRIOR_TIES) * p[a] * p[b] / (p[a] + p[b]) ** 2
    out: dict[str, float] = {}
    for group in _components(p, count):
        m = len(group)
        index = {k: i for i, k in enumerate(group)}
        lap = [[1.0 / m] * m for _ in range(m)]
        for (a, b), w in weight.items():
            if a in index:
                i, j = index[a], index[b]
                lap[i][i] += w
                lap[j][j] += w
                lap[i][j] -= w
                lap[j][i] -= w
        inv = _inverse(lap)
        for k, i in index.items():
            var = max(0.0, inv[i][i] - 1.0 / m)
            out[k] = SCALE / math.log(10) * math.sqrt(var)
    return out


def _inverse(a: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting (the matrices here are small and positive definite)."""
    m = len(a)
    rows = [list(r) + [1.0 if i == j else 0.0 for j in range(m)] for i, r in enumerate(a)]
    for c in range(m):
        pivot = max(range(c, m), key=lambda r: abs(rows[r][c]))
        rows[c], rows[pivot] = rows[pivot], rows[c]
        d = rows[c][c]
        rows[c] = [x / d for x in rows[c]]
        for r in range(m):
            if r != c and rows[r][c]:
                f = rows[r][c]
                rows[r] = [x - f * y for x, y in zip(rows[r], rows[c], strict=True)]
    return [r[m:] for r in rows]


Z95 = 1.959964


def to_scale(p: float) -> float:
    return BASE + SCALE * math.log10(p)


def _percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0..1) of sorted `values`, interpolated linearly."""
    at = q * (len(values) - 1)
    lo = math.floor(at)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (at - lo)


def leaderboard(votes: Iterable[Vote], set_name: str | None = None, *, rounds: int = 200, seed: int = 0,
                check: Callable[[], None] | None = None) -> list[Rating]:
    """The files ranked best first from `votes` (of `set_name` only, or all when None).

    `check` is called between bootstrap rounds; it may raise to stop the work (a superseded UI task)."""
    chosen = [v for v in votes if (set_name is None or v.set_name == set_name) and v.a.key != v.b.key]
    if not chosen:
        return []
    score, count = _scores(chosen)
    p = strengths(score, count)
    se = standard_errors(count, p)
    samples: dict[str, list[float]] = {k: [] for k in p}
    rng = random.Random(seed)
    for _ in range(rounds):
        if check is not None:
            check()
        resample = [chosen[rng.randrange(len(chosen))] for _ in chosen]
        for k, x in strengths(*_scores(resample), start=p).items():
            samples[k].append(to_scale(x))
    tally: dict[str, list[int]] = {k: [0, 0, 0, 0] for k in p}  # wins, losses, ties, both bad
    names: dict[str, tuple[str, str]] = {}
    for v in chosen:
        for side, win, loss in ((v.a, Outcome.A, Outcome.B), (v.b, Outcome.B, Outcome.A)):
            counts = tally[side.key]
            counts[0 if v.outcome is win else 1 if v.outcome is loss else 2] += 1
            counts[3] += v.outcome is Outcome.BOTH_BAD
            names[side.key] = (side.name, side.file)
    out = []
    for k, x in p.items():
        rating = to_scale(x)
        s = sorted(samples[k])
        low, high = (_percentile(s, 0.025), _percentile(s, 0.975)) if s else (rating, rating)
        wald = Z95 * se[k]
        w, lost, t, bad = tally[k]
        out.append(Rating(key=k, label=names[k][0], file=names[k][1], rating=rating, low=min(low, rating - wald),
                          high=max(high, rating + wald), votes=w + lost + t, wins=w, losses=lost, ties=t, both_bad=bad))
    out.sort(key=lambda r: (-r.rating, -r.votes, r.label))
    return out
