"""join_utterances: one speaker per utterance, target durations, gaps, leftovers, even selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vqaudio.audio.io import save
from vqaudio.data import SpeechFile, join_utterances
from vqaudio.data.utterances import spread_quotas

SR = 8000


def _clip(root: Path, speaker: str, name: str, seconds: float, value: float = 0.2, sr: int = SR) -> SpeechFile:
    path = save(root / speaker / f"{name}.wav", np.full(round(seconds * sr), value, np.float32), sr)
    return SpeechFile(path, speaker, "folder")


def test_joins_one_speaker_to_target(tmp_path: Path) -> None:
    files = [_clip(tmp_path, "anna", f"c{i:02d}", 0.5) for i in range(10)]
    files += [_clip(tmp_path, "bert", f"c{i:02d}", 0.5, value=-0.3) for i in range(3)]
    utts = join_utterances(files[::-1], SR, target_seconds=2.0, gap_seconds=0.1)  # input order irrelevant
    assert [u.name for u in utts] == ["anna-000", "anna-001", "anna-002", "bert-000"]
    assert [len(u.sources) for u in utts] == [4, 4, 2, 3]
    assert all(len({Path(s).parent.name for s in u.sources}) == 1 for u in utts)  # one speaker each
    assert [u.wave.shape[0] for u in utts] == [
        4 * 4000 + 3 * 800,
        4 * 4000 + 3 * 800,
        2 * 4000 + 800,
        3 * 4000 + 1600,
    ]
    assert utts[0].seconds >= 2.0 and utts[0].sample_rate == SR
    anna = utts[0].wave
    assert np.all(anna[4000:4800] == 0) and np.allclose(anna[4800:8800], 0.2, atol=1e-4)  # silent gap
    assert utts[0].sources == tuple(str(f.path) for f in files[:4])  # sorted order
    assert np.allclose(utts[3].wave[:4000], -0.3, atol=1e-4)


def test_long_files_stand_alone_and_short_leftovers_merge(tmp_path: Path) -> None:
    files = [
        _clip(tmp_path, "carl", "a", 0.5),
        _clip(tmp_path, "carl", "b", 0.5),
        _clip(tmp_path, "carl", "c", 5.0),  # joined onto a and b: they are too short alone
        _clip(tmp_path, "carl", "d", 6.0),  # stands alone
        _clip(tmp_path, "carl", "e", 0.5),  # leftover < target/2: merged into the previous utterance
    ]
    utts = join_utterances(files, SR, target_seconds=2.0, gap_seconds=0.1)
    assert [[Path(s).stem for s in u.sources] for u in utts] == [["a", "b", "c"], ["d", "e"]]
    assert utts[1].wave.shape[0] == round((6.0 + 0.1 + 0.5) * SR)


def test_resamples_and_is_deterministic(tmp_path: Path) -> None:
    files = [_clip(tmp_path, "dora", f"c{i}", 1.0, sr=16000) for i in range(5)]
    a = join_utterances(files, SR, target_seconds=2.5, gap_seconds=0.0)
    b = join_utterances(files, SR, target_seconds=2.5, gap_seconds=0.0)
    assert [u.wave.shape[0] for u in a] == [3 * SR, 2 * SR]
    assert all(np.array_equal(x.wave, y.wave) and x.name == y.name for x, y in zip(a, b, strict=True))


def test_spread_quotas() -> None:
    assert spread_quotas([5, 5, 5], 3) == [1, 1, 1]
    assert spread_quotas([5, 1, 5], 6) in ([3, 1, 2], [2, 1, 3])
    assert spread_quotas([2, 2], 10) == [2, 2]
    assert spread_quotas([4, 4, 4, 4], 2) == [1, 0, 1, 0]  # spread over the list, not the first ones
    assert sum(spread_quotas([0, 3, 7], 5)) == 5


def test_max_utterances_spreads_over_speakers(tmp_path: Path) -> None:
    files = []
    for speaker in ("s1", "s2", "s3"):
        files += [_clip(tmp_path, speaker, f"c{i}", 1.0) for i in range(6)]
    everything = join_utterances(files, SR, target_seconds=1.0, gap_seconds=0.0)
    assert len(everything) == 18
    picked = join_utterances(files, SR, target_seconds=1.0, gap_seconds=0.0, max_utterances=6)
    assert [u.name for u in picked] == ["s1-000", "s1-003", "s2-000", "s2-003", "s3-000", "s3-003"]
    with pytest.raises(ValueError, match="max_utterances"):
        join_utterances(files, SR, max_utterances=0)
