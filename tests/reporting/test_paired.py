"""The paired statistics of `edco compare` against analytic tests and simulations with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from edco.reporting.paired import (
    MIN_CATEGORY_ITEMS,
    VarianceComponents,
    Z,
    bootstrap,
    by_category,
    paired,
    verdict_line,
)


def discordant(n: int, wins: int, losses: int) -> np.ndarray:
    """One seed's per-item accuracy differences: `wins` items only the strategy got right, `losses`
    only the baseline did, the rest alike."""
    return np.array([[1.0] * wins + [-1.0] * losses + [0.0] * (n - wins - losses)])


@pytest.mark.parametrize("wins, losses", [(40, 15), (22, 15), (10, 30)])
def test_one_seed_bootstrap_agrees_with_mcnemar_and_the_paired_t_interval(wins, losses):
    """On 0/1 items the paired difference's bootstrap interval is the paired t-interval (to a few
    per cent of its width), and it excludes 0 exactly when McNemar's exact test rejects at 5%."""
    d = discordant(300, wins, losses)
    got = bootstrap(d)
    mean, se = d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    half = stats.t.ppf(0.975, d.size - 1) * se
    assert got.mean == pytest.approx((wins - losses) / 300)
    assert (got.lo, got.hi) == pytest.approx((mean - half, mean + half), abs=0.08 * half)
    assert got.se == pytest.approx(se, rel=0.05)
    mcnemar = stats.binomtest(wins, wins + losses, 0.5).pvalue
    assert (got.verdict != "not distinguishable") == (mcnemar < 0.05)
    expected = {(40, 15): "better", (22, 15): "not distinguishable", (10, 30): "worse"}[wins, losses]
    assert got.verdict == expected


def crossed(rng: np.random.Generator, seeds: int, items: int, effect: float, sd=(0.05, 0.3, 0.4)) -> np.ndarray:
    """Differences with a known structure: effect + seed effect + item effect + noise."""
    seed_sd, item_sd, noise_sd = sd
    return (
        effect
        + rng.normal(0, seed_sd, (seeds, 1))
        + rng.normal(0, item_sd, (1, items))
        + rng.normal(0, noise_sd, (seeds, items))
    )


def test_variance_components_recover_a_known_crossed_design():
    d = crossed(np.random.default_rng(1), seeds=200, items=300, effect=0.0)
    c = VarianceComponents.of(d)
    assert (c.seed, c.item, c.residual) == pytest.approx((0.05**2, 0.3**2, 0.4**2), rel=0.3)


def test_the_bootstrap_se_over_seeds_and_items_matches_the_components_se_where_main_effects_dominate():
    d = crossed(np.random.default_rng(2), seeds=8, items=300, effect=0.0)
    assert bootstrap(d).se == pytest.approx(VarianceComponents.of(d).se(), rel=0.25)


def test_where_the_interaction_dominates_the_raw_crossed_bootstrap_overcovers_and_the_rescaled_one_does_not():
    """Seeds x items with only noise (the demo comparison's shape): the pigeonhole bootstrap's
    95% interval covers the truth ~99.9% of the time (its variance counts the noise ~3x); the
    reported interval, rescaled to the components' SE, covers it ~95%."""
    rng = np.random.default_rng(5)
    raw, reported = [], []
    for _ in range(200):
        d = crossed(rng, 5, 200, 0.0, sd=(0.0, 0.02, 0.5))
        raw.append(bootstrap(d, replicates=1000).verdict == "not distinguishable")
        reported.append(paired(d).interval.verdict == "not distinguishable")
    assert sum(raw) / 200 >= 0.985
    assert 0.9 <= sum(reported) / 200 <= 0.985


def test_a_true_effect_of_one_mde_is_detected_about_80_percent_of_the_time():
    """The MDE's promise, checked by simulation: at a true effect equal to the MDE of the design,
    the bootstrap interval excludes 0 in ~80% of repeated comparisons (and ~5% at no effect)."""
    rng = np.random.default_rng(3)
    truth = VarianceComponents(0.05**2, 0.3**2, 0.4**2, seeds=5, items=200)
    trials = 150
    detected = [bootstrap(crossed(rng, 5, 200, truth.mde()), replicates=1000).lo > 0 for _ in range(trials)]
    false = [bootstrap(crossed(rng, 5, 200, 0.0), replicates=1000).verdict != "not distinguishable" for _ in range(80)]
    assert 0.65 <= sum(detected) / trials <= 0.92
    assert sum(false) / 80 <= 0.15


def test_items_and_seeds_needed_solve_the_se_equation():
    c = VarianceComponents(seed=0.0004, item=0.05, residual=0.1, seeds=3, items=48)
    effect = 0.05
    n = c.items_needed(effect)
    assert Z * c.se(seeds=3, items=n) == pytest.approx(effect)
    s = c.seeds_needed(effect, items=300)
    assert Z * c.se(seeds=s, items=300) == pytest.approx(effect)
    assert c.items_needed(0.01, seeds=1) == math.inf, "seed variance alone: no eval size is enough with one seed"
    assert c.mde(seeds=3, items=48) == pytest.approx(Z * math.sqrt(0.0004 / 3 + 0.05 / 48 + 0.1 / 144))


def test_one_seed_has_no_seed_variance_and_the_verdict_says_so():
    d = discordant(48, 5, 3)
    result = paired(d)
    assert result.components.seed == 0 and result.components.item == pytest.approx(d.var(ddof=1))
    line = verdict_line("edco", "random", result, 0.05, "points")
    assert line.startswith("edco vs random: +0.042 [")
    assert "not distinguishable" in line and "detecting 5.0 points would need about" in line
    assert "one seed: the seed variance is not estimated" in line


def test_by_category_bootstraps_each_category_alone_and_gives_small_ones_no_interval():
    d = crossed(np.random.default_rng(5), 2, 14, 0.1)
    got = by_category(d, ["a"] * 10 + [None] + ["b"] * 3)
    assert {k: v.mean for k, v in got.items()} == pytest.approx(
        {"(none)": d[:, 10].mean(), "a": d[:, :10].mean(), "b": d[:, 11:].mean()}
    )
    assert got["a"] == paired(d[:, :10]).interval and not math.isnan(got["a"].lo)
    assert all(math.isnan(got[k].lo) and math.isnan(got[k].hi) for k in ("(none)", "b"))


def coverage(items: int, seeds: int = 3, sims: int = 300) -> float:
    """How often the nominal 95% interval holds the true mean difference of `items` items, each
    won with probability a_i and lost with b_i (both uniform on [0, 0.3]) in every seed."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(sims):
        a, b = rng.uniform(0, 0.3, items), rng.uniform(0, 0.3, items)
        u = rng.uniform(size=(seeds, items))
        d = np.where(u < a, 1.0, np.where(u < a + b, -1.0, 0.0))
        interval = paired(d).interval
        hits += interval.lo <= (a - b).mean() <= interval.hi
    return hits / sims


def test_intervals_undercover_below_the_minimum_category_size_and_hold_from_it():
    assert coverage(4) < 0.90 and coverage(MIN_CATEGORY_ITEMS) >= 0.95


def test_the_bootstrap_is_a_pure_function_of_its_input():
    d = crossed(np.random.default_rng(4), 3, 50, 0.1)
    assert bootstrap(d) == bootstrap(d.copy())


def test_a_verdict_says_when_no_number_of_eval_items_is_enough():
    """Seeds that disagree this much (one +8 points, one -6, one +2: the seed variance alone is
    above what a 5-point MDE allows at 3 seeds) can be outweighed by more seeds, never by items."""
    d = np.concatenate([discordant(50, 5, 1), discordant(50, 1, 4), discordant(50, 2, 1)])
    result = paired(d)
    assert result.components.items_needed(0.05) == math.inf and math.isfinite(result.components.seeds_needed(0.05))
    line = verdict_line("edco", "random", result, 0.05, "points")
    assert "would need an unbounded number of eval items with 3 seeds, or about " in line
