"""WaveformCropDataset: lengths, padding, random vs fixed crops, seeding, workers, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vqaudio.audio.io import AudioError, save
from vqaudio.data import SpeechFile, WaveformCropDataset, crop_offsets

SR = 8000


def _ramp(path: Path, n: int, start: float = 0.001, sample_rate: int = SR) -> Path:
    """Strictly increasing positive samples, so a crop's values tell where it came from."""
    return save(path, np.linspace(start, 0.9, n, dtype=np.float32), sample_rate, subtype="FLOAT")


@pytest.fixture()
def files(tmp_path: Path) -> list[Path]:
    return [
        _ramp(tmp_path / "long.wav", 4000),
        _ramp(tmp_path / "mid.wav", 1500),
        _ramp(tmp_path / "short.wav", 100),
    ]


def test_crop_offsets_evenly_spaced_and_centred() -> None:
    assert crop_offsets(1000, 200, 4).tolist() == [100, 300, 500, 700]
    assert crop_offsets(1000, 200, 1).tolist() == [400]
    assert crop_offsets(100, 400, 1).tolist() == [-150]  # short file centred in the crop


def test_lengths_shapes_and_fixed_crops(files: list[Path]) -> None:
    ds = WaveformCropDataset(files, SR, crop_samples=400, random_crops=False, crops_per_file=3)
    assert len(ds) == 9
    crops = [ds[i] for i in range(len(ds))]
    assert all(c.shape == (400,) and c.dtype == torch.float32 for c in crops)
    long = np.linspace(0.001, 0.9, 4000, dtype=np.float32)
    for k, offset in enumerate(crop_offsets(4000, 400, 3)):
        np.testing.assert_allclose(crops[k].numpy(), long[offset : offset + 400], atol=1e-6)
    # same crops every epoch and in a fresh dataset
    again = WaveformCropDataset(files, SR, crop_samples=400, random_crops=False, crops_per_file=3, seed=9)
    for i in range(len(ds)):
        assert torch.equal(ds[i], crops[i]) and torch.equal(again[i], crops[i])


def test_short_file_is_zero_padded(files: list[Path]) -> None:
    fixed = WaveformCropDataset([files[2]], SR, crop_samples=400, random_crops=False)
    crop = fixed[0].numpy()
    nonzero = np.flatnonzero(crop)
    assert nonzero.tolist() == list(range(150, 250))  # centred
    starts = set()
    rand = WaveformCropDataset([files[2]], SR, crop_samples=400, random_crops=True, crops_per_file=1)
    for _ in range(20):
        crop = rand[0].numpy()
        nz = np.flatnonzero(crop)
        assert len(nz) == 100 and nz[-1] - nz[0] == 99  # the whole file, contiguous
        assert np.all(np.diff(crop[nz]) > 0)
        starts.add(int(nz[0]))
    assert len(starts) > 5  # padded at a random position


def test_random_crops_vary_and_repeat_with_seed(files: list[Path]) -> None:
    a = WaveformCropDataset(files[:1], SR, crop_samples=400, random_crops=True, crops_per_file=4, seed=1)
    b = WaveformCropDataset(files[:1], SR, crop_samples=400, random_crops=True, crops_per_file=4, seed=1)
    c = WaveformCropDataset(files[:1], SR, crop_samples=400, random_crops=True, crops_per_file=4, seed=2)
    seq_a = [a[i % 4] for i in range(12)]
    seq_b = [b[i % 4] for i in range(12)]
    seq_c = [c[i % 4] for i in range(12)]
    assert all(torch.equal(x, y) for x, y in zip(seq_a, seq_b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(seq_a, seq_c, strict=True))
    firsts = {round(float(x[0]), 6) for x in seq_a}
    assert len(firsts) >= 10  # a new offset on every call, even for the same index
    long = np.linspace(0.001, 0.9, 4000, dtype=np.float32)
    for x in seq_a:  # every crop is a true slice of the file
        offset = int(np.argmin(np.abs(long - float(x[0]))))
        np.testing.assert_allclose(x.numpy(), long[offset : offset + 400], atol=1e-6)


def test_workers_draw_different_crops_reproducibly(files: list[Path]) -> None:
    ds = WaveformCropDataset(files[:1], SR, crop_samples=400, random_crops=True, crops_per_file=8, seed=3)

    def epoch() -> torch.Tensor:
        torch.manual_seed(0)
        loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
        return torch.cat(list(loader))

    first, second = epoch(), epoch()
    assert torch.equal(first, second)
    starts = first[:, 0]
    assert len(set(starts.tolist())) == 8  # the two workers do not repeat each other's offsets


def test_resamples_and_accepts_speech_files(tmp_path: Path) -> None:
    path = _ramp(tmp_path / "hi.wav", 16000, sample_rate=16000)
    ds = WaveformCropDataset([SpeechFile(path, "x", "folder")], SR, 1000, random_crops=False)
    assert ds.total_seconds == pytest.approx(1.0, abs=1e-3)
    assert ds.file_wave(0).shape == (8000,)
    assert ds.paths == [path]


def test_min_rms_avoids_silent_crops(tmp_path: Path) -> None:
    t = np.arange(6000) / SR
    wave = np.concatenate([np.zeros(2000), 0.5 * np.sin(2 * np.pi * 300 * t)]).astype(np.float32)
    path = save(tmp_path / "half.wav", wave, SR, subtype="FLOAT")

    def rms(x: torch.Tensor) -> float:
        return float(x.pow(2).mean().sqrt())

    plain = WaveformCropDataset([path], SR, 1000, random_crops=False, crops_per_file=4)
    assert rms(plain[0]) < 0.01  # the first fixed crop lands in the silence
    fixed = WaveformCropDataset([path], SR, 1000, random_crops=False, crops_per_file=4, min_rms=0.1)
    assert all(rms(fixed[i]) >= 0.1 for i in range(4))
    assert torch.equal(fixed[0], fixed[0])
    rand = WaveformCropDataset([path], SR, 1000, random_crops=True, min_rms=0.1, seed=0)
    assert all(rms(rand[0]) >= 0.1 for _ in range(30))


def test_bad_files_warn_or_raise(tmp_path: Path, files: list[Path]) -> None:
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + bytes(100))
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 .*broken\.flac"):
        ds = WaveformCropDataset([*files, broken], SR, 400, random_crops=False)
    assert len(ds) == 3 and broken not in ds.paths
    with pytest.raises(AudioError, match="broken"):
        WaveformCropDataset([broken, *files], SR, 400, random_crops=False, on_error="raise")
    with pytest.raises(ValueError, match="none of the 1"):
        WaveformCropDataset([broken], SR, 400, random_crops=False)
    with pytest.raises(ValueError, match="empty"):
        WaveformCropDataset([], SR, 400, random_crops=True)
    with pytest.raises(ValueError, match="crop_samples"):
        WaveformCropDataset(files, SR, 0, random_crops=True)
    with pytest.raises(IndexError):
        WaveformCropDataset(files, SR, 400, random_crops=False)[3]


def _peak_hz(crop: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(crop.numpy() * np.hanning(crop.numel())))
    return float(np.argmax(spectrum)) * SR / crop.numel()


def test_speed_perturb_moves_pitch_within_the_range_and_keeps_the_length(tmp_path: Path) -> None:
    t = np.arange(3 * SR) / SR
    tone = save(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 500.0 * t).astype(np.float32), SR, subtype="FLOAT")
    plain = WaveformCropDataset([tone], SR, crop_samples=2000, random_crops=True, crops_per_file=8)
    assert {round(_peak_hz(plain[i])) for i in range(8)} == {500}
    moved = WaveformCropDataset([tone], SR, crop_samples=2000, random_crops=True, crops_per_file=40, speed_perturb=0.2)
    peaks = np.array([_peak_hz(moved[i]) for i in range(40)])
    assert all(moved[i].shape == (2000,) and moved[i].dtype == torch.float32 for i in range(3))
    assert peaks.min() >= 400 - 4 and peaks.max() <= 600 + 4  # 4 Hz = one FFT bin
    assert peaks.max() - peaks.min() > 100  # spread over the range, not one factor
    fixed = WaveformCropDataset([tone], SR, crop_samples=2000, random_crops=False, speed_perturb=0.2)
    assert round(_peak_hz(fixed[0])) == 500  # validation crops are never perturbed
    with pytest.raises(ValueError, match="speed_perturb"):
        WaveformCropDataset([tone], SR, crop_samples=2000, random_crops=True, speed_perturb=0.6)


def test_level_db_scales_every_file_to_the_target(tmp_path: Path) -> None:
    from vqaudio.audio.level import active_level_db

    t = np.arange(SR) / SR
    paths = [
        save(tmp_path / f"{i}.wav", (a * np.sin(2 * np.pi * 300.0 * t)).astype(np.float32), SR, subtype="FLOAT")
        for i, a in enumerate((0.5, 0.005))
    ]
    ds = WaveformCropDataset(paths, SR, crop_samples=800, random_crops=False, level_db=-26.0)
    for i in range(2):
        assert active_level_db(ds.file_wave(i), SR) == pytest.approx(-26.0, abs=0.01)
    raw = WaveformCropDataset(paths, SR, crop_samples=800, random_crops=False)
    assert active_level_db(raw.file_wave(1), SR) == pytest.approx(20 * np.log10(0.005 / np.sqrt(2)), abs=0.05)


def test_by_duration_draws_crops_in_proportion_to_each_file_s_length(files: list[Path]) -> None:
    # 4000 + 1500 + 100 samples: of 3 x 8 = 24 crops, ~17 from the long file, ~6 from the mid one, ~0-1 from the short
    ds = WaveformCropDataset(files, SR, 50, random_crops=True, crops_per_file=8, by_duration=True)
    assert len(ds) == 24
    counts = np.bincount(ds._file_of_crop, minlength=3)
    expected = 24 * np.array([4000, 1500, 100]) / 5600
    assert np.all(np.abs(counts - expected) <= 1), (counts, expected)
    # crops still come from the file they are drawn for: the long ramp's values stay below its own end
    long_values = [float(ds[i].max()) for i in range(len(ds)) if ds._file_of_crop[i] == 0]
    assert long_values and max(long_values) <= 0.9 + 1e-6
    # fixed (validation) crops keep one set per file
    fixed = WaveformCropDataset(files, SR, 50, random_crops=False, crops_per_file=2, by_duration=True)
    assert fixed._file_of_crop is None and len(fixed) == 6


def test_transform_recolours_random_crops_only_and_must_keep_their_length(tmp_path: Path) -> None:
    from vqaudio.data import RandomEqualizer

    noise = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.1
    path = save(tmp_path / "noise.wav", noise, SR, subtype="FLOAT")
    eq = RandomEqualizer(12.0, SR, keep_rms=True)
    for seed in range(4):
        # a fresh pair with one seed draws its first crop at the same offset: only the colour differs
        plain = WaveformCropDataset([path], SR, crop_samples=4000, random_crops=True, seed=seed)
        coloured = WaveformCropDataset([path], SR, crop_samples=4000, random_crops=True, seed=seed, transform=eq)
        a, b = plain[0].numpy(), coloured[0].numpy()
        assert b.shape == a.shape and b.dtype == np.float32
        assert np.sqrt(np.mean(b**2)) == pytest.approx(np.sqrt(np.mean(a**2)), rel=1e-3)  # level kept
        assert np.max(np.abs(b - a)) > 0.01
    fixed = WaveformCropDataset([path], SR, crop_samples=4000, random_crops=False, transform=eq)
    assert fixed.transform is None and np.array_equal(
        fixed[0].numpy(), WaveformCropDataset([path], SR, crop_samples=4000, random_crops=False)[0].numpy()
    )
    halving = WaveformCropDataset([path], SR, crop_samples=4000, random_crops=True, transform=lambda w, rng: w[::2])
    with pytest.raises(ValueError, match="keep their length"):
        halving[0]
