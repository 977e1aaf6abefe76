"""Reward functions a user might write, loaded by path (`training.reward: tests.training.user_rewards:NAME`)."""

from __future__ import annotations


def length_reward(prompts, completions, references, **columns):
    """A real one: 1 when the completion is no longer than its reference, else 0."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [float(len(t) <= len(refs[0])) for t, refs in zip(texts, references)]


def too_few(prompts, completions, **columns):
    return [1.0]


def words(prompts, completions, **columns):
    return ["good"] * len(completions)


def broken(prompts, completions, **columns):
    raise KeyError("answer")


NOT_A_FUNCTION = 3
