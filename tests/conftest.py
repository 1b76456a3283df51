"""Shared fixtures: where the real recordings live, and small signals made here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

_DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _shared_data_dir() -> Path:
    return Path(os.environ.get("VQAUDIO_SHARED_DATA", _DEFAULT_SHARED))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data beside the checkout (or $VQAUDIO_SHARED_DATA); skips the test when absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real recordings not found at {path} (set VQAUDIO_SHARED_DATA)")
    return path


@pytest.fixture
def one_thread():
    """Run the test on one torch thread (results and timings that do not depend on the machine's cores)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
