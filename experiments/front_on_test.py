"""The Pareto front of finished searches on the test split, next to the searches' own baselines.

``python -m raysearch.tune scpo`` chooses its Pareto configurations on validation and reads test
once, in its confirmation (``confirm.json``): each Pareto configuration and each baseline (the
global model G, fine-tuning from G) scored on the same test pairs, with paired bootstrap intervals
over questions against each baseline. This script gathers that read from several searches (one per
seed, say) into one table and one figure; it trains nothing and chooses nothing.

A search given ``--reference G`` does not score G itself; ``--g-from`` names, per search, another
search of the same seed (the same split and the same G) whose confirmation holds G's test numbers.

    python experiments/front_on_test.py RUN_SEED0 RUN_SEED1 RUN_SEED2 --plot front-test.png
    python experiments/front_on_test.py runs/tune/scpo
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

GLOBAL, FINETUNE = "global model G", "fine-tuning from G"
COLUMNS = ("mean_acc", "worst3_acc", "minority_acc", "majority_acc", "worst_acc")
DIFFS = ("mean", "minority", "majority")


def _pct(x: float) -> str:
    return f"{x * 100:.1f}"


def _iv(d: dict[str, float]) -> str:
    return f"{d['value'] * 100:+.1f} [{d['low'] * 100:+.1f}, {d['high'] * 100:+.1f}]"


def _mean_flat(flats: list[dict[str, float]]) -> dict[str, float]:
    """A model's test metrics averaged over its seeds (a search with seed reruns trained it several times)."""
    keys = [k for k in flats[0] if all(isinstance(f.get(k), (int, float)) for f in flats)]
    return {k: sum(f[k] for f in flats) / len(flats) for k in keys}


def load(run: Path, g_from: Path | None) -> dict[str, Any]:
    """One search's test read: models (name, kind, flat test metrics) and paired differences."""
    f = run / "confirm.json"
    if not f.is_file():
        raise SystemExit(f"{run}: no confirm.json (a finished pairwise search writes it); valid: a search folder")
    conf = json.loads(f.read_text())
    params = {p["trial_id"]: p["params"] for p in json.loads((run / "pareto.json").read_text())["points"]} \
        if (run / "pareto.json").is_file() else {}
    models = [{"name": m["name"], "kind": m["kind"], "test": _mean_flat(m["flat"]), "seeds": m["seeds"],
               "params": params.get(m["name"], {})} for m in conf["models"]]
    g_note = None
    if not any(m["name"] == GLOBAL for m in models) and g_from is not None:
        other = json.loads((g_from / "confirm.json").read_text())
        g = [m for m in other["models"] if m["name"] == GLOBAL]
        if g:
            models.append({"name": GLOBAL, "kind": "baseline", "test": _mean_flat(g[0]["flat"]), "seeds": g[0]["seeds"],
                           "params": {}})
            g_note = g_from.name
    return {"run": run.name, "objectives": conf["objectives"], "models": models,
            "paired": conf.get("paired_test", {}), "g_from": g_note}


def table(runs: list[dict[str, Any]]) -> str:
    head = ["search", "model", "seeds", *[f"test {c}" for c in COLUMNS], *[f"{d} − FT (paired)" for d in DIFFS],
            *[f"{d} − G (paired)" for d in DIFFS]]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        order = sorted(r["models"], key=lambda m: (m["kind"] != "baseline", m["name"] != GLOBAL, m["name"]))
        for m in order:
            name = m["name"] if m["kind"] == "baseline" else f"Pareto {m['name']}"
            if m["name"] == GLOBAL and r["g_from"]:
                name += f" (from {r['g_from']})"
            cells = [_pct(m["test"][f"test/{c}"]) for c in COLUMNS]
            for ref in (FINETUNE, GLOBAL):
                d = r["paired"].get(ref, {}).get("difference", {}).get(m["name"])
                cells += ["–" if m["name"] == ref or d is None else _iv(d[k]) for k in DIFFS]
            rows.append(f"| {r['run']} | {name} | {len(m['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, r in enumerate(runs):
        c = colors[k % len(colors)]
        for m in r["models"]:
            x, y = m["test"]["test/mean_acc"] * 100, m["test"]["test/worst3_acc"] * 100
            marker = {"pareto": "o", GLOBAL: "^", FINETUNE: "s"}.get(m["kind"] if m["kind"] == "pareto" else m["name"], "x")
            ax.scatter(x, y, marker=marker, s=60, color=c, edgecolor="black", lw=0.5,
                       label=f"{r['run']}: {'Pareto' if m['kind'] == 'pareto' else m['name']}")
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles, strict=True))
    ax.legend(seen.values(), seen.keys(), fontsize=7, loc="best")
    ax.set_xlabel("test accuracy, mean over countries (%)")
    ax.set_ylabel("test accuracy, mean of the 3 worst countries (%)")
    ax.set_title("Pareto configurations (chosen on validation) and baselines, read on test", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("runs", type=Path, nargs="+", help="finished search folders (each holds confirm.json)")
    p.add_argument("--g-from", type=Path, nargs="*", default=None,
                   help="per run, a search of the same seed whose confirmation scored G (same order as the runs)")
    p.add_argument("--plot", type=Path, default=None, help="also draw test mean against test worst-3 into this PNG")
    a = p.parse_args(argv)
    if a.g_from is not None and len(a.g_from) != len(a.runs):
        raise SystemExit(f"--g-from names {len(a.g_from)} folders for {len(a.runs)} runs; give one per run")
    runs = [load(r, a.g_from[k] if a.g_from else None) for k, r in enumerate(a.runs)]
    print(table(runs))
    if a.plot:
        plot(runs, a.plot)
        print(f"wrote {a.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
