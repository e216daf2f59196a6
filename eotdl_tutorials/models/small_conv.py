"""Faster CPU training of convolutions whose kernel covers their whole input.

A ResNet-18 sees a 24 px Sentinel-2 view at 2 x 2 px in its third stage and 1 x 1 px in its
fourth, where each 3 x 3 kernel covers the whole feature map. For those layers oneDNN computes
the weight gradient with a generic GEMM path (``x64:gemm:jit`` in ``ONEDNN_VERBOSE``) that took
about 100 ms per layer and step on a 2-core AVX2 machine, against 7 ms for the same product
written as one matrix multiplication of the unfolded input: it was two thirds of a training
step. :func:`speed_up_small_convolutions` makes such layers compute their weight gradient that
way while training on the CPU; everything else (forward, input gradient, GPU, inference,
export) is the plain convolution. ``eotdl-tutorials bench encoder`` measures the gain.

It works around oneDNN as bundled with torch 2.14.1 (Intel MKL-DNN v3.12.0; no upstream issue
was found for this shape) and reaches into a torch internal to do so: the input gradient calls
the ATen operator ``torch.ops.aten.convolution_backward`` directly, because the public
``torch.nn.grad.conv2d_input`` inside a custom autograd Function is much slower than oneDNN's
own backward (pytorch/pytorch#38057, open). Check both when torch is upgraded:
``tests/test_models_small_conv.py`` checks the gradients, the benchmark the gain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _UnfoldWeightGradConv(torch.autograd.Function):
    """``F.conv2d`` whose weight gradient is one product of the output gradient and the
    unfolded input (the input gradient stays oneDNN's)."""

    @staticmethod
    def forward(ctx, x, weight, stride, padding, dilation):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, dilation)
        return F.conv2d(x, weight, None, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        x, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, stride, padding, dilation, False, (0, 0), 1,
                (True, False, False),
            )[0]  # fmt: skip
        if ctx.needs_input_grad[1]:
            n, out_channels = grad.shape[:2]
            columns = F.unfold(x, weight.shape[-2:], dilation, padding, stride)
            grad_weight = torch.einsum(
                "nol,nkl->ok", grad.reshape(n, out_channels, -1), columns
            ).reshape(weight.shape)
        return grad_x, grad_weight, None, None, None


class SmallInputConv2d(nn.Conv2d):
    """A ``Conv2d`` that, while training on the CPU with an input no larger than its kernel,
    computes its weight gradient as one matrix product (same result, see the module's doc)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            self.training
            and torch.is_grad_enabled()
            and x.device.type == "cpu"
            and x.shape[-2] * x.shape[-1] <= self.kernel_size[0] * self.kernel_size[1]
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
        ):
            return _UnfoldWeightGradConv.apply(
                x, self.weight, self.stride, self.padding, self.dilation
            )
        return super().forward(x)


def speed_up_small_convolutions(module: nn.Module) -> nn.Module:
    """Turn ``module``'s plain convolutions (no bias, no groups, zero padding) into
    :class:`SmallInputConv2d` in place; weights and state dict keys are unchanged."""
    for layer in module.modules():
        if (
            type(layer) is nn.Conv2d
            and layer.bias is None
            and layer.groups == 1
            and layer.padding_mode == "zeros"
            and isinstance(layer.padding, tuple)
        ):
            layer.__class__ = SmallInputConv2d
    return module
