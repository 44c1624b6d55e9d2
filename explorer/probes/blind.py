"""The plan of a blind comparison over a probe run: which two answers to show, and which one is "A".

Every pair of columns that both answered a question (no error) is one item. Within a question the
pairs come in a shuffled order and each pair's sides are swapped at random, from a generator seeded by
the run's seed and the question, so the same seed gives the same plan and no position favours a file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations

from explorer.probes.results import ProbeRun
from explorer.probes.votes import Outcome, Vote, VoteSide


@dataclass(frozen=True)
class BlindItem:
    question_id: str
    a_key: str  # column keys of the run
    b_key: str


def blind_items(run: ProbeRun, seed: int) -> list[BlindItem]:
    """The pairs to vote on, question by question in the run's order."""
    items: list[BlindItem] = []
    for q in run.questions:
        answered = [k for k in run.files if (c := run.cell(q.id, k)) is not None and not c.error]
        rng = random.Random(f"{seed}:{q.id}")
        pairs = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in combinations(answered, 2)]
        rng.shuffle(pairs)
        items += [BlindItem(q.id, a, b) for a, b in pairs]
    return items


def side(run: ProbeRun, key: str) -> VoteSide:
    col = run.column(key)
    return VoteSide(file=col.file, label=col.name, sha256=col.sha256, settings=dict(col.settings or run.settings))


def make_vote(run: ProbeRun, item: BlindItem, outcome: Outcome, now: datetime) -> Vote:
    q = next(q for q in run.questions if q.id == item.question_id)
    return Vote(set_name=run.set_name, question_id=q.id, question_text=q.text, question_suffix=q.suffix,
                a=side(run, item.a_key), b=side(run, item.b_key), outcome=outcome,
                time=now.isoformat(timespec="seconds"))
