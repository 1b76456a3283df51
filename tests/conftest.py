"""Shared fixtures: where the real recordings live, and small signals made here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
