"""LibriSpeech, GCompris and Speech Commands in their own layouts, and `corpora` on a speech root.

The always-run tests build tiny folders of real FLAC/WAV files here; the `shared_data` ones check the counts
that ../shared/data/README.md states, and that the default listing of the speech root is unchanged.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vqaudio.data import DEFAULT_SPEECH_CORPORA, SPEECH_CORPORA, SpeechFile, detect_layout, speech_files
from vqaudio.data.summary import CORPUS_LICENCES, corpus_of, licences_for, summarize_training_files
from vqaudio.train.config import DataConfig, RecipeConfig


def _audio(path: Path, sample_rate: int = 16000, seconds: float = 0.02) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.full(round(seconds * sample_rate), 0.1, dtype=np.float32), sample_rate)
    return path


def _speakers(files: list[SpeechFile]) -> set[str]:
    return {f.speaker for f in files}


def _librispeech_tree(tree: Path, chapters: dict[str, list[str]], utterances: int = 2) -> None:
    """`tree/<speaker>/<chapter>/<speaker>-<chapter>-000n.flac` plus the transcript LibriSpeech puts beside them."""
    for speaker, speaker_chapters in chapters.items():
        for chapter in speaker_chapters:
            folder = tree / speaker / chapter
            for n in range(utterances):
                _audio(folder / f"{speaker}-{chapter}-{n:04d}.flac")
            (folder / f"{speaker}-{chapter}.trans.txt").write_text(f"{speaker}-{chapter}-0000 HELLO\n")


LIBRI_TRAIN = {"19": ["198", "227"], "26": ["495"], "32": ["4137"]}  # speaker 19 reads two chapters
LIBRI_VAL = {"40": ["222"], "163": ["121908"]}


@pytest.fixture()
def librispeech(tmp_path: Path) -> Path:
    """The shared copy's layout: librispeech/{train,val}/<speaker>/<chapter>/."""
    root = tmp_path / "librispeech"
    _librispeech_tree(root / "train", LIBRI_TRAIN)
    _librispeech_tree(root / "val", LIBRI_VAL)
    return root


GCOMPRIS_TRAIN = {"clara_coudoin": 3, "art4apps_org": 2}
GCOMPRIS_VAL = {"zohra_coudoin": 2}


def _gcompris(root: Path, speakers: dict[str, int]) -> None:
    for speaker, n in speakers.items():
        for i in range(n):
            _audio(root / speaker / f"fr_geography_place{i}.flac")


@pytest.fixture()
def gcompris(tmp_path: Path) -> Path:
    root = tmp_path / "gcompris"
    _gcompris(root / "train", GCOMPRIS_TRAIN)
    _gcompris(root / "val", GCOMPRIS_VAL)
    return root


COMMANDS_SPEAKERS = ("0a7c2a8d", "0ab3b47d", "0b09edd3")


def _speech_commands(root: Path) -> None:
    for word in ("yes", "left"):
        for speaker in COMMANDS_SPEAKERS:
            _audio(root / word / f"{speaker}_nohash_0.flac")
    # as in the real lists, a validation speaker's clips are listed for every word
    (root / "validation_list.txt").write_text(
        "".join(f"{w}/{COMMANDS_SPEAKERS[0]}_nohash_0.flac\n" for w in ("yes", "left"))
    )


@pytest.fixture()
def speech_root(tmp_path: Path) -> Path:
    """The shared speech root in miniature: every corpus in its own folder."""
    root = tmp_path / "speech"
    for speaker in ("george", "yweweler"):
        for digit in range(2):
            _audio(root / "fsdd" / "recordings" / f"{digit}_{speaker}_0.wav", 8000)
    for voice in ("fr_CA_f_June", "ru_RU_f_IvrvoiceRU"):
        for prompt in ("activated", "vm-goodbye", "beep"):
            _audio(root / "asterisk" / voice / f"{prompt}.flac", 8000)
    _librispeech_tree(root / "librispeech" / "train", {"19": ["198"]})
    _librispeech_tree(root / "librispeech" / "val", {"40": ["222"]})
    _gcompris(root / "gcompris" / "train", {"clara_coudoin": 2})
    _gcompris(root / "gcompris" / "val", {"zohra_coudoin": 1})
    _speech_commands(root / "speech_commands")
    (root / "LICENSES").mkdir()
    (root / "LICENSES" / "librispeech.LICENSE.TXT").write_text("CC BY 4.0\n")
    return root


# --- LibriSpeech ---------------------------------------------------------------------------------------------------


def test_librispeech_train_val_layout(librispeech: Path) -> None:
    assert detect_layout(librispeech) == "librispeech"
    train, val = speech_files(librispeech, "train"), speech_files(librispeech, "val")
    assert Counter(f.speaker for f in train) == {"19": 4, "26": 2, "32": 2}  # the speaker, not the chapter
    assert Counter(f.speaker for f in val) == {"40": 2, "163": 2}
    assert {f.corpus for f in train + val} == {"librispeech"}
    assert {f.split for f in train} == {"train"} and {f.split for f in val} == {"val"}
    assert all(f.path.suffix == ".flac" and f.word is None for f in train + val)  # transcripts are not audio
    assert [f.path for f in speech_files(librispeech)] == sorted(f.path for f in train + val)


def test_librispeech_half_pointed_at_keeps_its_split(librispeech: Path) -> None:
    for split in ("train", "val"):
        assert detect_layout(librispeech / split) == "librispeech"
        files = speech_files(librispeech / split)
        assert {f.split for f in files} == {split}
        assert _speakers(files) == set(LIBRI_TRAIN if split == "train" else LIBRI_VAL)


def test_plain_librispeech_download_splits_by_speaker_hash(tmp_path: Path) -> None:
    root = tmp_path / "LibriSpeech"
    _librispeech_tree(root / "train-clean-100", {"19": ["198", "227"], "26": ["495"], "32": ["4137"], "125": ["1"]})
    _librispeech_tree(root / "dev-clean", {"89": ["219"], "103": ["1240"]})
    _librispeech_tree(root / "test-clean", {"39": ["121914"], "40": ["222"]})
    (root / "SPEAKERS.TXT").write_text(";ID|SEX|SUBSET|MINUTES|NAME\n")
    assert detect_layout(root) == "librispeech"
    train, val = speech_files(root, "train"), speech_files(root, "val")
    # base.assign_splits: speakers whose stable hash is below 0.1 (89: 0.089, 125: 0.049) validate
    assert _speakers(val) == {"89", "125"}
    assert _speakers(train) == {"19", "26", "32", "103", "39", "40"}
    assert Counter(f.speaker for f in train)["19"] == 4
    assert {f.corpus for f in train + val} == {"librispeech"}
    moved = root.rename(tmp_path / "elsewhere")
    assert _speakers(speech_files(moved, "val")) == {"89", "125"}  # the names decide, not the location
    subset = moved / "train-clean-100"
    assert detect_layout(subset) == "librispeech"
    assert _speakers(speech_files(subset, "val")) == {"125"}


def test_numbered_folders_without_librispeech_names_stay_a_plain_folder(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for month in ("01", "02"):
        _audio(root / "2021" / month / "take.wav")
        _audio(root / "2022" / month / "take.wav")
    assert detect_layout(root) == "folder"
    assert {f.corpus for f in speech_files(root)} == {"folder"}


# --- GCompris ------------------------------------------------------------------------------------------------------


def test_gcompris_train_val_layout(gcompris: Path) -> None:
    assert detect_layout(gcompris) == "gcompris"
    train, val = speech_files(gcompris, "train"), speech_files(gcompris, "val")
    assert Counter(f.speaker for f in train) == GCOMPRIS_TRAIN
    assert Counter(f.speaker for f in val) == GCOMPRIS_VAL
    assert {f.corpus for f in train + val} == {"gcompris"}
    assert {f.split for f in train} == {"train"} and {f.split for f in val} == {"val"}
    for split in ("train", "val"):
        assert detect_layout(gcompris / split) == "gcompris"
        assert speech_files(gcompris / split) == speech_files(gcompris, split)


def test_gcompris_without_train_val_splits_by_speaker_hash(tmp_path: Path) -> None:
    root = tmp_path / "GCompris-voices"
    speakers = ["ann_lee", "bob_ray", "cai_wen", "dee_fox", "eli_moss", "fay_hart", "gus_ng", "hal_ode"]
    _gcompris(root, dict.fromkeys(speakers, 2))
    assert detect_layout(root) == "gcompris"
    val = speech_files(root, "val")
    # no speaker hashes below 0.1, so the lowest (ann_lee, 0.251) validates alone: at least one val speaker
    assert _speakers(val) == {"ann_lee"} and len(val) == 2
    assert _speakers(speech_files(root, "train")) == set(speakers) - {"ann_lee"}
    assert {f.corpus for f in speech_files(root)} == {"gcompris"}


def test_speaker_folders_not_named_gcompris_stay_a_plain_folder(tmp_path: Path) -> None:
    _gcompris(tmp_path / "voices" / "train", GCOMPRIS_TRAIN)
    assert detect_layout(tmp_path / "voices") == "folder"


# --- the speech root and `corpora` ---------------------------------------------------------------------------------


def test_speech_root_default_is_fsdd_and_asterisk(speech_root: Path) -> None:
    assert detect_layout(speech_root) == "speech"
    assert DEFAULT_SPEECH_CORPORA == ("fsdd", "asterisk")
    for split in ("train", "val", "all"):
        before = sorted(
            speech_files(speech_root / "fsdd", split) + speech_files(speech_root / "asterisk", split),
            key=lambda f: str(f.path),
        )
        assert speech_files(speech_root, split) == before
        assert speech_files(speech_root, split, corpora=["fsdd", "asterisk"]) == before
    assert _speakers(speech_files(speech_root, "val")) == {"yweweler", "ru_RU_f_IvrvoiceRU"}


def test_speech_root_corpora_list_and_all(speech_root: Path) -> None:
    wide = speech_files(speech_root, "train", corpora=["librispeech", "gcompris"])
    assert Counter(f.corpus for f in wide) == {"librispeech": 2, "gcompris": 2}
    assert _speakers(wide) == {"19", "clara_coudoin"}
    assert _speakers(speech_files(speech_root, "val", corpora="librispeech")) == {"40"}
    everything = speech_files(speech_root, "all", corpora="all")
    assert Counter(f.corpus for f in everything) == {
        "fsdd": 4,
        "asterisk": 4,  # beep left out
        "librispeech": 4,
        "gcompris": 3,
        "speech_commands": 6,
    }
    val = speech_files(speech_root, "val", corpora="all")
    assert Counter(f.corpus for f in val) == {
        "fsdd": 2,
        "asterisk": 2,
        "librispeech": 2,
        "gcompris": 1,
        "speech_commands": 2,
    }
    assert _speakers(val) == {"yweweler", "ru_RU_f_IvrvoiceRU", "40", "zohra_coudoin", COMMANDS_SPEAKERS[0]}
    assert speech_files(speech_root, corpora=["Speech-Commands"]) == speech_files(speech_root / "speech_commands")
    yes = speech_files(speech_root, corpora="all", words=["yes", "zero"])
    assert Counter(f.corpus for f in yes) == {"speech_commands": 3, "fsdd": 2}


def test_unknown_and_absent_corpora_are_errors(speech_root: Path) -> None:
    with pytest.raises(ValueError, match="unknown corpora") as unknown:
        speech_files(speech_root, corpora=["libri"])
    assert all(name in str(unknown.value) for name in SPEECH_CORPORA)
    with pytest.raises(ValueError, match="asks for nothing"):
        speech_files(speech_root, corpora=[])
    shutil.rmtree(speech_root / "gcompris")
    with pytest.raises(ValueError, match="gcompris") as absent:
        speech_files(speech_root, corpora=["librispeech", "gcompris"])
    assert "librispeech, speech_commands, fsdd, asterisk" in str(absent.value)


def test_speech_root_without_fsdd_or_asterisk_gives_every_corpus(tmp_path: Path) -> None:
    root = tmp_path / "wideband"
    _librispeech_tree(root / "librispeech" / "train", {"19": ["198"]})
    _librispeech_tree(root / "librispeech" / "val", {"40": ["222"]})
    _speech_commands(root / "speech_commands")
    (root / "gcompris").mkdir()  # empty: not a corpus, so not "present"
    assert detect_layout(root) == "speech"
    assert {f.corpus for f in speech_files(root)} == {"librispeech", "speech_commands"}
    with pytest.raises(ValueError, match="holds librispeech, speech_commands"):
        speech_files(root, corpora="gcompris")


def test_single_corpus_root_accepts_only_its_own_name(librispeech: Path, gcompris: Path) -> None:
    files = speech_files(librispeech)
    assert speech_files(librispeech, corpora="all") == files
    assert speech_files(librispeech, corpora=["librispeech", "gcompris"]) == files
    with pytest.raises(ValueError, match="single corpus, librispeech"):
        speech_files(librispeech, corpora=["gcompris"])
    with pytest.raises(ValueError, match="unknown corpora"):
        speech_files(gcompris, corpora="voices")
    plain = gcompris / "train" / "clara_coudoin"
    assert detect_layout(plain) == "folder"
    assert len(speech_files(plain, corpora=["folder"])) == 3


def test_listing_never_decodes_audio(speech_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("listing opened an audio file")

    for name in ("read", "info", "SoundFile", "blocks"):
        monkeypatch.setattr(sf, name, refuse)
    assert len(speech_files(speech_root, corpora="all")) == 21


# --- summaries, licences, config -----------------------------------------------------------------------------------


def test_summary_names_the_new_corpora_and_their_licences(speech_root: Path) -> None:
    assert set(SPEECH_CORPORA) <= set(CORPUS_LICENCES)
    files = speech_files(speech_root, "train", corpora="all")
    summary = summarize_training_files(files)
    assert list(summary["corpora"]) == sorted(SPEECH_CORPORA)
    assert summary["corpora"]["librispeech"]["speaker_names"] == ["19"]
    licences = licences_for(summary)
    assert "LibriSpeech, CC BY 4.0" in licences and any(lic.startswith("GCompris") for lic in licences)
    old = SpeechFile(Path("/data/gcompris/train/clara/a.flac"), "clara", "folder")  # listed before readers existed
    assert corpus_of(old) == "gcompris"
    assert corpus_of(SpeechFile(Path("/data/mine/a.flac"), "mine", "folder")) == "folder"


def test_data_config_corpora() -> None:
    assert DataConfig().corpora is None
    raw = {"name": "x", "model_type": "vqvae", "data": {"corpora": ["librispeech", "gcompris"]}}
    assert RecipeConfig.from_dict(raw).data.corpora == ["librispeech", "gcompris"]


# --- the shared recordings -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_speech(shared_data_dir: Path) -> Path:
    return shared_data_dir / "speech"


@pytest.mark.shared_data
def test_shared_default_listing_is_unchanged(shared_speech: Path) -> None:
    before = sorted(
        speech_files(shared_speech / "fsdd") + speech_files(shared_speech / "asterisk"), key=lambda f: str(f.path)
    )
    assert speech_files(shared_speech) == before
    for split, count in (("train", 2500 + 561 - 15 + 599 - 15), ("val", 500 + 576 - 15)):
        files = speech_files(shared_speech, split)
        assert files == [f for f in before if f.split == split] and len(files) == count


@pytest.mark.shared_data
def test_shared_corpora_counts_and_disjoint_speakers(shared_speech: Path) -> None:
    start = time.perf_counter()
    files = speech_files(shared_speech, corpora="all")
    assert time.perf_counter() - start < 10.0  # about 1 s: listing reads no audio
    by_split: dict[tuple[str, str | None], set[str]] = {}
    for f in files:
        by_split.setdefault((f.corpus, f.split), set()).add(f.speaker)
    assert {corpus for corpus, _ in by_split} == set(SPEECH_CORPORA)
    for corpus in SPEECH_CORPORA:
        assert not by_split[(corpus, "train")] & by_split[(corpus, "val")], corpus
    # README "Splits to use": 155 LibriSpeech speakers, 17 of them val; GCompris 6 val; Speech Commands 24 val of 180
    assert len(by_split[("librispeech", "val")]) == 17
    assert len(by_split[("librispeech", "train")] | by_split[("librispeech", "val")]) == 155
    assert len(by_split[("gcompris", "val")]) == 6
    assert len(by_split[("speech_commands", "val")]) == 24
    assert len(by_split[("speech_commands", "train")] | by_split[("speech_commands", "val")]) == 180
    assert {split for _, split in by_split} == {"train", "val"}


@pytest.mark.shared_data
def test_shared_corpora_follow_their_folders_and_lists(shared_speech: Path) -> None:
    for corpus in ("librispeech", "gcompris"):
        assert detect_layout(shared_speech / corpus) == corpus
        for split in ("train", "val"):
            files = speech_files(shared_speech, split, corpora=[corpus])
            assert files == speech_files(shared_speech / corpus, split) == speech_files(shared_speech / corpus / split)
            assert all(f.path.is_relative_to(shared_speech / corpus / split) for f in files)
    commands = shared_speech / "speech_commands"
    listed = sorted((commands / "validation_list.txt").read_text().split())
    val = speech_files(shared_speech, "val", corpora="speech_commands")
    assert [f.path.relative_to(commands).as_posix() for f in val] == listed
    libri = speech_files(shared_speech / "librispeech")
    assert all(f.path.name.startswith(f"{f.speaker}-") for f in libri)  # speaker folder = LibriSpeech's speaker id
