"""A leakage probe for few-shot tasks: how many targets a rule with no learning decides from the context.

The rule: for a target pair ``q: a ≻ b``, score each option by its wins minus losses among the
task's context pairs *of the same question* ``q``, and predict the option with the higher score
(no prediction on a tie, e.g. when no context pair shares ``q``). On GlobalOpinionQA, a country's
pairs of one question all come from one answer distribution, so "q: a ≻ c" in the context tells
that ``a`` is popular and predicts "q: a ≻ b". If tasks allow that, a context "helps" without any
learning about the user. With question-disjoint tasks (``raysearch.data.tasks``, the default) the
rule decides no target at all; a nonzero share means the protocol leaks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from raysearch.data.records import PairRecord
from raysearch.data.tasks import Task, question_of


@dataclass(frozen=True)
class LeakageProbe:
    """Targets scored, targets the within-question rule decides, and how many of those it gets right."""

    targets: int
    decided: int
    correct: int

    @property
    def share(self) -> float:
        """Share of targets decided (0 when there are no targets)."""
        return self.decided / self.targets if self.targets else 0.0

    @property
    def accuracy(self) -> float:
        """Accuracy on the decided targets (NaN when none is decided)."""
        return self.correct / self.decided if self.decided else float("nan")

    def __add__(self, other: LeakageProbe) -> LeakageProbe:
        return LeakageProbe(self.targets + other.targets, self.decided + other.decided, self.correct + other.correct)

    def line(self) -> str:
        """One readable line: share decided and accuracy on them."""
        acc = f"{100 * self.accuracy:.1f}%" if self.decided else "n/a"
        return (f"decides {self.decided} of {self.targets} targets ({100 * self.share:.1f}%), "
                f"accuracy on them {acc}")


def _question(record: PairRecord, index: int) -> str:
    q = question_of(record)
    return f"\x00pair{index}" if q is None else q


def within_question_probe(tasks: Iterable[Task], records: Sequence[PairRecord]) -> LeakageProbe:
    """The no-learning rule of the module docstring over every target pair of ``tasks`` (indices into ``records``)."""
    targets = decided = correct = 0
    for t in tasks:
        score: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for i in t.context:
            r = records[i]
            s = score[_question(r, i)]
            s[r.chosen] += 1
            s[r.rejected] -= 1
        for i in t.target:
            r = records[i]
            targets += 1
            q = _question(r, i)
            if q not in score:
                continue
            sc, sr = score[q].get(r.chosen, 0), score[q].get(r.rejected, 0)
            if sc != sr:
                decided += 1
                correct += int(sc > sr)
    return LeakageProbe(targets=targets, decided=decided, correct=correct)
