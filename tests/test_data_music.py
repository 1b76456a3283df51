"""Music tracks in MIR-1K (stereo file) and MUSDB (stem folder) layouts: listing, splits, loading, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vqaudio.audio.io import AudioError
from vqaudio.data import FixedCrop, MusicRemixDataset, MusicTrack, load_tracks, music_clips, music_tracks

SR = 16000
MUSDB_SR = 44100


def _write(path: Path, wave: np.ndarray, sample_rate: int = SR) -> Path:
    """(T,) or (C, T) samples; wav keeps float values exactly, flac (integer only) at 24 bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if path.suffix == ".wav" else "PCM_24"
    sf.write(str(path), np.asarray(wave, dtype=np.float32).T, sample_rate, subtype=subtype)
    return path


def _sine(hz: float, n: int, sample_rate: int = SR, amp: float = 0.2) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / sample_rate)).astype(np.float32)


def _clip(path: Path, vocals_hz: float, n: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A MIR-1K-style clip: accompaniment (300 Hz) left, vocals right; returns (vocals, accompaniment)."""
    vocals, accompaniment = _sine(vocals_hz, n), _sine(300.0, n, amp=0.1)
    _write(path, np.stack([accompaniment, vocals]))
    return vocals, accompaniment


def _stems(seed: int, n: int = MUSDB_SR // 2) -> dict[str, np.ndarray]:
    """Stereo stems (left and right differ) and their sum as the mixture."""
    rng = np.random.default_rng(seed)
    stems = {
        "vocals": np.stack([_sine(880.0, n, MUSDB_SR), _sine(880.0, n, MUSDB_SR, amp=0.05)]),
        "drums": (0.05 * rng.standard_normal((2, n))).astype(np.float32),
        "bass": np.stack([_sine(90.0, n, MUSDB_SR), _sine(90.0, n, MUSDB_SR, amp=0.1)]),
        "other": np.stack([_sine(440.0, n, MUSDB_SR, amp=0.02), _sine(660.0, n, MUSDB_SR)]),
    }
    stems["mixture"] = stems["vocals"] + stems["drums"] + stems["bass"] + stems["other"]
    return stems


def _track(folder: Path, stems: dict[str, np.ndarray], skip: tuple[str, ...] = ()) -> Path:
    for name, wave in stems.items():
        if name not in skip:
            _write(folder / f"{name}.wav", wave, MUSDB_SR)
    return folder


@pytest.fixture
def musdb(tmp_path: Path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """MUSDB18-style train/ and test/ folders; "Gamma" has no drums (accompaniment = mixture - vocals)."""
    root = tmp_path / "musdb18hq"
    made = {"Alpha": _stems(0), "Beta": _stems(1), "Gamma": _stems(2)}
    _track(root / "train" / "Alpha", made["Alpha"])
    _track(root / "test" / "Beta", made["Beta"])
    _track(root / "test" / "Gamma", made["Gamma"], skip=("drums",))
    return root, made


# -- MIR-1K layout ----------------------------------------------------------------------------------------------


def test_mir1k_tracks_and_load(tmp_path: Path) -> None:
    root = tmp_path / "mir1k"
    vocals, accompaniment = _clip(root / "train" / "b_1_01.flac", 1000.0)
    _clip(root / "train" / "a_1_01.flac", 1200.0)
    _clip(root / "val" / "c_2_01.flac", 800.0)
    train = music_tracks(root, "train")
    assert [t.name for t in train] == ["a_1_01", "b_1_01"]
    assert all(t.layout == "mir1k" and t.path.is_file() for t in train)
    assert [t.name for t in music_tracks(root, "val")] == ["c_2_01"]
    assert [t.path for t in music_tracks(root)] == sorted(music_clips(root), key=lambda p: p.stem)
    v, a = train[1].load(SR)
    assert v.shape == a.shape == (SR,) and v.dtype == a.dtype == np.float32
    np.testing.assert_allclose(v, vocals, atol=1e-6)  # right channel is the voice
    np.testing.assert_allclose(a, accompaniment, atol=1e-6)
    v2, a2 = train[1].load(SR, mono=False)
    assert v2.shape == a2.shape == (1, SR) and np.array_equal(v2[0], v)
    v8, a8 = train[1].load(8000)
    assert v8.shape == a8.shape == (8000,)


def test_mir1k_errors(tmp_path: Path) -> None:
    mono = _write(tmp_path / "plain" / "mono.flac", _sine(440.0, SR))
    with pytest.raises(ValueError, match=r"mono\.flac: has 1 channel\(s\), expected 2"):
        MusicTrack("mono", "mir1k", mono).load(SR)
    with pytest.raises(AudioError, match="not found"):
        MusicTrack("gone", "mir1k", tmp_path / "gone.flac").load(SR)
    with pytest.raises(ValueError, match="unknown layout"):
        MusicTrack("x", "stems", mono)
    with pytest.raises(ValueError, match="unknown split"):
        music_tracks(tmp_path / "plain", "test")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not found"):
        music_tracks(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no audio files.*MUSDB"):
        music_tracks(tmp_path / "empty")


# -- MUSDB layout -----------------------------------------------------------------------------------------------


def test_musdb_layout_and_splits(tmp_path: Path, musdb: tuple[Path, dict]) -> None:
    root, _ = musdb
    tracks = music_tracks(root)
    assert [t.name for t in tracks] == ["Alpha", "Beta", "Gamma"]
    assert all(t.layout == "musdb" and t.path.is_dir() for t in tracks)
    assert [t.name for t in music_tracks(root, "train")] == ["Alpha"]
    assert [t.name for t in music_tracks(root, "val")] == ["Beta", "Gamma"]  # test/ when there is no val/
    assert [t.name for t in music_tracks(tmp_path, "val")] == ["Beta", "Gamma"]  # split folders found lower down
    _track(root / "val" / "Delta", _stems(3, n=4410))
    assert [t.name for t in music_tracks(root, "val")] == ["Delta"]  # a val/ folder wins over test/
    plain = tmp_path / "plain"
    _track(plain / "Zeta", _stems(4, n=4410), skip=("mixture",))
    _track(plain / "Eta", _stems(5, n=4410), skip=("drums", "bass", "other"))
    assert [t.name for t in music_tracks(plain, "train")] == ["Eta", "Zeta"] == [t.name for t in music_tracks(plain)]
    assert music_tracks(plain, "val") == music_tracks(plain, "train")
    only_test = tmp_path / "only_test"
    _track(only_test / "test" / "Theta", _stems(6, n=4410))
    with pytest.raises(ValueError, match="no train tracks"):
        music_tracks(only_test, "train")


def test_musdb_load(musdb: tuple[Path, dict]) -> None:
    root, made = musdb
    alpha, beta, gamma = music_tracks(root)
    n = round(MUSDB_SR // 2 * SR / MUSDB_SR)
    vocals, accompaniment = alpha.load(SR, mono=False)
    assert vocals.shape == accompaniment.shape == (2, n) and accompaniment.dtype == np.float32
    v44, a44 = alpha.load(MUSDB_SR, mono=False)  # at the files' own rate: exactly the stems written
    stems = made["Alpha"]
    np.testing.assert_allclose(v44, stems["vocals"], atol=1e-7)
    np.testing.assert_allclose(a44, stems["drums"] + stems["bass"] + stems["other"], atol=1e-6)
    mono_v, mono_a = alpha.load(MUSDB_SR)
    np.testing.assert_allclose(mono_v, stems["vocals"].mean(axis=0), atol=1e-7)  # mono averages the channels
    np.testing.assert_allclose(mono_a, (stems["drums"] + stems["bass"] + stems["other"]).mean(axis=0), atol=1e-6)
    g_v, g_a = gamma.load(MUSDB_SR, mono=False)  # no drums.wav: accompaniment = mixture - vocals
    g = made["Gamma"]
    np.testing.assert_allclose(g_v, g["vocals"], atol=1e-7)
    np.testing.assert_allclose(g_a, g["mixture"] - g["vocals"], atol=1e-6)
    np.testing.assert_allclose(g_a, g["drums"] + g["bass"] + g["other"], atol=1e-5)
    b_v, _ = beta.load(SR)
    assert b_v.shape == (n,)
    assert np.corrcoef(b_v, vocals.mean(axis=0))[0, 1] > 0.999  # the same 880 Hz voice, resampled


def test_musdb_errors_and_trimming(tmp_path: Path) -> None:
    stems = _stems(7, n=10000)
    root = tmp_path / "songs"
    _track(root / "Good", stems)
    _track(root / "NoVoice", stems, skip=("vocals",))
    _track(root / "NoBacking", stems, skip=("mixture", "other"))
    short = dict(stems, drums=stems["drums"][:, :9950])  # 0.5% shorter: trimmed
    _track(root / "Short", short)
    broken = dict(stems, bass=stems["bass"][:, :9000])  # 10% shorter: refused
    _track(root / "Broken", broken)
    tracks = {t.name: t for t in music_tracks(root)}
    assert sorted(tracks) == ["Broken", "Good", "NoBacking", "NoVoice", "Short"]
    with pytest.raises(ValueError, match=r"NoVoice: no vocals file"):
        tracks["NoVoice"].load(SR)
    with pytest.raises(ValueError, match=r"NoBacking: has no other and no mixture"):
        tracks["NoBacking"].load(SR)
    with pytest.raises(ValueError, match=r"Broken: stems differ in length by more than 1%.*bass\.wav: 9000"):
        tracks["Broken"].load(MUSDB_SR)
    v, a = tracks["Short"].load(MUSDB_SR, mono=False)
    assert v.shape == a.shape == (2, 9950)
    np.testing.assert_allclose(a, (stems["drums"] + stems["bass"] + stems["other"])[:, :9950], atol=1e-6)
    mono_vocals = tmp_path / "mixed_channels"
    _track(mono_vocals / "Song", dict(stems, vocals=stems["vocals"][0]))
    (song,) = music_tracks(mono_vocals)
    with pytest.raises(ValueError, match="different channel counts"):
        song.load(SR, mono=False)
    assert song.load(SR)[0].shape == song.load(SR)[1].shape  # mono: every stem downmixed first
    orphan = tmp_path / "orphan"
    _track(orphan / "Song", stems, skip=("vocals", "drums", "bass", "other"))  # only mixture.wav
    with pytest.raises(ValueError, match=r"mixture\.wav but no vocals"):
        music_tracks(orphan)


# -- the remix dataset and loading many ------------------------------------------------------------------------


def test_remix_dataset_takes_tracks(tmp_path: Path, musdb: tuple[Path, dict]) -> None:
    root, _ = musdb
    clip = tmp_path / "mir" / "song.flac"
    clip_vocals, clip_accompaniment = _clip(clip, 1000.0)
    tracks = [*music_tracks(root), clip]
    kw = {"remix_prob": 0.0, "stem_gain_db": (0.0, 0.0), "level_dbfs": None, "fixed": True}
    n = 4000
    ds = MusicRemixDataset(tracks, SR, n, transform=FixedCrop(n), **kw)  # type: ignore[arg-type]
    assert len(ds) == 4 and ds.clips == [t.path for t in music_tracks(root)] + [clip]
    for i, track in enumerate(music_tracks(root)):
        mixture, stems = ds[i]
        assert stems.shape == (2, n) and torch.equal(stems.sum(0), mixture)
        vocals, accompaniment = track.load(SR)
        start = (len(vocals) - n) // 2
        np.testing.assert_allclose(stems[0].numpy(), vocals[start : start + n], atol=1e-6)
        np.testing.assert_allclose(stems[1].numpy(), accompaniment[start : start + n], atol=1e-6)
    _, stems = ds[3]  # a path beside tracks is a MIR-1K clip
    start = (SR - n) // 2
    np.testing.assert_allclose(stems[0].numpy(), clip_vocals[start : start + n], atol=1e-6)
    np.testing.assert_allclose(stems[1].numpy(), clip_accompaniment[start : start + n], atol=1e-6)
    by_path = MusicRemixDataset([clip], SR, n, transform=FixedCrop(n), **kw)  # type: ignore[arg-type]
    by_track = MusicRemixDataset(music_tracks(clip.parent), SR, n, transform=FixedCrop(n), **kw)  # type: ignore[arg-type]
    assert torch.equal(by_path[0][1], by_track[0][1])


def test_load_tracks_skips_broken_files(tmp_path: Path) -> None:
    good = tmp_path / "good.flac"
    _clip(good, 1000.0)
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not audio at all")
    tracks = [MusicTrack("bad", "mir1k", bad), MusicTrack("good", "mir1k", good)]
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 music tracks.*bad\.flac"):
        loaded = load_tracks(tracks, SR)
    assert [i for i, _, _ in loaded] == [1] and loaded[0][1].shape == (SR,)
    with pytest.raises(AudioError, match=r"bad\.flac"):
        load_tracks(tracks, SR, on_error="raise")
    with pytest.raises(ValueError, match="empty"):
        load_tracks([], SR)


# -- real recordings --------------------------------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_mir1k_tracks(shared_data_dir: Path) -> None:
    mir1k = shared_data_dir / "music" / "mir1k"
    train, val = music_tracks(mir1k, "train"), music_tracks(mir1k, "val")
    assert len(train) == 175 and len(val) == 80
    assert all(t.layout == "mir1k" for t in train + val) and not {t.name for t in train} & {t.name for t in val}
    assert {t.name.split("_")[0] for t in val} == {"Ani", "annar"}
    track = val[0]
    vocals, accompaniment = track.load(SR)
    left_right = sf.read(str(track.path), dtype="float32")[0].T
    assert vocals.shape == accompaniment.shape == (left_right.shape[1],)
    np.testing.assert_array_equal(vocals, left_right[1])  # 16 kHz already: the right channel as it is
    np.testing.assert_array_equal(accompaniment, left_right[0])
