"""The `vqaudio` commands never destroy files: the input is never the output, existing outputs need --force,
output names are checked before any work, writes are atomic, OS errors are one-line messages, folder jobs
run to the end and report what failed, clipping is announced, and --threads is set before a model loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vqaudio.audio.io import load, save
from vqaudio.cli import main
from vqaudio.data.synth import synth_speech
from vqaudio.models import VQVAE, VQVAEConfig, build_model, save_model

TINY_UNET = {"sample_rate": 8000, "n_fft": 256, "hop_length": 64, "channels": [16, 24], "n_bottleneck_blocks": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Untrained tiny weights for every model command (what they output does not matter here)."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    vqvae = VQVAEConfig(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=2)
    return {
        "codec": str(save_model(VQVAE(vqvae), root / "tiny.safetensors")),
        "denoise": str(
            save_model(
                build_model("vqunet", {**TINY_UNET, "latent_dim": 8, "codebook_size": 16}), root / "den.safetensors"
            )
        ),
        "separate": str(
            save_model(
                build_model("dual-vae", {**TINY_UNET, "latent_dim": 8, "codebook_size": 16}), root / "sep.safetensors"
            )
        ),
    }


def _speech(path: Path, seed: int = 1, seconds: float = 0.4) -> Path:
    return save(path, synth_speech(seconds, 8000, seed=seed), 8000)


def _argv(command: str, models: dict[str, str], src: Path, out: Path) -> list[str]:
    """The command line of `command` from `src` to `out` with tiny weights (a folder or a file alike)."""
    if command == "reconstruct":
        return ["reconstruct", models["codec"], str(src), "-o", str(out), "--griffin-lim-iters", "2"]
    model = models["codec"] if command in ("encode", "decode", "codec") else models[command]
    return [command, str(src), "-o", str(out), "--model", model]


# 1. the input is never the output ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["encode", "codec", "reconstruct", "denoise"])
def test_output_equal_to_input_is_refused_even_with_force(
    command: str, models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _speech(tmp_path / "x.wav")
    before = src.read_bytes()
    for argv in (_argv(command, models, src, src), [*_argv(command, models, src, tmp_path / "." / "x.wav"), "--force"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"vqaudio {command}: error:" in err and "input file itself" in err and "Traceback" not in err
    assert src.read_bytes() == before


def test_decode_onto_its_own_vqa_is_refused(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vqa = tmp_path / "x.vqa"
    assert main(_argv("encode", models, _speech(tmp_path / "x.wav"), vqa)) == 0
    before = vqa.read_bytes()
    assert main([*_argv("decode", models, vqa, vqa), "--force"]) == 2
    assert "input file itself" in capsys.readouterr().err and vqa.read_bytes() == before


@pytest.mark.parametrize("command", ["encode", "reconstruct", "denoise", "separate"])
def test_output_folder_equal_to_or_inside_the_input_folder_is_refused(
    command: str, models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _speech(tmp_path / "in" / "a.wav").parent
    for out, said in ((src, "is the input folder"), (src / "out", "inside the input folder")):
        assert main([*_argv(command, models, src, out), "--force"]) == 2
        assert said in capsys.readouterr().err
    assert sorted(p.name for p in src.rglob("*")) == ["a.wav"]


# 1. existing outputs need --force ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["encode", "decode", "codec", "reconstruct", "denoise", "separate"])
def test_existing_output_file_needs_force(
    command: str, models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _speech(tmp_path / "x.wav")
    if command == "decode":
        assert main(_argv("encode", models, src, tmp_path / "x.vqa")) == 0
        src = tmp_path / "x.vqa"
    if command == "separate":
        out, existing = tmp_path / "sep", tmp_path / "sep" / "x" / "vocals.wav"
    else:
        out = existing = tmp_path / ("o.vqa" if command == "encode" else "o.wav")
    existing.parent.mkdir(parents=True, exist_ok=True)
    existing.write_bytes(b"precious")
    capsys.readouterr()
    assert main(_argv(command, models, src, out)) == 2
    err = capsys.readouterr().err
    assert f"{existing} already exists" in err and "--force" in err
    assert existing.read_bytes() == b"precious"
    assert main([*_argv(command, models, src, out), "--force"]) == 0
    assert existing.read_bytes() != b"precious"


@pytest.mark.parametrize("command", ["encode", "decode", "reconstruct", "denoise", "separate"])
def test_folder_job_with_existing_outputs_needs_force(
    command: str, models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _speech(src / "a.wav")
    _speech(src / "sub" / "b.wav", seed=2)
    if command == "decode":
        assert main(_argv("encode", models, src, tmp_path / "vqa")) == 0
        src = tmp_path / "vqa"
    out = tmp_path / "out"
    existing = {"encode": out / "sub" / "b.vqa", "separate": out / "sub" / "b" / "accompaniment.wav"}.get(
        command, out / "sub" / "b.wav"
    )
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"precious")
    assert main(_argv(command, models, src, out)) == 2
    assert f"{existing} already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
    assert [p for p in out.rglob("*") if p.is_file()] == [existing]  # refused before any file was written
    assert main([*_argv(command, models, src, out), "--force"]) == 0
    assert existing.read_bytes() != b"precious"


def test_evaluate_json_needs_force(models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    report = tmp_path / "eval.json"
    report.write_text("{}")
    assert main(["evaluate", models["codec"], "--data", str(tmp_path), "--json", str(report)]) == 2
    assert "already exists" in capsys.readouterr().err and report.read_text() == "{}"


def test_missing_output_folders_are_created(models: dict[str, str], tmp_path: Path) -> None:
    src = _speech(tmp_path / "x.wav")
    assert main(_argv("codec", models, src, tmp_path / "new" / "deeper" / "o.wav")) == 0
    assert main(_argv("encode", models, src, tmp_path / "new2" / "o.vqa")) == 0
    assert (tmp_path / "new" / "deeper" / "o.wav").is_file() and (tmp_path / "new2" / "o.vqa").is_file()


# 2. output names say what they hold, checked before any work -----------------------------------------------------


def _no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the output name was checked")

    monkeypatch.setattr("vqaudio.pipelines.base.load_model", refuse)
    from vqaudio.pipelines import Codec, Denoiser, Reconstructor

    for cls in (Codec, Denoiser, Reconstructor):
        monkeypatch.setattr(cls, "from_checkpoint", classmethod(lambda cls, *a, **k: refuse()))


def test_encode_output_must_be_vqa(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _speech(tmp_path / "x.wav")
    _no_model_loads(monkeypatch)
    for name in ("o.wav", "o.bin", "o"):
        assert main(_argv("encode", models, src, tmp_path / name)) == 2
        err = capsys.readouterr().err
        assert ".vqa" in err and "o.vqa" in err  # says what to name it
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("command", ["decode", "codec", "reconstruct", "denoise"])
def test_audio_output_extension_is_checked_before_any_work(
    command: str,
    models: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = _speech(tmp_path / "x.wav")
    if command == "decode":
        assert main(_argv("encode", models, src, tmp_path / "x.vqa")) == 0
        src = tmp_path / "x.vqa"
    _no_model_loads(monkeypatch)
    capsys.readouterr()
    assert main(_argv(command, models, src, tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err
    assert "out.txt" in err and ".wav" in err and "Traceback" not in err
    assert not (tmp_path / "out.txt").exists()


# 3. atomic writes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("interrupt", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_write_that_dies_midway_leaves_no_file(
    interrupt: BaseException, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _speech(tmp_path / "x.wav")
    real_write = sf.SoundFile.write  # what sf.write and the block-by-block writer (AudioWriter) both call

    def dying_write(self: sf.SoundFile, data: np.ndarray, *args: object, **kwargs: object) -> None:
        real_write(self, data[: len(data) // 2], *args, **kwargs)  # half the file is on disk ...
        raise interrupt  # ... when the run dies

    monkeypatch.setattr(sf.SoundFile, "write", dying_write)
    out = tmp_path / "out" / "o.wav"
    if isinstance(interrupt, KeyboardInterrupt):
        with pytest.raises(KeyboardInterrupt):
            main(_argv("codec", models, src, out))
    else:
        assert main(_argv("codec", models, src, out)) == 2
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["x.wav"]  # no o.wav, no temp file


def test_encode_writes_vqa_atomically(models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _speech(tmp_path / "x.wav")
    out = tmp_path / "o.vqa"
    assert main(_argv("encode", models, src, out)) == 0
    before = out.read_bytes()

    def dying_write_bytes(self: Path, data: bytes) -> int:
        with open(self, "wb") as f:
            f.write(data[:5])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", dying_write_bytes)
    with pytest.raises(KeyboardInterrupt):
        main([*_argv("encode", models, _speech(tmp_path / "y.wav", seed=3), out), "--force"])
    assert out.read_bytes() == before  # the previous complete file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.vqa", "x.wav", "y.wav"]


# 4. OS errors are messages, not tracebacks -----------------------------------------------------------------------


def test_encode_to_an_existing_folder_is_a_clear_error(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _speech(tmp_path / "x.wav")
    (tmp_path / "d").mkdir()
    for command in ("encode", "codec", "decode", "denoise"):
        assert main([*_argv(command, models, src, tmp_path / "d"), "--force"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"vqaudio {command}: error: ") and "is a folder" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (IsADirectoryError(21, "Is a directory", "some/dir"), "some/dir: Is a directory"),
        (PermissionError(13, "Permission denied", "locked.wav"), "locked.wav: Permission denied"),
        (OSError(28, "No space left on device"), "No space left on device"),
    ],
)
def test_os_errors_are_one_line_messages_exit_2(
    error: OSError, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(args: object) -> int:
        raise error

    monkeypatch.setattr("vqaudio.cli._cmd_info", failing)
    assert main(["info", "x.safetensors"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"vqaudio info: error: {expected}"


def test_unwritable_output_names_the_file(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    src = _speech(tmp_path / "x.wav")
    real_open = os.open

    def no_permission(path: object, flags: int, *args: object) -> int:
        if str(path).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_permission)
    assert main(["-q", *_argv("codec", models, src, tmp_path / "o.wav")]) == 2
    assert capsys.readouterr().err.strip() == f"vqaudio codec: error: {tmp_path / 'o.wav'}: Permission denied"


# 5. folder jobs run to the end ----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["encode", "reconstruct", "denoise", "separate"])
def test_folder_jobs_go_on_past_bad_files_and_list_them(
    command: str, models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _speech(src / "a.wav")
    (src / "b_broken.wav").write_bytes(b"RIFF\x00\x00not really audio")
    _speech(src / "c.wav", seed=2)
    (src / "d_empty.flac").write_bytes(b"")
    out = tmp_path / "out"
    assert main(_argv(command, models, src, out)) == 1
    captured = capsys.readouterr()
    assert "wrote 2 " in captured.out
    failed = [line for line in captured.err.splitlines() if "failed:" in line]
    assert len(failed) == 2
    assert "b_broken.wav" in failed[0] and "cannot decode" in failed[0]
    assert "d_empty.flac" in failed[1] and "empty" in failed[1]
    assert "2 of 4 input files failed" in captured.err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    if command == "separate":
        assert [w.split("/")[0] for w in written] == ["a", "a", "c", "c"]
    else:
        assert [Path(w).stem for w in written] == ["a", "c"]


def test_decode_folder_goes_on_past_bad_bitstreams(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    _speech(src / "a.wav")
    _speech(src / "sub" / "b.wav", seed=2)
    assert main(_argv("encode", models, src, tmp_path / "vqa")) == 0
    (tmp_path / "vqa" / "bad.vqa").write_bytes(b"junk")
    truncated = tmp_path / "vqa" / "sub" / "truncated.vqa"
    truncated.write_bytes((tmp_path / "vqa" / "a.vqa").read_bytes()[:30])
    capsys.readouterr()
    assert main(_argv("decode", models, tmp_path / "vqa", tmp_path / "out")) == 1
    captured = capsys.readouterr()
    assert "wrote 2 .wav files" in captured.out
    assert "bad.vqa" in captured.err and "truncated.vqa" in captured.err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.wav")) == [
        "a.wav",
        "sub/b.wav",
    ]


def test_folder_job_succeeding_exits_0(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _speech(tmp_path / "in" / "a.wav")
    assert main(_argv("denoise", models, tmp_path / "in", tmp_path / "out")) == 0
    assert "failed" not in capsys.readouterr().err


def test_folders_pick_up_every_format_a_single_file_may_be(models: dict[str, str], tmp_path: Path) -> None:
    mp3 = tmp_path / "one.mp3"
    try:
        save(mp3, synth_speech(0.4, 8000, seed=1), 8000)
    except Exception:  # a libsndfile without MP3 (< 1.1)
        pytest.skip("this libsndfile cannot write mp3")
    assert main(_argv("encode", models, mp3, tmp_path / "one.vqa")) == 0  # one file: decoded
    folder = tmp_path / "in"
    folder.mkdir()
    mp3.rename(folder / "one.mp3")
    _speech(folder / "two.wav")
    assert main(_argv("encode", models, folder, tmp_path / "out")) == 0  # in a folder: not skipped
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one.vqa", "two.vqa"]


def test_two_inputs_with_one_output_name_are_not_both_written(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _speech(tmp_path / "in" / "a.wav")
    _speech(tmp_path / "in" / "a.flac", seed=2)
    assert main(_argv("encode", models, tmp_path / "in", tmp_path / "out")) == 1
    captured = capsys.readouterr()
    assert "a.wav" in captured.err and "a.flac" in captured.err and "rename one" in captured.err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.vqa"]


# 6. clipping is announced -------------------------------------------------------------------------------------------


def test_clipped_output_is_a_warning_naming_file_and_peak(
    models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vqaudio.pipelines import Reconstructor

    # a fake model that doubles the input, inverted with the input's phase (exact): files stream through `piece`
    monkeypatch.setattr(
        Reconstructor,
        "piece",
        lambda self, window: self.runner.piece(window, lambda f: f + 20 * np.log10(2.0), use_input_phase=True),
    )
    src = save(tmp_path / "x.wav", np.where(np.arange(80) < 40, 0.25, 1.0), 8000, subtype="FLOAT")
    # 80 samples: the output is 0.5, then 2.0
    out = tmp_path / "o.wav"
    assert main(_argv("reconstruct", models, src, out)) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "full scale" in line]
    assert len(warnings) == 1 and str(out) in warnings[0] and "2.000" in warnings[0]
    assert load(out)[0].max() == pytest.approx(1.0, abs=1e-4)
    assert main(["-q", *_argv("reconstruct", models, src, tmp_path / "o2.wav")]) == 0
    assert "full scale" in capsys.readouterr().err  # a warning: shown even with -q


# 7. --threads ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "expected"), [([], 1), (["--threads", "3"], 3)])
def test_threads_are_set_before_the_model_loads_and_restored(
    flag: list[str], expected: int, models: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vqaudio.pipelines.base as base

    events: list[object] = []
    real_load = base.load_model
    monkeypatch.setattr(base, "load_model", lambda path: events.append("load") or real_load(path))
    before = torch.get_num_threads()
    real_set = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: events.append(n) or real_set(n))
    assert main([*_argv("codec", models, _speech(tmp_path / "x.wav"), tmp_path / "o.wav"), *flag]) == 0
    assert events[:2] == [expected, "load"]
    assert torch.get_num_threads() == before  # main() leaves the process as it found it


def test_threads_must_be_a_count(models: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main([*_argv("codec", models, tmp_path / "x.wav", tmp_path / "o.wav"), "--threads", bad])
        assert exit_info.value.code == 2
        assert "--threads" in capsys.readouterr().err
