"""Few-shot tasks keep context and targets on disjoint questions; the within-question leakage probe."""

from __future__ import annotations

import numpy as np
import pytest

from raysearch.data.goqa import load_goqa, pairs_from_distribution
from raysearch.data.records import PairRecord
from raysearch.data.synthetic import synthetic_pairs
from raysearch.data.task_leakage import within_question_probe
from raysearch.data.tasks import (
    EVAL_CONTEXT_SIZES,
    TaskSampler,
    context_capacity,
    eval_tasks,
    pairs_by_user,
    question_keys,
    question_of,
    smallest_cover,
)
from raysearch.errors import UserInputError

COUNTRIES = ("Britain", "Mexico", "Nigeria", "Pakistan", "Russia", "Japan")


@pytest.fixture(scope="module")
def goqa_pairs() -> list[PairRecord]:
    """Every option pair of a few GlobalOpinionQA countries (one user = one country; group = the question)."""
    recs = [r for r in load_goqa(None).records if r.community in COUNTRIES]
    return [p for r in recs for p in pairs_from_distribution(r)]


def _shared_questions(task, records) -> set[str]:
    return {records[i].group for i in task.context} & {records[i].group for i in task.target}


def test_goqa_sampler_and_eval_tasks_never_share_a_question(goqa_pairs):
    assert all(question_of(p) == p.group for p in goqa_pairs)
    sampler = TaskSampler(goqa_pairs, n_target=20, max_context=10)
    sizes = set()
    for seed in range(20):
        for t in sampler.sample(32, np.random.default_rng(seed)):
            assert not _shared_questions(t, goqa_pairs), t
            assert len(t.target) == 20 and not set(t.context) & set(t.target)
            sizes.add(len(t.context))
    assert sizes == set(range(11))
    for seed in range(5):
        sets = {c: eval_tasks(goqa_pairs, context_size=c, seed=seed) for c in EVAL_CONTEXT_SIZES}
        for c, tasks in sets.items():
            for t, t0, t10 in zip(tasks, sets[0], sets[10], strict=True):
                assert not _shared_questions(t, goqa_pairs) and len(t.context) == c
                assert t.target == t0.target  # the same targets at every context size
                assert t10.context[:c] == t.context  # nested contexts
    assert eval_tasks(goqa_pairs, context_size=5, seed=1) == eval_tasks(goqa_pairs, context_size=5, seed=1)


def test_pair_disjoint_tasks_share_questions_and_the_probe_sees_it(goqa_pairs):
    tasks = [t for s in range(4) for t in eval_tasks(goqa_pairs, context_size=10, seed=s, disjoint="pair")]
    assert any(_shared_questions(t, goqa_pairs) for t in tasks)
    leaky = within_question_probe(tasks, goqa_pairs)
    assert leaky.decided > 0.2 * leaky.targets and leaky.accuracy > 0.7  # the no-learning rule reads the answers
    clean = [t for s in range(4) for t in eval_tasks(goqa_pairs, context_size=10, seed=s)]
    probe = within_question_probe(clean, goqa_pairs)
    assert probe.targets == len(clean) * 20 and probe.decided == 0 and probe.share == 0.0


def test_probe_counts_wins_minus_losses_within_a_question():
    def p(q: str, c: str, r: str) -> PairRecord:
        return PairRecord(prompt=q, chosen=c, rejected=r, community="X", group=q)

    from raysearch.data.tasks import Task

    recs = [p("q1", "A", "B"), p("q1", "A", "C"), p("q2", "B", "A"), p("q1", "C", "B"), p("q1", "B", "C")]
    # context: q1 A>B, q2 B>A. Target q1 A>C: A +1, C 0 -> decided right; q1 C>B: C 0, B -1 -> right;
    # q1 B>C: B -1, C 0 -> decided wrong.
    probe = within_question_probe([Task(user="X", context=(0, 2), target=(1, 3, 4))], recs)
    assert (probe.targets, probe.decided, probe.correct) == (3, 3, 2)
    assert within_question_probe([Task(user="X", context=(2,), target=(1, 3))], recs).decided == 0


def test_synthetic_pairs_are_their_own_questions_so_tasks_are_a_plain_shuffle():
    users = synthetic_pairs(n_users=12, pairs_per_user=40, seed=1)
    assert all(question_of(p) is None for p in users)  # group is the user: no question
    assert len(set(question_keys(users))) == len(users)
    by = pairs_by_user(users)
    for c in EVAL_CONTEXT_SIZES:
        tasks = eval_tasks(users, context_size=c, seed=4)
        assert tasks == eval_tasks(users, context_size=c, seed=4, disjoint="pair")
        for k, (t, idx) in enumerate(zip(tasks, by.values(), strict=True)):  # the older protocol, exactly
            order = [idx[j] for j in np.random.default_rng([4, k]).permutation(len(idx))]
            assert t.target == tuple(order[:20]) and t.context == tuple(order[20 : 20 + c])


def test_too_few_questions_is_one_line_error():
    recs = [PairRecord(prompt=f"q{q}", chosen=f"a{j}", rejected=f"b{j}", community="Few", group=f"q{q}")
            for q in range(2) for j in range(15)]  # 30 pairs, but on 2 questions of 15
    assert context_capacity(question_keys(recs), 20) == 0
    assert len(eval_tasks(recs, context_size=10, seed=0, disjoint="pair")[0].context) == 10
    with pytest.raises(UserInputError, match="context size 10 is above the 0 pairs user 'Few' has on other questions") as e:
        eval_tasks(recs, context_size=10, seed=0)
    assert "\n" not in str(e.value)
    with pytest.raises(UserInputError, match="disjoint='topic' is invalid"):
        question_keys(recs, disjoint="topic")  # type: ignore[arg-type]


def test_smallest_cover_and_capacity():
    assert sorted(smallest_cover({"a": 15, "b": 15, "c": 20}, 20)) == ["c"]
    assert sorted(smallest_cover({"a": 1, "b": 19, "c": 20}, 20)) in (["a", "b"], ["c"])
    assert smallest_cover({"a": 5}, 20) is None
    assert context_capacity(["a"] * 15 + ["b"] * 15 + ["c"] * 20, 20) == 30
    assert context_capacity(["x"] * 10, 20) == -1
