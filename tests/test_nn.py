"""Generic building blocks: shapes, identity at init, locality (chunk stability), the SE gate, the recurrent stage."""

from __future__ import annotations

import pickle

import pytest
import torch

from vqaudio.nn import NORMS, Downsample, RecurrentBlock, ResidualBlock, SqueezeExcite, Upsample, conv
from vqaudio.nn.conv import activation, group_count

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _input(dims: int, channels: int = 16, length: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (2, channels, length) if dims == 1 else (2, channels, 10, length)
    return torch.randn(shape, generator=g)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("norm", NORMS)
def test_residual_block_starts_as_identity_and_then_learns(dims: int, norm: str) -> None:
    block = ResidualBlock(16, dims=dims, dilation=2 if dims == 1 else 1, norm=norm, act="leaky_relu")
    x = _input(dims)
    y = block(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x)  # zero-initialised last conv: identity at init
    y.pow(2).sum().backward()
    grads = [p.grad for p in block.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert grads, "no parameter of the residual branch receives a gradient at init"


def test_residual_block_without_zero_init_changes_its_input() -> None:
    block = ResidualBlock(16, zero_init=False, squeeze_excite=True)
    x = _input(1)
    assert (block(x) - x).abs().mean() > 1e-3


@pytest.mark.parametrize("norm", ["weight", "layer"])
def test_local_norms_give_the_same_output_on_a_chunk_as_on_the_whole_signal(norm: str) -> None:
    torch.manual_seed(0)
    stack = torch.nn.Sequential(*[ResidualBlock(8, dilation=d, norm=norm, zero_init=False) for d in (1, 3)])
    x = _input(1, channels=8, length=200)
    whole = stack(x)
    # Two blocks of dilation 1 and 3 with kernel 3 see 4 frames either side; 20 frames in is far enough.
    chunk = stack(x[..., 60:140])
    torch.testing.assert_close(chunk[..., 20:-20], whole[..., 80:120], atol=1e-5, rtol=1e-4)


def test_group_norm_is_not_chunk_stable() -> None:
    torch.manual_seed(0)
    block = ResidualBlock(8, norm="group", zero_init=False)
    x = _input(1, channels=8, length=200)
    x[..., :100] *= 5.0  # loud first half changes the statistics GroupNorm pools over time
    whole = block(x)
    chunk = block(x[..., 120:200])
    assert (chunk[..., 20:-20] - whole[..., 140:180]).abs().max() > 1e-3


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("mode", ["transposed", "nearest"])
def test_down_and_up_sampling_halve_and_double_every_axis(dims: int, mode: str) -> None:
    x = _input(dims, channels=8, length=16)
    down = Downsample(8, 12, dims=dims)(x)
    assert down.shape[1] == 12 and down.shape[2:] == tuple(s // 2 for s in x.shape[2:])
    up = Upsample(12, 8, dims=dims, mode=mode)(down)
    assert up.shape == x.shape


def test_squeeze_excite_gates_channels_and_ignores_masked_positions() -> None:
    torch.manual_seed(0)
    se = SqueezeExcite(16, reduction=4)
    x = _input(1, length=20).abs()
    y = se(x)
    ratio = y / x
    assert y.shape == x.shape
    assert bool(((ratio > 0) & (ratio < 1)).all())  # a sigmoid gate only attenuates
    assert torch.allclose(ratio[..., :1], ratio)  # one gate per channel, shared over time
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[:, :10] = True
    noisy = x.clone()
    noisy[..., 10:] = 1000.0  # padding garbage outside the mask must not move the gate
    torch.testing.assert_close(se(noisy, mask)[..., :10], se(x[..., :10]))
    x2 = _input(2, length=6)
    assert SqueezeExcite(16)(x2).shape == x2.shape


@pytest.mark.parametrize("dims", [1, 2])
def test_windowed_squeeze_excite_gates_each_frame_from_its_neighbourhood(dims: int) -> None:
    torch.manual_seed(0)
    local = SqueezeExcite(16, window=5)
    whole = SqueezeExcite(16)
    whole.load_state_dict(local.state_dict())  # same weights, no window
    x = _input(dims, length=40).abs()
    y = local(x)
    assert y.shape == x.shape
    assert not torch.allclose((y / x)[..., :1], y / x)  # the gate changes along time
    far = x.clone()
    far[..., 30:] *= 50.0  # frames 30.. are beyond the reach (2) of frames ..27
    torch.testing.assert_close(local(far)[..., :28], y[..., :28])
    assert not torch.allclose(whole(far)[..., :28], whole(x)[..., :28])  # the whole-input gate moves everywhere
    wide = SqueezeExcite(16, window=81)  # a window covering the whole input is the whole-input gate
    wide.load_state_dict(local.state_dict())
    torch.testing.assert_close(wide(x), whole(x))
    mask = torch.zeros(2, *x.shape[2:], dtype=torch.bool)  # (B, [F,] T)
    mask[..., :20] = True
    noisy = x.clone()
    noisy[..., 20:] = 1000.0  # padding outside the mask must not move the gates
    torch.testing.assert_close(local(noisy, mask)[..., :20], local(x[..., :20]))
    for bad in (0, 4):
        with pytest.raises(ValueError, match="odd"):
            SqueezeExcite(16, window=bad)


@pytest.mark.parametrize(("dims", "transposed"), [(1, False), (2, False), (1, True), (2, True)])
def test_weight_norm_conv_matches_the_plain_conv_it_wraps_and_pickles(dims: int, transposed: bool) -> None:
    torch.manual_seed(0)
    wrapped = conv(dims, 4, 6, 3, stride=2, norm="weight", transposed=transposed)
    plain = torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d
    if dims == 1:
        plain = torch.nn.ConvTranspose1d if transposed else torch.nn.Conv1d
    ref = plain(4, 6, 3, stride=2, padding=1)
    with torch.no_grad():
        ref.weight.copy_(wrapped.weight)
        ref.bias.copy_(wrapped.bias)
        wrapped.weight_g.mul_(2.0)  # doubling g doubles the kernel
        ref.weight.mul_(2.0)
    x = _input(dims, channels=4, length=9)
    torch.testing.assert_close(wrapped(x), ref(x))
    clone = pickle.loads(pickle.dumps(wrapped))  # torch parametrizations refuse this (DDP spawn needs it)
    torch.testing.assert_close(clone(x), wrapped(x))


def test_factories_validate_their_choices() -> None:
    assert conv(1, 3, 5, 3, norm="weight").weight_g.shape == (5, 1, 1)
    assert conv(2, 3, 5, 4, norm="weight", transposed=True).weight_g.shape == (1, 5, 1, 1)
    assert group_count(48) == 24 and group_count(7) == 7
    with pytest.raises(ValueError, match="norm must be one of"):
        conv(1, 3, 5, 3, norm="batch")
    with pytest.raises(ValueError, match="activation must be one of"):
        activation("tanhh")
    with pytest.raises(ValueError, match="dims must be 1"):
        conv(3, 3, 5, 3)
    with pytest.raises(ValueError, match="upsample mode"):
        Upsample(4, mode="bilinear")


@pytest.mark.parametrize("bidirectional", [True, False])
def test_recurrent_block_starts_as_identity_and_then_learns(bidirectional: bool) -> None:
    block = RecurrentBlock(16, bidirectional=bidirectional)
    x = _input(1, length=30)
    torch.testing.assert_close(block(x), x)
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    target = x.flip(-1)  # needs the whole signal, not a frame at a time
    for _ in range(2):
        opt.zero_grad()
        loss = (block(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
    assert not torch.allclose(block(x), x)
    with torch.no_grad():
        assert float((block(x) - target).pow(2).mean()) < float((x - target).pow(2).mean())


def test_causal_recurrent_block_ignores_the_future_and_the_bidirectional_one_does_not() -> None:
    torch.manual_seed(0)
    x = _input(1, length=20)
    later = x.clone()
    later[..., 12:] = _input(1, length=8, seed=1)  # another future (not a shift: the LayerNorm removes that)
    for bidirectional, past_kept in ((False, True), (True, False)):
        block = RecurrentBlock(16, bidirectional=bidirectional)
        torch.nn.init.normal_(block.proj.weight)  # leave the identity start, so the GRU is heard
        with torch.no_grad():
            same = torch.allclose(block(x)[..., :12], block(later)[..., :12])
        assert same is past_kept
    with pytest.raises(ValueError, match="batch, channels, frames"):
        RecurrentBlock(16)(torch.zeros(16, 5))
