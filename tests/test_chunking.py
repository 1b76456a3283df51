from __future__ import annotations

import itertools

import numpy as np
import pytest

from vqaudio.pipelines.chunking import chunk_starts, process_in_chunks


@pytest.mark.parametrize("n", [1, 10, 299, 300, 301, 549, 551, 1000, 5001])
def test_identity_is_exact_for_any_length(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    y = process_in_chunks(x, lambda a: a, chunk_samples=300, overlap_samples=50)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_chunks_cover_the_input_and_stay_bounded() -> None:
    seen: list[int] = []

    def record(a: np.ndarray) -> np.ndarray:
        seen.append(a.shape[0])
        return a

    process_in_chunks(np.zeros(10_000, dtype=np.float32), record, chunk_samples=1000, overlap_samples=100)
    assert max(seen) == 1000  # never more than one chunk at a time
    starts = chunk_starts(10_000, 1000, 100)
    assert starts[0] == 0 and starts[-1] + 1000 == 10_000
    assert all(b - a <= 900 for a, b in itertools.pairwise(starts))


def test_crossfade_is_smooth_between_different_chunks() -> None:
    # A chunk function with a per-chunk offset: the crossfade must blend, not jump.
    calls = iter(range(100))

    def offset(a: np.ndarray) -> np.ndarray:
        return np.full_like(a, float(next(calls)))

    y = process_in_chunks(np.zeros(3000, dtype=np.float32), offset, chunk_samples=1000, overlap_samples=200)
    assert np.abs(np.diff(y)).max() < 0.02  # a hard seam would jump by 1.0


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="1-D"):
        process_in_chunks(np.zeros((2, 10)), lambda a: a, 4, 1)
    with pytest.raises(ValueError, match="half a chunk"):
        process_in_chunks(np.zeros(10), lambda a: a, 4, 3)
    with pytest.raises(RuntimeError, match="returned"):
        process_in_chunks(np.zeros(10, dtype=np.float32), lambda a: a[:-1], 4, 1)
