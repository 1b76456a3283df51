"""train.publish: the shipped copy is fp16, loads, and its model card states what the config and training data say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import make_fsdd_folder
from vqaudio.data import SpeechFile
from vqaudio.data.summary import CORPUS_LICENCES, summarize_training_files
from vqaudio.models import (
    VQVAE,
    VQVAEConfig,
    count_parameters,
    decode_metadata_value,
    load_model,
    read_metadata,
    save_model,
)
from vqaudio.train.publish import main, model_card, publish

TINY = dict(hidden_channels=16, n_res_blocks=1, n_downsample=1, latent_dim=8, codebook_size=16, n_stages=2)


def test_publish_writes_fp16_weights_and_a_card_with_the_input_level(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = save_model(VQVAE(VQVAEConfig(**TINY, input_level_db=-20.0)), tmp_path / "best.safetensors",
                        {"description": "tiny test codec", "epoch": 3})  # fmt: skip
    target = publish(source, tmp_path / "shipped" / "tiny.safetensors")
    assert load_model(target).config.input_level_db == -20.0
    card = target.with_suffix(".md").read_text()
    assert "tiny test codec" in card and "scaled to -20 dBFS" in card
    plain = save_model(VQVAE(VQVAEConfig(**TINY)), tmp_path / "plain.safetensors")
    assert "as recorded" in publish(plain, tmp_path / "plain-shipped.safetensors").with_suffix(".md").read_text()


def _files(corpus: str, speakers: dict[str, int], root: str = "/data") -> list[SpeechFile]:
    return [
        SpeechFile(path=Path(root) / corpus / speaker / f"{i}.flac", speaker=speaker, corpus=corpus)
        for speaker, n in speakers.items()
        for i in range(n)
    ]


def test_summary_counts_files_speakers_and_corpora() -> None:
    files = (
        _files("fsdd", {"theo": 3, "george": 2})
        + _files("speech_commands", {"0a2b": 4, "george": 1})  # same name, another corpus: another speaker
        + [SpeechFile(Path("/x/LibriSpeech/train/19/198/19-198-0001.flac"), "198", "folder")]  # by folder name
        + [SpeechFile(Path("/x/mine/ann/a.wav"), "ann", "folder")]
    )
    summary = summarize_training_files(files, seconds=12.34)
    assert summary["n_files"] == 12 and summary["n_speakers"] == 6 and summary["seconds"] == 12.3
    assert list(summary["corpora"]) == ["folder", "fsdd", "librispeech", "speech_commands"]
    assert summary["corpora"]["fsdd"] == {"files": 5, "speakers": 2, "speaker_names": ["george", "theo"]}
    assert summary["corpora"]["speech_commands"] == {"files": 5, "speakers": 2, "speaker_names": ["0a2b", "george"]}
    assert summary["corpora"]["librispeech"]["speaker_names"] == ["198"]
    assert "seconds" not in summarize_training_files(files)
    assert summarize_training_files([]) == {"n_files": 0, "n_speakers": 0, "corpora": {}}
    assert json.loads(json.dumps(summary)) == summary  # goes into checkpoint metadata as JSON


def _card(tmp_path: Path, metadata: dict, data_root: Path | None = None) -> str:
    torch.manual_seed(0)
    path = save_model(VQVAE(VQVAEConfig(**TINY)), tmp_path / "m.safetensors", metadata)
    model = load_model(path)
    return model_card(path, read_metadata(path), count_parameters(model), model, data_root)


def test_card_names_the_recorded_speakers_and_only_their_licences(tmp_path: Path) -> None:
    many = {f"{n:04d}": 1 for n in range(20)}
    summary = summarize_training_files(_files("speech_commands", {"a1": 2, "b2": 1}) + _files("librispeech", many))
    card = _card(tmp_path, {"training_data": "/gone", "train_split": "train", "training_summary": summary})
    assert "recorded by the training run" in card and "re-derived" not in card
    assert "23 files, 22 speakers" in card
    assert "Speech Commands (3 files; 2 speakers: a1, b2)" in card
    assert "LibriSpeech (20 files; 20 speakers: 0000, 0001, 0002, 0003, 0004, 0005, 0006, 0007 and 12 more)" in card
    assert CORPUS_LICENCES["speech_commands"] in card and CORPUS_LICENCES["librispeech"] in card
    for absent in ("fsdd", "asterisk", "gcompris"):
        assert CORPUS_LICENCES[absent] not in card
    assert "FSDD" not in card and "george" not in card


def test_card_without_a_summary_relists_the_recorded_folder_or_says_it_cannot(tmp_path: Path) -> None:
    data = make_fsdd_folder(tmp_path / "fsdd", speakers=("george", "yweweler"), clips=3, seconds=0.5)
    meta = {"training_data": str(data), "train_split": "train", "words": None}
    card = _card(tmp_path, meta)
    assert f"re-derived from the folder `{data}`" in card
    assert "FSDD (3 files; 1 speaker: george)" in card and "yweweler" not in card  # the train split only
    assert CORPUS_LICENCES["fsdd"] in card and CORPUS_LICENCES["asterisk"] not in card

    moved = tmp_path / "moved"
    data.rename(moved)
    card = _card(tmp_path, meta)
    assert f"its folder `{data}` is not here" in card and "george" not in card
    assert "data licences | not known" in card
    assert "FSDD (3 files; 1 speaker: george)" in _card(tmp_path, meta, data_root=moved)  # --data DIR
    assert "records neither its training files nor the folder" in _card(tmp_path, {"description": "x"})


def test_card_only_rewrites_the_card_and_not_the_weights(tmp_path: Path) -> None:
    data = make_fsdd_folder(tmp_path / "fsdd", speakers=("george", "yweweler"), clips=2)
    torch.manual_seed(0)
    source = save_model(VQVAE(VQVAEConfig(**TINY)), tmp_path / "best.safetensors", {"training_data": "../nowhere"})
    target = publish(source, tmp_path / "shipped" / "tiny.safetensors")
    weights = target.read_bytes()
    assert "is not here" in target.with_suffix(".md").read_text()
    assert main(["--card-only", str(target), "--data", str(data)]) == 0
    assert target.read_bytes() == weights
    assert "george" in target.with_suffix(".md").read_text()
    with pytest.raises(SystemExit):
        main(["--card-only", str(target), str(tmp_path / "other.safetensors")])


def test_meta_corrects_what_the_run_recorded_from_its_command_line(tmp_path: Path) -> None:
    torch.manual_seed(0)
    recorded = {"description": "old words", "initialised_from": "/tmp/scratch/best.safetensors", "recipe": "tiny"}
    source = save_model(VQVAE(VQVAEConfig(**TINY)), tmp_path / "best.safetensors", recorded)
    target = tmp_path / "shipped" / "tiny.safetensors"
    argv = [str(source), str(target), "--meta", "initialised_from=runs/tiny-first/best.safetensors (recipe tiny-first)"]
    assert main([*argv, "--meta", "description=new words"]) == 0
    meta = read_metadata(target)
    assert decode_metadata_value(meta["initialised_from"]) == "runs/tiny-first/best.safetensors (recipe tiny-first)"
    assert decode_metadata_value(meta["description"]) == "new words"
    assert decode_metadata_value(meta["recipe"]) == "tiny"  # the rest as recorded
    assert (
        "| started from | `runs/tiny-first/best.safetensors (recipe tiny-first)`"
        in target.with_suffix(".md").read_text()
    )
    for bad in (["--meta", "recipe=other"], ["--meta", "no-equals"]):
        with pytest.raises(SystemExit):
            main([str(source), str(tmp_path / "x.safetensors"), *bad])
    with pytest.raises(ValueError, match="only description, initialised_from"):
        publish(source, tmp_path / "y.safetensors", {"task": "denoise"})
