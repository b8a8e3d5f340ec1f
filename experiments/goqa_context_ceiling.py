"""How much can a few choices of an unseen country tell about its other choices? A low-rank reference.

A model that needs no text and no meta-learning: logistic matrix factorization on *option IDs*.
Every option ``i`` (a question's answer) gets a bias ``b_i`` and a factor ``v_i`` in R^K, every
training country ``c`` a factor ``u_c``; ``P(i ≻ j | c) = σ(b_i − b_j + u_c · (v_i − v_j))``, fit by
L-BFGS on the training countries' pairs with an L2 penalty ``lam``. An unseen country's ``u`` is the
MAP estimate from its context pairs alone (prior ``N(0, I / lam_user)``); with no context ``u = 0``,
which is a Bradley–Terry model on option IDs. It is scored on exactly the held-out users, target
pairs and nested contexts of ``experiments/npbtl_goqa.py`` (same split, same seeds, context and
targets on disjoint questions unless ``--disjoint pair``), so the two tables compare row for row.
K, lam and lam_user are picked per split on its validation countries; test is printed only at the end. It can only rank options it saw in training, which ``--pairs contested``
nearly guarantees (those pairs are picked from the training countries' own pairs; an option only a
dropped training country answered is scored as a tie, i.e. wrong).

    python experiments/goqa_context_ceiling.py --pairs contested --seeds 0 1 2 3 4 5 6 7 8 9
    python experiments/goqa_context_ceiling.py --smoke-test
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from raysearch.data.records import PairRecord
from raysearch.data.tasks import DISJOINT, EVAL_CONTEXT_SIZES, Task, user_of
from raysearch.errors import UserInputError, run_cli
from raysearch.methods.npbtl.config import NpbtlConfig
from raysearch.methods.npbtl.data import goqa_split
from raysearch.methods.npbtl.report import markdown_table, pooled_curve
from raysearch.methods.npbtl.step import eval_task_sets


def _ids(records: Sequence[PairRecord], items: dict[tuple[str, str], int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Option indices of each pair; an option no training pair holds maps to the last (all-zero) row."""
    c = torch.tensor([items.get((p.prompt, p.chosen), len(items)) for p in records])
    r = torch.tensor([items.get((p.prompt, p.rejected), len(items)) for p in records])
    return c, r


def fit_factors(train: Sequence[PairRecord], *, rank: int, lam: float, seed: int,
                ) -> tuple[dict[tuple[str, str], int], torch.Tensor, torch.Tensor]:
    """Option index, biases ``b [I + 1]`` and factors ``v [I + 1, K]`` fit on the training users' pairs.

    Row ``I`` is all zeros: an option never seen in training ties with any other unseen one (a tie
    counts wrong), so the reference is scored on exactly the same pairs as the NP-BTL run.
    """
    items: dict[tuple[str, str], int] = {}
    for p in train:
        for o in (p.chosen, p.rejected):
            items.setdefault((p.prompt, o), len(items))
    users = {u: k for k, u in enumerate(sorted({user_of(p) for p in train}))}
    ci, ri = _ids(train, items)
    ui = torch.tensor([users[user_of(p)] for p in train])
    g = torch.Generator().manual_seed(seed)
    b = torch.zeros(len(items), dtype=torch.float64, requires_grad=True)
    v = (0.1 * torch.randn(len(items), rank, generator=g, dtype=torch.float64)).requires_grad_()
    u = (0.1 * torch.randn(len(users), rank, generator=g, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.LBFGS([b, v, u], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        s = b[ci] - b[ri] + (u[ui] * (v[ci] - v[ri])).sum(-1)
        loss = -F.logsigmoid(s).sum() + 0.5 * lam * (v.square().sum() + u.square().sum() + 1e-2 * b.square().sum())
        loss.backward()
        return loss

    opt.step(closure)
    zero = torch.zeros(1, rank, dtype=v.dtype)
    return items, torch.cat([b.detach(), zero[:, 0]]), torch.cat([v.detach(), zero])


def user_factor(ctx: Sequence[PairRecord], items: dict[tuple[str, str], int], v: torch.Tensor, b: torch.Tensor, *,
                lam_user: float) -> torch.Tensor:
    """MAP ``u`` of one unseen user from its context pairs (``0`` for an empty context)."""
    u = torch.zeros(v.shape[1], dtype=v.dtype, requires_grad=True)
    if not ctx:
        return u.detach()
    ci, ri = _ids(ctx, items)
    d, off = v[ci] - v[ri], b[ci] - b[ri]
    opt = torch.optim.LBFGS([u], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -F.logsigmoid(off + d @ u).sum() + 0.5 * lam_user * u.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return u.detach()


def score(tasks: Sequence[Task], records: Sequence[PairRecord], items: dict[tuple[str, str], int], b: torch.Tensor,
          v: torch.Tensor, *, lam_user: float) -> np.ndarray:
    """Whether each target pair of each task is ranked right (margin > 0), flattened in task order."""
    out = []
    for t in tasks:
        u = user_factor([records[i] for i in t.context], items, v, b, lam_user=lam_user)
        ci, ri = _ids([records[i] for i in t.target], items)
        out.append(((b[ci] - b[ri] + (v[ci] - v[ri]) @ u) > 0).numpy())
    return np.concatenate(out)


def select(split: dict[str, list[PairRecord]], cfg: NpbtlConfig, a: argparse.Namespace
           ) -> tuple[tuple[int, float, float], float]:
    """The (rank, lam, lam_user) with the best mean validation accuracy over context sizes 1..10, and that accuracy."""
    val_cfg = NpbtlConfig(**{**cfg.to_dict(), "eval_repeats": 4})
    val = split["val"]
    tasks = eval_task_sets(val, val_cfg)
    best, arg = -1.0, (a.rank[0], a.lam[0], a.lam_user[0])
    for rank in a.rank:
        for lam in a.lam:
            items, b, v = fit_factors(split["train"], rank=rank, lam=lam, seed=cfg.seed)
            for lam_user in a.lam_user:
                acc = np.mean([score(tasks[c], val, items, b, v, lam_user=lam_user).mean() for c in EVAL_CONTEXT_SIZES[1:]])
                if acc > best:
                    best, arg = float(acc), (rank, lam, lam_user)
    return arg, best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="goqa", help="goqa or a GlobalOpinionQA .json file")
    p.add_argument("--pairs", default="contested", choices=("all", "contested"),
                   help="contested: only pairs the training countries order both ways (as npbtl_goqa.py --pairs)")
    p.add_argument("--min-countries", type=int, default=1, help="keep questions asked in >= this many countries")
    p.add_argument("--rank", type=int, nargs="+", default=[1, 2, 4], help="K, the dimension of the factors (several values: a grid, picked per split on validation)")
    p.add_argument("--lam", type=float, nargs="+", default=[0.3, 1.0, 10.0], help="L2 penalty on the factors (training)")
    p.add_argument("--lam-user", type=float, nargs="+", default=[0.3, 1.0, 3.0, 10.0],
                   help="prior precision of an unseen country's factor")
    p.add_argument("--eval-repeats", type=int, default=16, help="evaluation tasks per held-out country")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="one split of countries per seed (as npbtl_goqa.py)")
    p.add_argument("--disjoint", default="question", choices=DISJOINT,
                   help="context and targets from disjoint questions (default) or only disjoint pairs (older, leaky)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: the fits are tiny)")
    p.add_argument("--smoke-test", action="store_true", help="one split, 2 evaluation tasks per user")
    a = p.parse_args(argv)
    if min(a.rank) < 1 or min(a.lam) <= 0 or min(a.lam_user) <= 0:
        raise UserInputError(f"--rank {a.rank} must be >= 1 and --lam {a.lam}, --lam-user {a.lam_user} > 0")
    if a.smoke_test:
        a.seeds, a.eval_repeats, a.rank, a.lam, a.lam_user = a.seeds[:1], 2, a.rank[:1], a.lam[:1], a.lam_user[:1]
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    ok: dict[int, list[np.ndarray]] = {c: [] for c in EVAL_CONTEXT_SIZES}
    groups: list[str] = []
    per_seed: list[float] = []
    held: list[str] = []  # held-out accuracy per split, printed after every choice is made
    for seed in a.seeds:
        cfg = NpbtlConfig(pairs=a.pairs, min_countries=a.min_countries, eval_repeats=a.eval_repeats, seed=seed,
                          disjoint=a.disjoint).validate()
        split = goqa_split(a.data, None, cfg, seed=seed, notes=[])
        (rank, lam, lam_user), val_acc = select(split, cfg, a) if len(a.rank) * len(a.lam) * len(a.lam_user) > 1 else (
            (a.rank[0], a.lam[0], a.lam_user[0]), float("nan"))
        items, b, v = fit_factors(split["train"], rank=rank, lam=lam, seed=seed)
        test = split["test"]
        unseen = sum((r.prompt, o) not in items for r in test for o in (r.chosen, r.rejected))
        if unseen:
            print(f"seed {seed}: {unseen} options of held-out pairs are in no kept training pair (scored as ties)")
        tasks = eval_task_sets(test, cfg)
        accs = {}
        for c, ts in tasks.items():
            ok[c].append(score(ts, test, items, b, v, lam_user=lam_user))
            accs[c] = ok[c][-1].mean()
        groups += [test[i].community for t in tasks[0] for i in t.target]
        per_seed.append(accs[10] - accs[0])
        held.append(f"seed {seed}: " + " ".join(f"{c}:{100 * accs[c]:.1f}" for c in EVAL_CONTEXT_SIZES))
        how = ("given (one setting)" if np.isnan(val_acc) else
               f"picked on validation (mean validation accuracy over context 1-10: {100 * val_acc:.1f})")
        print(f"seed {seed}: {len(items)} options, K={rank} lam={lam:g} lam_user={lam_user:g} {how}", flush=True)
    res, gain = pooled_curve({c: np.concatenate(x) for c, x in ok.items()}, groups)
    caption = (f"Low-rank reference (option IDs; K, lam, lam_user picked per split on its validation countries from "
               f"K in {a.rank}, lam in {a.lam}, lam_user in {a.lam_user}), {a.data}, "
               f"pairs={a.pairs}, min_countries={a.min_countries}, context and targets disjoint by {a.disjoint}; "
               f"test read once after all choices; {len(a.seeds)} split(s), {len(set(groups))} "
               f"distinct held-out countries; 95% intervals: bootstrap over countries; gain paired on the same targets.")
    print("held-out accuracy per split: " + "; ".join(held))
    print(markdown_table({"low-rank": res}, caption=caption, gains={"low-rank": gain}))
    print("gain at 10 context pairs per split (points): " + " ".join(f"{100 * g:+.1f}" for g in per_seed))
    print(f"wall time {time.perf_counter() - t0:.0f} s; " + json.dumps({"seeds": a.seeds}))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
