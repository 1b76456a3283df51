"""Training tasks: one per job, each pairing its dataset, its loss and its validation metrics.

A task turns a batch into the model's input features and the features it is scored against (both from the
model config's front-end), and model outputs into a loss. Models return outputs only, so the same model class can
serve several jobs: a VQ-VAE reconstructs its input for `reconstruct` and `codec`; a denoiser's target is the clean
speech under its noisy input (the target need not be the input).

    task = build_task("codec")
    train_set, val_set = task.datasets(data_config, sample_rate=8000, seed=0, level_db=-20.0)
    inputs, targets = task.features(model, batch)
    loss, parts = task.loss(model, model(inputs), targets)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from vqaudio.audio import istft, sharpen_db, stft
from vqaudio.data import (
    BandLimited,
    Compose,
    MusicRemixDataset,
    NoisySpeechDataset,
    RandomCrop,
    RandomEqualizer,
    SpeechFile,
    SpeedPerturb,
    Transform,
    WaveformCropDataset,
    join_utterances,
    music_tracks,
    noise_files,
    speech_files,
    spread_evenly,
)
from vqaudio.models.autoencoder import AutoencoderOutput
from vqaudio.models.registry import DEFAULT_TASKS
from vqaudio.train.config import DataConfig
from vqaudio.train.losses import (
    frame_weighted_mse,
    intelligibility_loss,
    loudest_frames,
    multi_resolution_stft_loss,
    phase_derivative_losses,
    si_sdr_db,
    spectral_reconstruction_loss,
)

__all__ = [
    "TASKS",
    "CodecTask",
    "DenoiseTask",
    "EnvelopeTask",
    "PhaseTask",
    "ReconstructTask",
    "SeparateTask",
    "Task",
    "build_task",
    "default_task",
]


class Task(ABC):
    """What a job trains: its data, the (input, target) features of a batch, its loss and validation metrics."""

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]  # registry names of the models it can train

    @abstractmethod
    def datasets(
        self, data: DataConfig, sample_rate: int, seed: int, level_db: float | None
    ) -> tuple[Dataset, Dataset]:
        """(training set, validation set); validation items are the same every epoch."""

    @abstractmethod
    def waves(self, batch: Any) -> tuple[Tensor, Tensor]:
        """A batch -> (input waves (B, T), target waves (B, T) or (B, S, T))."""

    def features(self, model: nn.Module, batch: Any) -> tuple[Tensor, Tensor]:
        """(input features, target features), both from the model config's front-end."""
        inputs, targets = self.waves(batch)
        front_end = model.config.front_end
        x = front_end.features(inputs)
        return x, (x if targets is inputs else front_end.features(targets))

    @abstractmethod
    def loss(self, model: nn.Module, output: AutoencoderOutput, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(the scalar to minimise, its named parts for the logs)."""

    def validation_metrics(self, model: nn.Module, output: AutoencoderOutput, targets: Tensor) -> dict[str, Tensor]:
        """Figures logged on validation only; by default the RMS dB error a listener hears."""
        return {"rmse_db": (output.reconstruction_db - targets).pow(2).mean().sqrt()}

    def check_model(self, model_type: str) -> None:
        if model_type not in self.model_types:
            raise ValueError(
                f"task {self.name!r} trains models of type {', '.join(self.model_types)}; the recipe names "
                f"{model_type!r} (tasks by model type: {_tasks_by_model()})"
            )


def _tasks_by_model() -> str:
    return "; ".join(f"{name}: {', '.join(cls.model_types)}" for name, cls in TASKS.items())


class _SpeechCropsTask(Task):
    """Tasks whose examples are crops of clean speech, the input being its own target."""

    def datasets(
        self, data: DataConfig, sample_rate: int, seed: int, level_db: float | None
    ) -> tuple[Dataset, Dataset]:
        if not data.root:
            raise ValueError("no training data given: pass --data DIR or set data.root in the recipe")
        train_files = spread_evenly(_speech_files(data, "train"), data.max_files)
        val_files = spread_evenly(_speech_files(data, "val"), data.max_files)
        if not train_files or not val_files:
            raise ValueError(
                f"{data.root}: need files in both splits, found {len(train_files)} train and {len(val_files)} val"
            )
        crop = round(data.crop_seconds * sample_rate)
        common: dict[str, Any] = {"seed": seed, "level_db": level_db}
        train = WaveformCropDataset(
            train_files,
            sample_rate,
            crop,
            random_crops=True,
            crops_per_file=data.crops_per_file,
            speed_perturb=data.speed_perturb,
            by_duration=data.crops_by_duration,
            transform=RandomEqualizer(data.speech_eq_db, sample_rate, keep_rms=True) if data.speech_eq_db else None,
            **common,
        )
        val = WaveformCropDataset(
            val_files, sample_rate, crop, random_crops=False, crops_per_file=data.val_crops_per_file, **common
        )
        return train, val

    def waves(self, batch: Any) -> tuple[Tensor, Tensor]:
        return batch, batch


class ReconstructTask(_SpeechCropsTask):
    """Speech through a VQ-VAE or VAE and back: loss on the normalised dB magnitude (see the model config's
    recon_* weights) plus the bottleneck's own term (VQ loss, or kl_weight x KL)."""

    name = "reconstruct"
    model_types = ("vqvae", "vae")

    def loss(self, model: nn.Module, output: AutoencoderOutput, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return spectral_loss(model, output, targets)


def spectral_loss(model: nn.Module, output: AutoencoderOutput, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Normalised dB MSE (+ L1, + compressed magnitude; the model config's recon_* weights, recon_db_weight where a
    config has one) + the bottleneck's own
    terms (VQ loss at weight 1, KL at the config's kl_weight)."""
    cfg = model.config
    recon = spectral_reconstruction_loss(
        output.normalized,
        model.normalize(targets),
        cfg.norm_mean,
        cfg.norm_std,
        cfg.recon_l1_weight,
        cfg.recon_compressed_weight,
        cfg.compression_power,
        getattr(cfg, "recon_db_weight", 1.0),
    )
    weights = {"vq": 1.0, "kl": getattr(cfg, "kl_weight", 1.0)}
    total = recon + sum(weights[name] * value for name, value in output.aux_losses.items())
    return total, {"recon": recon, **output.aux_losses}


class CodecTask(ReconstructTask):
    """The speech codec: a residual VQ-VAE reconstructing its input, as `reconstruct`, but only with codes to send."""

    name = "codec"
    model_types = ("vqvae",)


@dataclass
class PhaseTargets:
    """What a phase model is scored against: the clean waves (B, T) and their complex STFT (B, F, N), and the
    magnitude (B, F, N) its phase is put on: the clean one, or what a codec decoded from it."""

    waves: Tensor
    spectrogram: Tensor
    magnitude: Tensor


class PhaseTask(_SpeechCropsTask):
    """A phase model (models.phase) learns the STFT phase of clean speech from a magnitude: the clean dB magnitude
    (plus, in training, Gaussian noise of a random std up to config.input_noise_db), or with config.codec what that
    codec decodes from it; loss train.losses.phase_loss on the phase and on the waveform the phase makes with that
    magnitude, against the clean waveform."""

    name = "phase"
    model_types = ("phase-net",)
    # (n_fft, hop) of the waveform loss at 8 kHz, scaled with the sample rate: the model's own STFT, half and double.
    _RESOLUTIONS_8K = ((128, 32), (256, 64), (512, 128))
    _codec: tuple[str, nn.Module] | None = None  # (checkpoint, frozen model) of config.codec, loaded once

    def features(self, model: nn.Module, batch: Any) -> tuple[Tensor, PhaseTargets]:  # type: ignore[override]
        cfg = model.config
        waves = self.waves(batch)[0]
        spec = stft(waves, cfg.stft)
        if cfg.codec:
            db = self._decoded_db(cfg, spec, random_rungs=model.training)
            magnitude = torch.pow(10.0, db / 20.0)
        else:
            db, magnitude = cfg.front_end.from_spectrogram(spec), spec.abs()
        if model.training and cfg.input_noise_db > 0:
            std = torch.rand(db.shape[0], 1, 1, device=db.device) * cfg.input_noise_db
            db = db + std * torch.randn_like(db)
        return db, PhaseTargets(waves, spec, magnitude)

    def codec_model(self, checkpoint: str) -> nn.Module:
        """The frozen codec model named by a phase config's `codec`: a checkpoint path or a shipped model's name."""
        if self._codec is None or self._codec[0] != checkpoint:
            from vqaudio.assets import pretrained_names, pretrained_path
            from vqaudio.models import VQVAE, load_model

            path = Path(checkpoint)
            if not path.is_file() and checkpoint in pretrained_names():
                path = pretrained_path(checkpoint)
            if not path.is_file():
                raise FileNotFoundError(
                    f"phase model config: codec {checkpoint!r} is neither a file nor a shipped model"
                )
            codec = load_model(path)
            if not isinstance(codec, VQVAE):
                raise ValueError(f"phase model config: codec {checkpoint!r} is a {type(codec).__name__}, not a VQ-VAE")
            self._codec = (checkpoint, codec.eval().requires_grad_(False))
        return self._codec[1]

    def _decoded_db(self, cfg: Any, spec: Tensor, random_rungs: bool) -> Tensor:
        """What the codec decodes from each example (B, F, N), postfiltered: at a random rung per example in
        training, at rungs 1, 2, .., n, 1, .. along the batch otherwise (validation stays the same every epoch)."""
        codec = self.codec_model(cfg.codec).to(spec.device)
        if codec.config.stft != cfg.stft:
            raise ValueError(
                f"phase model config: codec {cfg.codec!r} has STFT {codec.config.stft}, this model {cfg.stft}"
            )
        n_stages, batch = int(codec.config.n_stages), spec.shape[0]
        rungs = torch.randint(1, n_stages + 1, (batch,)) if random_rungs else torch.arange(batch) % n_stages + 1
        clean_db = codec.config.front_end.from_spectrogram(spec)
        decoded = torch.empty_like(clean_db)
        with torch.no_grad():
            for rung in rungs.unique().tolist():
                rows = (rungs == rung).nonzero().squeeze(1).to(spec.device)
                codes = codec.encode(clean_db[rows], n_stages=rung if n_stages > 1 else None)
                decoded[rows] = codec.decode(codes, n_frames=clean_db.shape[-1])
        return sharpen_db(decoded, cfg.codec_postfilter)

    def loss(self, model: nn.Module, output: Any, targets: Any) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = model.config
        magnitude = targets.magnitude
        weight = targets.spectrogram.abs().pow(0.3)  # compressed magnitude: loud bins weigh more, quiet ones count
        inst_freq, group_delay = phase_derivative_losses(output.phase, targets.spectrogram.angle(), weight)
        waves = istft(torch.polar(magnitude, output.phase), cfg.stft, length=targets.waves.shape[-1])
        scale = cfg.sample_rate / 8000
        resolutions = tuple((round(n * scale), round(h * scale)) for n, h in self._RESOLUTIONS_8K)
        spectral = multi_resolution_stft_loss(waves, targets.waves, resolutions)
        total = cfg.if_weight * inst_freq + cfg.gd_weight * group_delay + cfg.stft_weight * spectral
        return total, {"inst_freq": inst_freq, "group_delay": group_delay, "mr_stft": spectral}

    def validation_metrics(self, model: nn.Module, output: Any, targets: Any) -> dict[str, Tensor]:
        """Consistency SNR (dB, higher is better): how close the STFT magnitude of the waveform the clean magnitude
        and the predicted phase make comes to that magnitude. Not SI-SDR: a phase can be right to the ear and
        still turn each harmonic, which SI-SDR would punish."""
        cfg = model.config
        magnitude = targets.magnitude
        waves = istft(torch.polar(magnitude, output.phase), cfg.stft, length=targets.waves.shape[-1])
        error = (stft(waves, cfg.stft).abs() - magnitude).pow(2).sum()
        return {"consistency_snr_db": 10 * torch.log10(magnitude.pow(2).sum() / error.clamp_min(1e-12))}


class EnvelopeTask(_SpeechCropsTask):
    """Rate-K envelope coding: MSE in dB of the envelope vectors, frames more than speech_range_db below the loudest
    of their example weighted by quiet_weight (the model config's), divided by norm_std², plus the VQ loss.

    Logged besides: mse_db2 (plain MSE in dB² over all frames) and speech_sd_db2 (over the loud frames: the spectral
    distortion the envelope benchmark reports, per batch).
    """

    name = "envelope"
    model_types = ("envelope-vqvae",)

    def loss(self, model: nn.Module, output: AutoencoderOutput, targets: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cfg = model.config
        speech = loudest_frames(targets, cfg.speech_range_db)
        weight = speech.to(targets.dtype) * (1.0 - cfg.quiet_weight) + cfg.quiet_weight
        recon = frame_weighted_mse(output.reconstruction_db, targets, weight) / cfg.norm_std**2
        parts = {"recon": recon, **output.aux_losses}
        with_grad = recon + sum(output.aux_losses.values())
        detached = output.reconstruction_db.detach()
        parts["mse_db2"] = frame_weighted_mse(detached, targets, speech.new_ones(speech.shape, dtype=targets.dtype))
        parts["speech_sd_db2"] = frame_weighted_mse(detached, targets, speech.to(targets.dtype))
        return with_grad, parts


class _MixtureTask(Task):
    """Tasks whose input is a mixture and whose targets are what is under it (clean speech, or the stems).

    Loss: on the targets' features as `reconstruct` (normalised dB MSE + the compressed-magnitude term, weights
    from the model config) + the bottleneck's terms, - recon_sisdr_weight x SI-SDR/10 of the output waveforms (each
    estimated magnitude with the mixture's phase, as the benchmarks score them), + recon_stoi_weight x (1 - a
    differentiable STOI) of the same waveforms. Validation logs that SI-SDR and STOI (`stoi_approx`).
    """

    def features(self, model: nn.Module, batch: Any) -> tuple[Tensor, MixtureTargets]:  # type: ignore[override]
        """(mixture features, the targets' features with their waveforms and the mixture STFT for the SI-SDR)."""
        mixture, targets = self.waves(batch)
        front_end = model.config.front_end
        spectrogram = stft(mixture, front_end.stft)
        wanted = MixtureTargets(front_end.features(targets), targets, spectrogram)
        return front_end.from_spectrogram(spectrogram), wanted

    def loss(self, model: nn.Module, output: AutoencoderOutput, targets: Any) -> tuple[Tensor, dict[str, Tensor]]:
        total, parts = spectral_loss(model, output, targets.features)
        cfg = model.config
        sisdr_weight = getattr(cfg, "recon_sisdr_weight", 0.0)
        stoi_weight = getattr(cfg, "recon_stoi_weight", 0.0)
        if sisdr_weight > 0 or stoi_weight > 0:
            waves = self._estimate_waves(model, output, targets)
        if sisdr_weight > 0:
            sdr, counted = si_sdr_db(waves, targets.waves)
            if bool(counted.any()):
                parts["si_sdr"] = sdr[counted].mean()
                total = total - sisdr_weight * parts["si_sdr"] / 10.0  # dB / 10: about the size of the spectral terms
        if stoi_weight > 0:
            parts["stoi_loss"] = intelligibility_loss(waves, targets.waves, cfg.sample_rate)
            total = total + stoi_weight * parts["stoi_loss"]
        return total, parts

    def validation_metrics(self, model: nn.Module, output: AutoencoderOutput, targets: Any) -> dict[str, Tensor]:
        metrics = super().validation_metrics(model, output, targets.features)
        waves = self._estimate_waves(model, output, targets)
        sdr, counted = si_sdr_db(waves, targets.waves)
        if bool(counted.any()):
            metrics["si_sdr_db"] = sdr[counted].mean()
        metrics["stoi_approx"] = 1.0 - intelligibility_loss(waves, targets.waves, model.config.sample_rate)
        return metrics

    @staticmethod
    def _estimate_waves(model: nn.Module, output: AutoencoderOutput, targets: MixtureTargets) -> Tensor:
        """The output waveform(s): each estimated magnitude with the mixture's phase, inverted."""
        cfg = model.config
        estimate_db = output.normalized * cfg.norm_std + cfg.norm_mean  # no floor clamp: keeps gradients
        mixture = targets.mixture_spectrogram
        phase = mixture / mixture.abs().clamp_min(1e-8)
        if estimate_db.dim() > phase.dim():  # one estimate per source: (B, S, F, N) against (B, F, N)
            phase = phase.unsqueeze(-3)
        return istft(torch.pow(10.0, estimate_db / 20.0) * phase, cfg.front_end.stft, targets.waves.shape[-1])


@dataclass
class MixtureTargets:
    """What a mixture task's loss compares with: the targets' features and waveforms ((B, T) clean speech, or
    (B, S, T) stems) and the mixture's complex STFT (for its phase)."""

    features: Tensor
    waves: Tensor
    mixture_spectrogram: Tensor


class DenoiseTask(_MixtureTask):
    """Noisy speech in, clean speech out: speech of `data.root` mixed with noise of `data.noise` on the fly at an SNR
    drawn in `data.snr_db` and an overall level in `data.level_dbfs` (validation mixtures fixed by the seed), a share
    `data.band_limit_prob` of training mixtures band-limited to 4 kHz, training noise varied as `_noise_transform`
    and `data.noise_layer_prob` say. Loss and metrics: see `_MixtureTask`.
    """

    name = "denoise"
    model_types = ("vqunet",)

    def datasets(
        self, data: DataConfig, sample_rate: int, seed: int, level_db: float | None
    ) -> tuple[Dataset, Dataset]:
        if not data.root or not data.noise:
            raise ValueError(
                "denoise training needs speech and noise: pass --data DIR --noise DIR (data.root, data.noise)"
            )
        crop = round(data.crop_seconds * sample_rate)
        common: dict[str, Any] = {
            "snr_db": tuple(data.snr_db),
            "level_dbfs": None if data.level_dbfs is None else tuple(data.level_dbfs),
            "seed": seed,
        }
        sets = []
        for split, fixed, per_file in (("train", False, data.crops_per_file), ("val", True, data.val_crops_per_file)):
            speech = spread_evenly(_speech_files(data, split), data.max_files)
            # noise_names picks recordings for both splits (the reference trains and scores on white noise)
            noise = noise_files(data.noise, split) if data.noise_names is None else _named(data.noise, data.noise_names)
            if not speech or not noise:
                raise ValueError(f"{split}: found {len(speech)} speech files under {data.root} and {len(noise)} noise "
                                 f"files under {data.noise}; need both")  # fmt: skip
            mixtures = NoisySpeechDataset(
                speech, noise, sample_rate, crop, fixed=fixed, length=len(speech) * per_file,
                noise_transform=None if fixed else _noise_transform(data, sample_rate, crop),
                layer_prob=0.0 if fixed else data.noise_layer_prob,
                coloured_prob=0.0 if fixed else data.coloured_noise_prob, **common,
            )  # fmt: skip
            sets.append(BandLimited(mixtures, data.band_limit_prob) if not fixed and data.band_limit_prob else mixtures)
        return sets[0], sets[1]

    def waves(self, batch: Any) -> tuple[Tensor, Tensor]:
        mixture, stems = batch
        return mixture, stems[:, 0]  # stems: (speech, noise)


def _noise_transform(data: DataConfig, sample_rate: int, crop: int) -> Transform | None:
    """A few noise recordings must stand for every noise: played faster or slower (their spectra move) and
    recoloured (as other rooms and microphones would), as `data.noise_speed_perturb` and `data.noise_eq_db` say."""
    # the crop comes first, so the rest works on 2 s rather than a 90 s recording
    if data.noise_speed_perturb:
        crop_first: Transform = SpeedPerturb(data.noise_speed_perturb, crop)
    else:
        crop_first = RandomCrop(crop, wrap=True)
    if not data.noise_eq_db:
        return crop_first if data.noise_speed_perturb else None
    return Compose([crop_first, RandomEqualizer(data.noise_eq_db, sample_rate)])


class SeparateTask(_MixtureTask):
    """A song in, its vocals and accompaniment out: clips of `data.root` (MIR-1K or MUSDB18 layout, `train/` and
    `val/`). Training mixtures pair the vocals of one clip with, `data.remix_prob` of the time, the accompaniment of
    another, each stem at a gain drawn in `data.stem_gain_db`, played at a speed drawn within `data.speed_perturb`
    and recoloured within `data.stem_eq_db` (`_stem_transform`), the mixture at a level in `data.level_dbfs`; with
    `data.extra_vocals` (a speech root), its train speakers stand in for the vocals `data.extra_vocals_prob` of the
    time. Validation: the original songs as recorded, one fixed crop each. Loss and metrics: see `_MixtureTask`
    (per source, averaged).
    """

    name = "separate"
    model_types = ("dual-vae",)
    stems = ("vocals", "accompaniment")

    def datasets(
        self, data: DataConfig, sample_rate: int, seed: int, level_db: float | None
    ) -> tuple[Dataset, Dataset]:
        if not data.root:
            raise ValueError("separate training needs songs: pass --data DIR (e.g. ../shared/data/music/mir1k)")
        crop = round(data.crop_seconds * sample_rate)
        train_tracks = spread_evenly(music_tracks(data.root, "train"), data.max_files)
        val_tracks = spread_evenly(music_tracks(data.root, "val"), data.max_files)
        train = MusicRemixDataset(
            train_tracks, sample_rate, crop, remix_prob=data.remix_prob, stem_gain_db=tuple(data.stem_gain_db),
            level_dbfs=None if data.level_dbfs is None else tuple(data.level_dbfs), seed=seed,
            length=len(train_tracks) * data.crops_per_file, transform=_stem_transform(data, sample_rate, crop),
            extra_vocals=_extra_vocals(data, sample_rate), extra_vocals_prob=data.extra_vocals_prob,
        )  # fmt: skip
        val = MusicRemixDataset(
            val_tracks, sample_rate, crop, remix_prob=0.0, stem_gain_db=(0.0, 0.0), level_dbfs=None, fixed=True,
            seed=seed, length=len(val_tracks) * data.val_crops_per_file,
        )  # fmt: skip
        return train, val

    def waves(self, batch: Any) -> tuple[Tensor, Tensor]:
        mixture, stems = batch
        return mixture, stems  # (B, T), (B, S, T) in MusicRemixDataset.stem_names order

    def features(self, model: nn.Module, batch: Any) -> tuple[Tensor, MixtureTargets]:  # type: ignore[override]
        sources = tuple(model.config.sources)
        if sources != self.stems:
            raise ValueError(f"the separate task trains sources {list(self.stems)} in that order; the model has "
                             f"{list(sources)}")  # fmt: skip
        return super().features(model, batch)


def _stem_transform(data: DataConfig, sample_rate: int, crop: int) -> Transform | None:
    """Training stems at a random speed (`data.speed_perturb`: pitch and formants move) and recoloured by a random
    EQ (`data.stem_eq_db`: a voice's or a mix's spectral balance moves without its pitch); crop first."""
    if data.speed_perturb:
        crop_first: Transform = SpeedPerturb(data.speed_perturb, crop)
    else:
        crop_first = RandomCrop(crop)
    if not data.stem_eq_db:
        return crop_first if data.speed_perturb else None
    return Compose([crop_first, RandomEqualizer(data.stem_eq_db, sample_rate)])


def _speech_files(data: DataConfig, split: str) -> list[SpeechFile]:
    """The speech files of a split of data.root, restricted to data.corpora (None: FSDD + Asterisk of a speech root)."""
    return speech_files(data.root, split, words=data.words, corpora=data.corpora)  # type: ignore[arg-type]


def extra_vocal_files(data: DataConfig) -> list[SpeechFile]:
    """The speech files data.extra_vocals adds as vocals (its train split, data.extra_vocals_corpora); [] if unset."""
    if not data.extra_vocals:
        return []
    files = speech_files(data.extra_vocals, "train", corpora=data.extra_vocals_corpora)  # type: ignore[arg-type]
    return spread_evenly(files, data.max_files)


def _extra_vocals(data: DataConfig, sample_rate: int) -> list[np.ndarray]:
    """extra_vocal_files joined per speaker into crop-length utterances."""
    files = extra_vocal_files(data)
    return [u.wave for u in join_utterances(files, sample_rate, target_seconds=data.crop_seconds)] if files else []


def _named(folder: str, names: list[str]) -> list[Any]:
    """The noise recordings of `folder` (either split) whose file stem is one of `names`; unknown names are an error."""
    paths = noise_files(folder, "all")
    kept = [p for p in paths if p.stem in set(names)]
    missing = sorted(set(names) - {p.stem for p in kept})
    if missing:
        raise ValueError(f"noise recordings {missing} not found among {sorted(p.stem for p in paths)}")
    return kept


TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (ReconstructTask, CodecTask, PhaseTask, EnvelopeTask, DenoiseTask, SeparateTask)
}


def default_task(model_type: str) -> str:
    """The task a recipe that names none trains its model type for."""
    if model_type not in DEFAULT_TASKS:
        raise ValueError(f"no default task for model type {model_type!r}; set `task:` in the recipe ({sorted(TASKS)})")
    return DEFAULT_TASKS[model_type]


def build_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {sorted(TASKS)}")
    return TASKS[name]()
