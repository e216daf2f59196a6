"""Super-resolution networks: bicubic, a small EDSR-style CNN and ESRT (Lu et al. 2021).

ESRT ("Transformer for Single Image Super-Resolution", CVPRW 2022, arXiv:2108.11084) as published
(checked against the authors' code, github.com/luissen/ESRT, written anew here):

- a lightweight CNN backbone of three **high-preserving blocks** (HPB): each splits its features
  into a half-resolution part refined five times and a high-frequency part (features minus their
  upsampled half-resolution version), both by **adaptive residual feature blocks** (ARFB: two
  residual units with learnt residual scales, 1x1 fusion, channel attention), then fuses them;
- a **lightweight transformer**: every pixel becomes a token of its 3x3 neighbourhood
  (32 x 9 = 288 values), **efficient multi-head attention** (EMHA: the token is halved to 144 by a
  linear layer before Q, K and V, 8 heads, attention within each quarter of the token sequence),
  an MLP of width 288/4, and the tokens are folded back into a feature map;
- a **pixel-shuffle upsampler** (convolution to 4x channels + PixelShuffle(2), per factor 2),
  plus the same upsampler on the head features as a long skip.

With 3 bands at 4x this has 751,755 parameters: the paper's 751K.

:class:`SuperResolver` wraps a network for reflectance in and out: it scales the input as EOTDL does
(reflectance / 0.4, i.e. DN / 4000) and, with ``residual`` (the default), adds the network's output
to the bicubic interpolation of the input (global residual learning, VDSR: Kim et al. 2016), with
the last layer started at zero so training starts from bicubic. That is not in the ESRT paper (whose
network predicts the image itself, ``residual=False``); it lets both networks train in minutes on a
CPU and changes no parameter count. With ``consistent``, its output is then **projected** onto the
images whose average over each ``factor`` x ``factor`` block is the input (one exact step of
Irani and Peleg's back-projection, 1991: each block's difference from its input pixel is spread
evenly over the block): the 10 m radiometry is the input's, by construction, and only the detail
inside each block is the network's. :func:`make_consistent` adds it to a trained model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ARCHS = ("bicubic", "cnn", "esrt")
#: ESRT's parameter count at 4x on RGB in Table 1 of Lu et al. (2021).
ESRT_PAPER_PARAMS_4X = 751_000


def upsample_bicubic(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic interpolation by ``factor`` (pixel areas kept aligned: ``align_corners=False``)."""
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False)


def project_consistent(sr: torch.Tensor, lr: torch.Tensor, factor: int) -> torch.Tensor:
    """``sr`` (N, C, h*factor, w*factor) moved so that its average over each factor x factor
    block is ``lr`` (N, C, h, w): each block shifted by its difference from its input pixel."""
    correction = lr - F.avg_pool2d(sr, factor)
    return sr + correction.repeat_interleave(factor, -2).repeat_interleave(factor, -1)


def _conv(cin: int, cout: int, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)


def _check_factor(factor: int) -> int:
    if factor not in (2, 3, 4, 8):
        raise ValueError(f"factor must be 2, 3, 4 or 8, got {factor}")
    return factor


class Upsampler(nn.Sequential):
    """Sub-pixel convolution: conv to ``r**2`` x channels and PixelShuffle(r), per step."""

    def __init__(self, factor: int, channels: int) -> None:
        steps = [3] if _check_factor(factor) == 3 else [2] * int(math.log2(factor))
        layers: list[nn.Module] = []
        for r in steps:
            layers += [_conv(channels, r * r * channels), nn.PixelShuffle(r)]
        super().__init__(*layers)


class Bicubic(nn.Module):
    """Bicubic interpolation as a module (no weights): the baseline."""

    def __init__(self, bands: int, factor: int) -> None:
        super().__init__()
        self.bands, self.factor = bands, _check_factor(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample_bicubic(x, self.factor)


class ResBlock(nn.Module):
    """EDSR residual block: conv-ReLU-conv, added to the input (no batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels), nn.ReLU(inplace=True), _conv(channels, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SmallCNN(nn.Module):
    """A small plain CNN in the style of EDSR (Lim et al. 2017): head conv, ``blocks`` residual
    blocks with a long skip, pixel-shuffle upsampler, tail conv."""

    def __init__(self, bands: int, factor: int, channels: int = 32, blocks: int = 4) -> None:
        super().__init__()
        self.bands, self.factor = bands, _check_factor(factor)
        self.head = _conv(bands, channels)
        self.body = nn.Sequential(
            *(ResBlock(channels) for _ in range(blocks)), _conv(channels, channels)
        )
        self.tail = nn.Sequential(Upsampler(factor, channels), _conv(channels, bands))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.tail(features + self.body(features))


class Scale(nn.Module):
    """A learnt scalar weight (ESRT's adaptive residual scales), initialised to 1."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.value


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (RCAN's CA layer, reduction 16)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class ResidualUnit(nn.Module):
    """ARFB's residual unit: reduce to half the channels, PReLU, expand, weighted skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.body = nn.Sequential(_conv(channels, half), nn.PReLU(half), _conv(half, channels))
        self.skip_scale, self.body_scale = Scale(), Scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_scale(x) + self.body_scale(self.body(x))


class ARFB(nn.Module):
    """Adaptive residual feature block: two residual units, 1x1 fusion of both, channel attention,
    a 3x3 convolution, and a weighted skip."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.unit1, self.unit2 = ResidualUnit(channels), ResidualUnit(channels)
        self.scale1, self.scale2 = Scale(), Scale()
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1, bias=False), nn.ReLU(inplace=True)
        )
        self.attention = ChannelAttention(channels)
        self.out = nn.Sequential(_conv(channels, channels, bias=False), nn.ReLU(inplace=True))
        self.skip_scale, self.out_scale = Scale(), Scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.unit1(x)
        x2 = self.unit2(x1)
        fused = self.fuse(torch.cat([self.scale2(x2), self.scale1(x1)], 1))
        return self.skip_scale(x) + self.out_scale(self.out(self.attention(fused)))


class HPB(nn.Module):
    """High-preserving block: the high-frequency part (features minus their upsampled
    half-resolution version) and the half-resolution part (refined by one ARFB applied five
    times, weights shared, as published) are processed apart and fused."""

    LOW_REPEATS = 5

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.encoder, self.low, self.high, self.out = (ARFB(channels) for _ in range(4))
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1, bias=False), nn.ReLU(inplace=True)
        )
        self.attention = ChannelAttention(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        features = self.encoder(x)
        low = F.avg_pool2d(features, 2)
        high = features - F.interpolate(low, size=size, mode="bilinear", align_corners=True)
        for _ in range(self.LOW_REPEATS):
            low = self.low(low)
        low = F.interpolate(low, size=size, mode="bilinear", align_corners=True)
        fused = self.fuse(torch.cat([low, self.high(high)], 1))
        return self.out(self.attention(fused)) + x


class EMHA(nn.Module):
    """Efficient multi-head attention: tokens halved by a linear layer, Q/K/V of that, 8 heads,
    attention computed within each quarter of the token sequence (the paper's feature split),
    projected back to the token width."""

    def __init__(self, dim: int, heads: int = 8, splits: int = 4) -> None:
        super().__init__()
        self.heads, self.splits = heads, splits
        self.scale = (dim // heads) ** -0.5  # as in the authors' code: the unreduced head width
        self.reduce = nn.Linear(dim, dim // 2, bias=False)
        self.qkv = nn.Linear(dim // 2, 3 * (dim // 2), bias=False)
        self.proj = nn.Linear(dim // 2, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if n % self.splits == 0:  # equal quarters: one batched call (and an ONNX-exportable graph)
            shape = (b, self.heads * self.splits, n // self.splits, c // self.heads)
            out = F.scaled_dot_product_attention(
                q.reshape(shape), k.reshape(shape), v.reshape(shape), scale=self.scale
            ).reshape(b, self.heads, n, c // self.heads)
            return self.proj(out.transpose(1, 2).reshape(b, n, c))
        chunk = max(n // self.splits, 1)  # as published: quarters plus the remainder
        parts = [
            F.scaled_dot_product_attention(qi, ki, vi, scale=self.scale)
            for qi, ki, vi in zip(
                q.split(chunk, 2), k.split(chunk, 2), v.split(chunk, 2), strict=True
            )
        ]
        out = torch.cat(parts, dim=2).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class EfficientTransformer(nn.Module):
    """ESRT's transformer block on 3x3-neighbourhood tokens (one per pixel), folded back."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.kernel = kernel
        dim = channels * kernel * kernel
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = EMHA(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim // 4), nn.ReLU(inplace=True), nn.Linear(dim // 4, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size, pad = x.shape[-2:], self.kernel // 2
        tokens = F.unfold(x, self.kernel, padding=pad).transpose(1, 2)
        tokens = tokens + self.attention(self.norm1(tokens))
        tokens = tokens + self.mlp(self.norm2(tokens))
        return F.fold(tokens.transpose(1, 2), size, self.kernel, padding=pad)


class ESRTBody(nn.Module):
    """Three HPBs, their outputs concatenated and reduced, the transformer, a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.hpbs = nn.ModuleList(HPB(channels) for _ in range(3))
        self.reduce = _conv(3 * channels, channels)
        self.transformer = EfficientTransformer(channels)
        self.out = _conv(channels, channels)
        self.skip_scale, self.out_scale = Scale(), Scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, features = [], x
        for hpb in self.hpbs:
            features = hpb(features)
            outs.append(features)
        transformed = self.transformer(self.reduce(torch.cat(outs, 1)))
        return self.skip_scale(x) + self.out_scale(self.out(transformed))


class ESRT(nn.Module):
    """ESRT (Lu et al. 2021) for ``bands`` input/output bands, 32 features, one body block."""

    def __init__(self, bands: int, factor: int, channels: int = 32) -> None:
        super().__init__()
        self.bands, self.factor = bands, _check_factor(factor)
        self.head = _conv(bands, channels)
        self.body = ESRTBody(channels)
        self.reduce = _conv(channels, channels)
        self.tail = nn.Sequential(Upsampler(factor, channels), _conv(channels, bands))
        self.skip = nn.Sequential(
            Upsampler(factor, channels), _conv(channels, bands, bias=False), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.skip(features) + self.tail(self.reduce(self.body(features)))


def make_network(arch: str, bands: int, factor: int, **options: int) -> nn.Module:
    """The bare ``bicubic``, ``cnn`` or ``esrt`` network for ``bands`` bands and ``factor``
    (``options``: e.g. ``channels``/``blocks`` of the CNN)."""
    models = {"bicubic": Bicubic, "cnn": SmallCNN, "esrt": ESRT}
    if arch not in models:
        raise ValueError(f"unknown super-resolution model {arch!r}: use one of {', '.join(ARCHS)}")
    return models[arch](bands, factor, **options)


class SuperResolver(nn.Module):
    """Reflectance (N, C, h, w) -> reflectance (N, C, h*factor, w*factor) with network ``arch``."""

    def __init__(
        self,
        arch: str,
        bands: tuple[str, ...],
        factor: int,
        divisor: float = 0.4,
        residual: bool = True,
        options: dict[str, int] | None = None,
        consistent: bool = False,
    ) -> None:
        super().__init__()
        self.arch, self.bands, self.factor = arch, tuple(bands), factor
        self.divisor, self.residual = float(divisor), residual and arch != "bicubic"
        self.consistent = consistent
        self.options = dict(options or {})
        self.net = make_network(arch, len(self.bands), factor, **self.options)
        if self.residual:
            last = self.net.tail[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            if isinstance(self.net, ESRT):  # the long skip starts small too (ReLU keeps it alive)
                with torch.no_grad():
                    self.net.skip[1].weight.mul_(1e-4)

    def config(self) -> dict:
        """What rebuilds this model (with its state dict)."""
        return {
            "arch": self.arch,
            "bands": list(self.bands),
            "factor": self.factor,
            "divisor": self.divisor,
            "residual": self.residual,
            "options": self.options,
            "consistent": self.consistent,
        }

    @classmethod
    def from_config(cls, config: dict) -> SuperResolver:
        """The model described by :meth:`config` (untrained weights)."""
        return cls(
            config["arch"], tuple(config["bands"]), int(config["factor"]),
            float(config["divisor"]), bool(config["residual"]), config.get("options"),
            bool(config.get("consistent", False)),
        )  # fmt: skip

    @property
    def parameters_count(self) -> int:
        """Trainable parameters of the network."""
        return count_parameters(self.net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = x / self.divisor
        out = self.net(scaled)
        if self.residual:
            out = out + upsample_bicubic(scaled, self.factor)
        if self.consistent:
            out = project_consistent(out, scaled, self.factor)
        return out * self.divisor


def make_consistent(model: SuperResolver) -> SuperResolver:
    """A copy of ``model`` (same weights) whose output keeps the input's 10 m radiometry
    (:func:`project_consistent`, the module docstring)."""
    config = model.config() | {"consistent": True}
    consistent = SuperResolver.from_config(config)
    consistent.load_state_dict(model.state_dict())
    return consistent.eval()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
