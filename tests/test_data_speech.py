"""speech_files on small generated folders in every layout: splits, speakers, words, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from vqaudio.audio.io import save
from vqaudio.data import SpeechFile, detect_layout, speech_files
from vqaudio.data.base import assign_splits


def _wav(path: Path, seconds: float = 0.02, sample_rate: int = 8000) -> Path:
    return save(path, np.full(round(seconds * sample_rate), 0.1, dtype=np.float32), sample_rate)


def _speakers(files: list[SpeechFile]) -> set[str]:
    return {f.speaker for f in files}


@pytest.fixture()
def speech_root(tmp_path: Path) -> Path:
    """The shared-data layout in miniature: speech/fsdd/recordings + speech/asterisk/<voice>/."""
    root = tmp_path / "speech"
    for speaker in ("george", "theo", "yweweler"):
        for digit in range(3):
            for n in range(2):
                _wav(root / "fsdd" / "recordings" / f"{digit}_{speaker}_{n}.wav")
    (root / "fsdd" / "metadata.py").write_text("metadata = {}\n")
    for voice in ("fr_CA_f_June", "it_IT_m_Carlo", "ru_RU_f_IvrvoiceRU"):
        for prompt in ("activated", "vm-goodbye", "dictate__play_help", "silence__1", "silence__10", "beep"):
            _wav(root / "asterisk" / voice / f"{prompt}.wav")
    (root / "asterisk" / "COPYRIGHT").write_text("licences\n")
    return root


def test_fsdd_split_follows_readme_from_any_root(speech_root: Path) -> None:
    for root in (speech_root / "fsdd", speech_root / "fsdd" / "recordings"):
        assert detect_layout(root) == "fsdd"
        train, val = speech_files(root, "train"), speech_files(root, "val")
        assert _speakers(train) == {"george", "theo"}
        assert _speakers(val) == {"yweweler"}
        assert len(train) == 12 and len(val) == 6
        assert {f.corpus for f in train + val} == {"fsdd"}
        assert {f.split for f in train} == {"train"} and {f.split for f in val} == {"val"}
        everything = speech_files(root)
        assert sorted(map(str, (f.path for f in everything))) == [str(f.path) for f in everything]
        assert {f.path for f in everything} == {f.path for f in train} | {f.path for f in val}


def test_fsdd_ignores_a_stray_file(speech_root: Path) -> None:
    recordings = speech_root / "fsdd" / "recordings"
    _wav(recordings / "notes.wav")
    files = speech_files(recordings)
    assert len(files) == 18 and all(f.corpus == "fsdd" for f in files)


def test_fsdd_digit_words(speech_root: Path) -> None:
    files = speech_files(speech_root / "fsdd", "all", words=["zero", "2"])
    assert {f.word for f in files} == {"zero", "two"}
    assert len(files) == 12  # 2 digits x 3 speakers x 2 takes


def test_combined_speech_root(speech_root: Path) -> None:
    assert detect_layout(speech_root) == "speech"
    train, val = speech_files(speech_root, "train"), speech_files(speech_root, "val")
    assert _speakers(train) == {"george", "theo", "fr_CA_f_June", "it_IT_m_Carlo"}
    assert _speakers(val) == {"yweweler", "ru_RU_f_IvrvoiceRU"}
    assert not {f.path for f in train} & {f.path for f in val}
    # silence and beep prompts are left out by default: 3 speech prompts per voice
    assert sum(f.corpus == "asterisk" for f in train) == 6
    assert all(f.path.suffix == ".wav" and "silence" not in f.path.name for f in train + val)
    with_nonspeech = speech_files(speech_root, "val", include_nonspeech=True)
    assert sum(f.corpus == "asterisk" for f in with_nonspeech) == 6
    assert speech_files(speech_root) == speech_files(speech_root)  # deterministic


def test_asterisk_root_and_single_voice(speech_root: Path) -> None:
    asterisk = speech_root / "asterisk"
    assert detect_layout(asterisk) == "asterisk"
    assert _speakers(speech_files(asterisk, "train")) == {"fr_CA_f_June", "it_IT_m_Carlo"}
    voice = asterisk / "ru_RU_f_IvrvoiceRU"
    assert detect_layout(voice) == "asterisk"
    assert len(speech_files(voice, "val")) == 3
    assert speech_files(voice, "train") == []
    assert len(speech_files(asterisk / "fr_CA_f_June", "train")) == 3


def test_asterisk_original_nested_layout(tmp_path: Path) -> None:
    voice = tmp_path / "en_US_f_Allison"
    _wav(voice / "digits" / "1.wav")
    _wav(voice / "hello.wav")
    _wav(voice / "silence" / "3.wav")
    files = speech_files(voice)
    assert [f.path.relative_to(voice).as_posix() for f in files] == ["digits/1.wav", "hello.wav"]
    assert {f.corpus for f in files} == {"asterisk"}


@pytest.fixture()
def commands_root(tmp_path: Path) -> Path:
    root = tmp_path / "speech_commands"
    speakers = [f"{i:08x}" for i in range(0xA0, 0xA6)]
    for word in ("right", "left"):
        for spk in speakers:
            for n in range(2):
                _wav(root / word / f"{spk}_nohash_{n}.wav")
    _wav(root / "_background_noise_" / "white_noise.wav", seconds=0.1)
    val = [f"{w}/{speakers[0]}_nohash_{n}.wav" for w in ("right", "left") for n in range(2)]
    test = [f"{w}/{speakers[1]}_nohash_{n}.wav" for w in ("right", "left") for n in range(2)]
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    return root


def test_speech_commands_lists_and_words(commands_root: Path) -> None:
    assert detect_layout(commands_root) == "speech_commands"
    val = speech_files(commands_root, "val")
    assert [f.path.relative_to(commands_root).as_posix() for f in val] == sorted(
        (commands_root / "validation_list.txt").read_text().split()
    )
    train = speech_files(commands_root, "train")
    assert len(train) == 2 * 4 * 2  # 2 words x 4 remaining speakers x 2 takes
    assert not _speakers(train) & ({"000000a0", "000000a1"})
    everything = speech_files(commands_root)
    assert len(everything) == 24 and sum(f.split == "test" for f in everything) == 4
    assert all("_background_noise_" not in f.path.parts for f in everything)
    right = speech_files(commands_root, "train", words=["right"])
    assert len(right) == 8 and {f.word for f in right} == {"right"}
    assert {f.speaker for f in right} == {f"{i:08x}" for i in range(0xA2, 0xA6)}


def test_speech_commands_without_lists_splits_by_speaker(commands_root: Path) -> None:
    (commands_root / "validation_list.txt").unlink()
    (commands_root / "testing_list.txt").unlink()
    assert detect_layout(commands_root) == "speech_commands"
    train, val = speech_files(commands_root, "train"), speech_files(commands_root, "val")
    assert train and val
    assert not _speakers(train) & _speakers(val)
    assert len(train) + len(val) == 24


def test_generic_folder_split_by_speaker_is_stable(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    speakers = [f"spk{i:02d}" for i in range(30)]
    for spk in speakers:
        for n in range(2):
            _wav(root / "group" / spk / f"take{n}.flac")
    assert detect_layout(root) == "folder"
    train, val = speech_files(root, "train"), speech_files(root, "val")
    assert {f.corpus for f in train} == {"folder"}
    assert _speakers(train) | _speakers(val) == set(speakers)
    assert not _speakers(train) & _speakers(val)
    assert 1 <= len(_speakers(val)) <= 8  # about 10% of 30 speakers
    moved = shutil.copytree(root, tmp_path / "elsewhere" / "copy")
    assert _speakers(speech_files(moved, "val")) == _speakers(val)  # depends on names, not location


def test_generic_folder_single_speaker_splits_files(tmp_path: Path) -> None:
    root = tmp_path / "solo"
    for n in range(30):
        _wav(root / f"clip{n:02d}.wav")
    train, val = speech_files(root, "train"), speech_files(root, "val")
    assert _speakers(train) == _speakers(val) == {"solo"}
    assert 1 <= len(val) <= 8 and len(train) + len(val) == 30
    assert speech_files(root, "val") == val


def test_two_unknown_speakers_get_one_split_each() -> None:
    files = [SpeechFile(Path(f"/x/{s}/{n}.wav"), s, "folder") for s in ("ann", "bob") for n in range(3)]
    splits = {f.speaker: f.split for f in assign_splits(files)}
    assert sorted(splits.values()) == ["train", "val"]


def test_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found") as missing:
        speech_files(tmp_path / "nope")
    assert "nope" in str(missing.value)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="no audio files") as no_audio:
        speech_files(empty)
    assert str(empty) in str(no_audio.value)
    _wav(tmp_path / "one" / "a.wav")
    with pytest.raises(ValueError, match="not a folder"):
        speech_files(tmp_path / "one" / "a.wav")
    with pytest.raises(ValueError, match="unknown split"):
        speech_files(tmp_path / "one", "test")  # type: ignore[arg-type]


def test_words_matching_nothing_is_an_error(speech_root: Path, commands_root: Path) -> None:
    with pytest.raises(ValueError, match="left, right"):
        speech_files(commands_root, words=["yes"])
    with pytest.raises(ValueError, match="no file here has a word label"):
        speech_files(speech_root / "asterisk", words=["yes"])
