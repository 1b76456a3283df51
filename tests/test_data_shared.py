"""The real speech in ../shared/data: split counts as its README states (listing only, a few decodes)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from vqaudio.data import WaveformCropDataset, join_utterances, speech_files

pytestmark = pytest.mark.shared_data

FSDD_TRAIN = {"george", "jackson", "lucas", "nicolas", "theo"}
# README counts per voice; 15 of each are silence/beep/tone/monkey prompts, left out by default
ASTERISK_ALL = {"fr_CA_f_June": 561, "it_IT_m_Carlo": 599, "ru_RU_f_IvrvoiceRU": 576}
NONSPEECH_PER_VOICE = 15


@pytest.fixture(scope="module")
def speech(shared_data_dir: Path) -> Path:
    return shared_data_dir / "speech"


def test_fsdd_split(speech: Path) -> None:
    for root in (speech / "fsdd", speech / "fsdd" / "recordings"):
        train = speech_files(root, "train")
        val = speech_files(root, "val")
        assert Counter(f.speaker for f in train) == dict.fromkeys(FSDD_TRAIN, 500)
        assert Counter(f.speaker for f in val) == {"yweweler": 500}
    assert len(speech_files(speech / "fsdd", words=["seven"])) == 300


def test_asterisk_counts(speech: Path) -> None:
    everything = speech_files(speech / "asterisk", include_nonspeech=True)
    assert Counter(f.speaker for f in everything) == ASTERISK_ALL
    speech_only = speech_files(speech / "asterisk")
    assert Counter(f.speaker for f in speech_only) == {v: n - NONSPEECH_PER_VOICE for v, n in ASTERISK_ALL.items()}
    assert {f.speaker for f in speech_files(speech / "asterisk", "val")} == {"ru_RU_f_IvrvoiceRU"}


def test_combined_split_is_speaker_disjoint(speech: Path) -> None:
    train, val = speech_files(speech, "train"), speech_files(speech, "val")
    assert {f.speaker for f in train} == FSDD_TRAIN | {"fr_CA_f_June", "it_IT_m_Carlo"}
    assert {f.speaker for f in val} == {"yweweler", "ru_RU_f_IvrvoiceRU"}
    assert len(train) == 2500 + 561 - 15 + 599 - 15
    assert len(val) == 500 + 576 - 15
    assert not {f.path for f in train} & {f.path for f in val}


def test_a_few_real_files_load_and_join(speech: Path) -> None:
    val = speech_files(speech / "fsdd", "val")[:24]
    utts = join_utterances(val, 8000, target_seconds=4.0)
    assert utts and all(u.speaker == "yweweler" for u in utts)
    assert all(u.seconds >= 2.0 for u in utts) and utts[0].seconds >= 4.0
    ds = WaveformCropDataset(val[:8], 8000, 4000, random_crops=True)
    assert len(ds) == 8 and ds[0].shape == (4000,)
    assert 0.1 < ds.total_seconds / 8 < 1.5  # FSDD clips are about half a second
