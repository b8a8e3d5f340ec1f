"""``experiments/sampler_comparison.py``'s tables: means over seeds, and every search against random/fifo of its seed."""

from __future__ import annotations


def _r(sampler, scheduler, seed, hv, steps):
    return {"sampler": sampler, "scheduler": scheduler, "seed": seed, "num_samples": 16, "test_hypervolume": hv,
            "training_steps": steps, "wall_s": 60.0}


def test_paired_table_compares_within_each_seed(experiment_script):
    mod = experiment_script("sampler_comparison")
    results = [_r("random", "fifo", 0, 0.080, 100), _r("random", "fifo", 1, 0.030, 200),
               _r("nsga2", "moasha", 0, 0.081, 50), _r("nsga2", "moasha", 1, 0.029, 100),
               _r("gp", "fifo", 0, 0.080, 120)]
    table = mod.paired_summary(results)
    assert "| nsga2 | moasha | +1.0 / 50% | -1.0 / 50% | 1 of 2 | 50% |" in table
    assert "| gp | fifo | +0.0 / 120% | – | 1 of 1 | 120% |" in table  # a seed not run yet is a dash
    assert "| random | fifo |" not in table  # the reference itself
    assert "0.0550 ± 0.0354" in mod.summary(results)  # random/fifo's mean and SD over its two seeds
