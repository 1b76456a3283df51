"""train.publish: the shipped copy is fp16, loads, and its model card states what the config says."""

from __future__ import annotations

from pathlib import Path

import torch

from vqaudio.models import VQVAE, VQVAEConfig, load_model, save_model
from vqaudio.train.publish import publish

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
