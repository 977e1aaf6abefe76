"""The SEC bandit on hand-computed numbers."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest

from edco.selection.sec import (
    NO_CATEGORY,
    BanditState,
    arm_rewards,
    boltzmann,
    draw,
    record_draws,
    update,
)


def test_update_moves_drawn_arms_and_decays_the_others():
    state = BanditState(q={"a": 0.0, "b": 0.0, "c": 0.0})
    state = update(state, {"a": 1.0, "b": 0.4}, alpha=0.5)
    # a: 0.5*0 + 0.5*1.0 = 0.5   b: 0.5*0 + 0.5*0.4 = 0.2   c (not drawn): 0.5*0 = 0
    assert state.q == pytest.approx({"a": 0.5, "b": 0.2, "c": 0.0})
    state = update(state, {"b": 1.0, "c": -0.2}, alpha=0.5)
    # a (not drawn): 0.5*0.5 = 0.25   b: 0.5*0.2 + 0.5*1.0 = 0.6   c: 0.5*0 + 0.5*(-0.2) = -0.1
    assert state.q == pytest.approx({"a": 0.25, "b": 0.6, "c": -0.1})


def test_an_arm_first_seen_in_the_rewards_starts_at_zero():
    state = update(BanditState(), {"new": 0.8}, alpha=0.25)
    assert state.q == pytest.approx({"new": 0.2})  # 0.75*0 + 0.25*0.8


def test_boltzmann_is_the_softmax_of_q_over_tau():
    policy = boltzmann({"a": 0.4, "b": 0.0, "c": -0.4}, tau=0.4)
    # exp(0.4/0.4)=e, exp(0)=1, exp(-0.4/0.4)=1/e
    z = math.e + 1 + 1 / math.e
    assert policy == pytest.approx({"a": math.e / z, "b": 1 / z, "c": (1 / math.e) / z})


def test_boltzmann_does_not_overflow_on_large_values():
    policy = boltzmann({"a": 1000.0, "b": 999.0}, tau=0.01)
    assert policy["a"] == pytest.approx(1.0)
    assert math.isfinite(policy["b"])


def test_draw_is_deterministic_per_seed():
    state = BanditState(q={"x": 0.3, "y": 0.1})
    categories = ["x", "y", None] * 10
    first = draw(state, categories, 12, tau=0.4, seed=5)
    assert np.array_equal(first, draw(state, categories, 12, tau=0.4, seed=5))
    assert not np.array_equal(first, draw(state, categories, 12, tau=0.4, seed=6))


def test_draw_respects_n_and_never_repeats_a_sample():
    categories = ["x"] * 3 + ["y"] * 20 + [None] * 2
    state = BanditState(q={"x": 5.0})  # x is drawn first and exhausts: the others then share the slots
    for n in (0, 1, 10, len(categories)):
        chosen = draw(state, categories, n, tau=0.4, seed=1)
        assert len(chosen) == n
        assert len(set(chosen.tolist())) == n
    assert sorted(draw(state, categories, len(categories), tau=0.4, seed=1).tolist()) == list(range(len(categories)))


def test_draw_refuses_more_samples_than_the_pool():
    with pytest.raises(ValueError):
        draw(BanditState(), ["x", "y"], 3, tau=0.4, seed=0)


def test_an_arm_far_ahead_gets_almost_every_draw():
    categories = ["good", "bad", "worse"] * 50
    state = BanditState(q={"good": 1.0, "bad": 0.0, "worse": -1.0})
    chosen = draw(state, categories, 40, tau=0.05, seed=0)  # Q gap / tau = 20: exp(-20) ~ 2e-9
    assert Counter(categories[i] for i in chosen) == {"good": 40}


def test_samples_without_category_form_one_arm():
    categories = [None, "x", None]
    state = BanditState(q={NO_CATEGORY: 10.0, "x": 0.0})
    assert sorted(draw(state, categories, 2, tau=0.1, seed=0).tolist()) == [0, 2]


def test_record_draws_counts_the_chosen_samples_per_arm():
    state = BanditState(draws={"x": 2})
    state = record_draws(state, ["x", "y", None, "y"], np.array([1, 2, 3]))
    assert state.draws == {NO_CATEGORY: 1, "x": 2, "y": 2}


def test_json_round_trip_is_exact():
    state = BanditState(q={"a": 0.1 + 0.2, "b": -1e-300, NO_CATEGORY: 1 / 3}, draws={"a": 7, "b": 0})
    restored = BanditState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state


def test_arm_reward_is_the_mean_gain_of_its_samples():
    rewards = arm_rewards(["a", "b", "a", None], [0.5, -0.2, 1.5, 0.3])
    assert rewards == pytest.approx({"a": 1.0, "b": -0.2, NO_CATEGORY: 0.3})  # a: (0.5 + 1.5) / 2


def test_draw_follows_the_boltzmann_policy_then_renormalises_when_an_arm_runs_out():
    """pi(a) = e / (e + 1) = 0.731 for Q = (0.4, 0), tau 0.4; once a's 3 samples are gone every slot is b's."""
    categories = ["a"] * 3 + ["b"] * 50
    state = BanditState(q={"a": 0.4, "b": 0.0})
    firsts = [draw(state, categories, 1, tau=0.4, seed=seed)[0] < 3 for seed in range(4000)]
    assert np.mean(firsts) == pytest.approx(np.e / (np.e + 1), abs=0.025)  # 4 sd of a 4000-draw mean
    chosen = draw(state, categories, 20, tau=0.4, seed=3)
    assert set(range(3)) <= set(chosen.tolist()) and len(set(chosen.tolist())) == 20


def test_occurrence_counts_earlier_equal_values():
    from edco.selection.sec import _occurrence

    assert _occurrence(np.array([2, 0, 2, 2, 0, 1])).tolist() == [0, 0, 1, 2, 1, 0]
