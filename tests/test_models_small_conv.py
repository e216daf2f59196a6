"""Convolutions whose kernel covers their input: the same gradients by a faster route on CPU."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from eotdl_tutorials.models.small_conv import SmallInputConv2d, speed_up_small_convolutions
from eotdl_tutorials.training.benchmark import (
    ENCODER_VARIANTS,
    bench_encoder_step,
    format_encoder_step_report,
)


def _gradients(conv: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    x = x.clone().requires_grad_(True)
    conv.zero_grad()
    out = conv(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    return out.detach(), x.grad, conv.weight.grad


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(1, 3, 1, 1), (2, 3, 1, 1), (3, 3, 2, 1), (2, 3, 2, 1), (1, 1, 1, 0), (7, 3, 1, 1)],
)
def test_same_output_and_gradients_as_a_plain_convolution(size, kernel, stride, padding):
    torch.manual_seed(0)
    plain = nn.Conv2d(16, 24, kernel, stride, padding, bias=False)
    fast = speed_up_small_convolutions(
        nn.Sequential(nn.Conv2d(16, 24, kernel, stride, padding, bias=False))
    )[0]
    fast.load_state_dict(plain.state_dict())
    assert type(fast) is SmallInputConv2d
    x = torch.randn(5, 16, size, size)
    for ours, theirs in zip(_gradients(fast, x), _gradients(plain, x), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


def test_only_plain_convolutions_change_and_the_state_dict_keeps_its_keys():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.Conv2d(8, 8, 3, padding=1, bias=True),
        nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False),
    )
    keys = list(model.state_dict())
    speed_up_small_convolutions(model)
    assert [type(layer) for layer in model] == [SmallInputConv2d, nn.Conv2d, nn.Conv2d]
    assert list(model.state_dict()) == keys


def test_a_resnet_at_the_profiles_view_size_gets_the_same_gradients():
    torch.manual_seed(0)
    plain = timm.create_model("resnet18", in_chans=4, num_classes=0)
    fast = speed_up_small_convolutions(timm.create_model("resnet18", in_chans=4, num_classes=0))
    fast.load_state_dict(plain.state_dict())
    images = torch.randn(8, 4, 24, 24)  # the last stages see 2 x 2 and 1 x 1 px
    for model in (plain, fast):
        model.zero_grad()
        model(images).pow(2).mean().backward()
    for a, b in zip(plain.parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_benchmark_reports_every_variant():
    result = bench_encoder_step(batch_size=4, steps=1, repeats=1)
    for name in ENCODER_VARIANTS:
        assert result[f"{name}_step_ms"] > 0
        assert result[f"{name}_speedup"] == pytest.approx(
            result["plain_step_ms"] / result[f"{name}_step_ms"]
        )
    assert result["max_grad_rel_diff"] < 1e-4
    report = format_encoder_step_report(result)
    assert all(label in report for label in ENCODER_VARIANTS.values())
