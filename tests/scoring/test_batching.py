"""Length batches with a padding budget (edco.scoring.batching)."""

from __future__ import annotations

import numpy as np
import pytest

from edco.scoring.batching import length_batches


def padding(lengths: list[int], batch: list[int]) -> float:
    longest = max(lengths[i] for i in batch)
    return sum(longest - lengths[i] for i in batch) / (longest * len(batch))


@pytest.mark.parametrize("seed", range(5))
def test_batches_cover_every_index_once_longest_first_within_size_and_padding(seed):
    lengths = np.random.default_rng(seed).integers(200, 550, 97).tolist()
    batches = length_batches(lengths, 16, 0.03)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(97))
    assert flat == sorted(range(97), key=lambda i: (-lengths[i], i))  # the plain length sort, cut differently
    assert all(len(b) <= 16 and padding(lengths, b) <= 0.03 for b in batches)


def test_without_a_padding_budget_batches_are_plain_chunks_of_the_sort():
    lengths = [5, 9, 1, 7, 3]
    assert length_batches(lengths, 2, max_padding=1.0) == [[1, 3], [0, 4], [2]]


def test_a_batch_closes_when_the_next_sequence_would_exceed_the_budget():
    # 100, 98 pad 2 of 200 = 1%; adding 90 would pad 12 of 300 = 4% > 3%: it starts the next batch
    assert length_batches([100, 98, 90, 89], 4, 0.03) == [[0, 1], [2, 3]]
    assert length_batches([100, 100, 100, 100, 100], 2) == [[0, 1], [2, 3], [4]]
