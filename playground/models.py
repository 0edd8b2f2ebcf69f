"""Model registry: every architecture that can learn a sprite, keyed by its URL name.

Each model maps its input batch to raw values (logits for BCE); only the display clamps to [0, 1],
so a learning rate that is too high diverges as real training would. `image()` gives the whole
sprite as (4, H, W) raw values whatever the model's batching.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from playground.config import RunConfig

CHANNELS = 4  # RGBA


class Sine(nn.Module):
    """SIREN-style activation: sin(30 x) lets a coordinate MLP draw sharp edges."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(30.0 * x)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "sine": Sine,
    "silu": nn.SiLU,
}


def _mlp(n_in: int, hidden: int, depth: int, n_out: int, act: str) -> nn.Sequential:
    """A plain MLP: depth hidden layers of the same width."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), ACTIVATIONS[act]()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class Pixels(nn.Module):
    """Every pixel is its own parameter: the simplest 'model', plain gradient descent on an image."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.canvas = nn.Parameter(torch.empty(1, CHANNELS, cfg.size, cfg.size))
        self.register_buffer("z", torch.zeros(1, 1))  # a placeholder input: one sample per epoch

    def reset(self, g: torch.Generator) -> None:
        """Random colours in [0, 1): the picture starts as noise."""
        self.canvas.uniform_(0.0, 1.0, generator=g)

    def forward(self, z: Tensor) -> Tensor:
        return self.canvas.expand(z.shape[0], -1, -1, -1)

    def examples(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One example per epoch: the placeholder input and the whole sprite."""
        return self.z, image.unsqueeze(0)

    def image(self) -> Tensor:
        return self.canvas[0]


class SoftPixels(nn.Module):
    """(1 + tanh x + x) / 2: slope 1 in the colour range, 1/2 beyond, so an SGD overshoot lands on
    a flatter slope and bounces between two pictures; unbounded, so far-too-large rates diverge."""

    def forward(self, x: Tensor) -> Tensor:
        return (1.0 + torch.tanh(x) + x) / 2


class LatentMLP(nn.Module):
    """An MLP from one fixed random latent vector to all pixels at once (a tiny generator)."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.size = cfg.size
        self.net = _mlp(cfg.latent, cfg.hidden, cfg.depth, CHANNELS * cfg.size**2, "relu")
        # The readout sees features / sqrt(hidden) (its step does not grow with the width) and the
        # pixels go through SoftPixels: plain SGD then crawls, converges, oscillates (a lasting
        # two-picture bounce at 1.25-1.6) and diverges in order; docs/benchmarks.md has the sweep.
        self.readout_scale, self.soft = cfg.hidden ** -0.5, SoftPixels()
        g = torch.Generator().manual_seed(cfg.seed + 1)
        self.register_buffer("z", torch.randn(1, cfg.latent, generator=g))

    def forward(self, z: Tensor) -> Tensor:
        out = self.soft(self.net[-1](self.net[:-1](z) * self.readout_scale))
        return out.view(-1, CHANNELS, self.size, self.size)

    def examples(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One example per epoch: the fixed latent and the whole sprite."""
        return self.z, image.unsqueeze(0)

    def image(self) -> Tensor:
        return self.forward(self.z)[0]


class CoordMLP(nn.Module):
    """Maps a pixel's (x, y), lifted by random Fourier features, to its colour: batches are pixels."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.size = cfg.size
        g = torch.Generator().manual_seed(cfg.seed + 2)
        self.register_buffer("B", torch.randn(2, cfg.fourier, generator=g) * cfg.fourier_scale)
        n_in = 2 + 2 * cfg.fourier
        self.net = _mlp(n_in, cfg.hidden, cfg.depth, CHANNELS, cfg.activation)
        self.sine = cfg.activation == "sine"
        self.register_buffer("grid", coord_grid(cfg.size))

    def reset(self, g: torch.Generator) -> None:
        """SIREN's initialisation for sine activations (the default init suits the others)."""
        if self.sine:
            _siren_init(self.net, g)

    def forward(self, xy: Tensor) -> Tensor:
        if self.B.shape[1]:
            proj = 2 * math.pi * xy @ self.B
            xy = torch.cat([xy, torch.sin(proj), torch.cos(proj)], dim=1)
        return self.net(xy)

    def image(self) -> Tensor:
        return self.forward(self.grid).T.reshape(CHANNELS, self.size, self.size)

    def examples(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One example per pixel: its coordinates and its RGBA (batches are sets of pixels)."""
        return self.grid, image.reshape(CHANNELS, -1).T.contiguous()


def _norm_act(ch: int) -> list[nn.Module]:
    """GroupNorm then LeakyReLU(0.2): plain SGD's regimes then come in order along the LR axis."""
    # With bare ReLUs the decoder sawed at 0.03, converged at 0.1 and its ReLUs died at 0.3 (the
    # loss froze and read as a crawl); docs/benchmarks.md, "Learning-rate regimes on the defaults".
    return [nn.GroupNorm(min(4, ch), ch), nn.LeakyReLU(0.2)]


class ConvDecoder(nn.Module):
    """A small conv decoder: latent -> 1/4-size feature map -> two upsampling conv blocks."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.base = max(1, math.ceil(cfg.size / 4))
        ch = max(4, cfg.hidden // 2)
        self.ch = ch
        self.fc = nn.Linear(cfg.latent, ch * self.base**2)
        self.body = nn.Sequential(
            *_norm_act(ch),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(ch, ch, 3, padding=1), *_norm_act(ch),
            nn.Upsample(size=(cfg.size, cfg.size), mode="nearest"),
            nn.Conv2d(ch, ch // 2, 3, padding=1), *_norm_act(ch // 2),
            nn.Conv2d(ch // 2, CHANNELS, 3, padding=1),
        )
        g = torch.Generator().manual_seed(cfg.seed + 1)
        self.register_buffer("z", torch.randn(1, cfg.latent, generator=g))

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.fc(z).view(-1, self.ch, self.base, self.base))

    def examples(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """One example per epoch: the fixed latent and the whole sprite."""
        return self.z, image.unsqueeze(0)

    def image(self) -> Tensor:
        return self.forward(self.z)[0]


def coord_grid(size: int) -> Tensor:
    """(size*size, 2) pixel-centre coordinates in [-1, 1], row-major (y then x)."""
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def _siren_init(net: nn.Sequential, g: torch.Generator) -> None:
    """SIREN initialisation keeps sin(30x) activations well spread through depth."""
    first = True
    for m in net:
        if isinstance(m, nn.Linear):
            bound = 1 / m.in_features if first else math.sqrt(6 / m.in_features) / 30
            nn.init.uniform_(m.weight, -bound, bound, generator=g)
            first = False


@torch.no_grad()
def seed_weights(model: nn.Module, seed: int) -> nn.Module:
    """Draw every weight from a generator of the model's own, seeded by `seed`: the same config
    gives the same weights in any thread or process, whatever else draws random numbers meanwhile.
    Linear and conv layers get PyTorch's default initialisation (kaiming-uniform with a = sqrt(5),
    and a bias uniform in +-1/sqrt(fan_in)); then the model's own `reset(generator)`, if any."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
                nn.init.uniform_(m.bias, -bound, bound, generator=g)
    for m in model.modules():
        if hasattr(m, "reset"):
            m.reset(g)
    return model


@dataclass(frozen=True)
class ModelSpec:
    """One model: how to make it from a config, the line that describes it, and the settings it
    reads (the sidebar shows exactly these under "Model details")."""

    make: Callable[[RunConfig], nn.Module]
    doc: str
    uses: tuple[str, ...] = ()
    example_dims: tuple[int, ...] = ()  # output dims that make one example (summed by the loss)
    # Per optimizer, a learning rate that converges at the default settings (the Compare tab's
    # ready-made races; the sprite models' from the regime table of benchmarks/lr_regimes.py).
    race_lr: Mapping[str, float] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "pixels": ModelSpec(Pixels, "Learnable pixels: each pixel is a weight (no network at all).",
                        ("size",), (1, 2, 3), race_lr={"sgd": 0.1, "adam": 0.01}),
    "mlp": ModelSpec(LatentMLP, "MLP generator: a fixed random latent through hidden layers to every "
                     "pixel at once.", ("size", "hidden", "depth", "latent"), (1, 2, 3),
                     race_lr={"sgd": 0.01, "adam": 0.001}),
    "coord": ModelSpec(CoordMLP, "Coordinate MLP: (x, y) with Fourier features to RGBA; batches are "
                       "sets of pixels.", ("size", "hidden", "depth", "activation", "fourier",
                                           "fourier_scale", "batch_size"), (1,),
                       race_lr={"sgd": 0.1, "adam": 0.001}),
    "conv": ModelSpec(ConvDecoder, "Conv decoder: a latent upsampled by convolutions, like a tiny GAN "
                      "generator.", ("size", "hidden", "latent"), (1,),
                      race_lr={"sgd": 0.01, "adam": 0.001}),  # 0.1 diverges since GroupNorm
}


def make_model(cfg: RunConfig) -> nn.Module:
    """Build the configured model with weights drawn from the config's seed (its own generator)."""
    return seed_weights(MODELS[cfg.model].make(cfg), cfg.seed)


def num_parameters(model: nn.Module) -> int:
    """Trainable parameter count, shown next to each model's name."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
