"""Batched forwards for K stacked contenders: `vmap(functional_call)` in general, and forwards written
out by hand where vmap costs most (learnable pixels, the conv decoder's grouped convolutions)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from playground.models import ConvDecoder, Pixels

Forward = Callable[[dict[str, Tensor], Tensor], Tensor]


class ImageOf(nn.Module):
    """Lets functional_call reach a model's `image()` (it only calls `forward`)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self) -> Tensor:
        return self.model.image()


def batched_forward(model: nn.Module, k: int) -> Forward:
    """One call computes all K contenders' outputs from their stacked weights (dim 0)."""
    buffers = dict(model.named_buffers())

    def forward(params: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(model, (params, buffers), (x,))

    return _by_hand(model, k) or vmap(forward, in_dims=(0, None))


def batched_image(model: nn.Module) -> Callable[[dict[str, Tensor]], Tensor]:
    """All K contenders' `image()` from their stacked weights in one vmapped call."""
    image_buffers = {f"model.{n}": b for n, b in model.named_buffers()}
    image_of = ImageOf(model)

    def image(params: dict[str, Tensor]) -> Tensor:
        named_params = {f"model.{n}": p for n, p in params.items()}
        return functional_call(image_of, (named_params, image_buffers), ())

    return vmap(image)

def _by_hand(model: nn.Module, k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor] | None:
    """A batched forward written out for the models where vmap costs most, or None (use vmap)."""
    if type(model) is Pixels:
        return _pixels_forward(k)
    if type(model) is ConvDecoder:
        return _conv_forward(model, k)
    return None


def _pixels_forward(k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor]:
    """Learnable pixels: the stacked canvases are the output (vmap's wrapping is most of the step)."""
    def forward(params: dict[str, Tensor], z: Tensor) -> Tensor:
        return params["canvas"].expand(k, z.shape[0], *params["canvas"].shape[2:])
    return forward


def _conv_forward(model: ConvDecoder, k: int) -> Callable[[dict[str, Tensor], Tensor], Tensor] | None:
    """The conv decoder: K contenders' convolutions as one grouped convolution in channels_last,
    ~1.5x faster on CPU than vmap's grouped convolution (which cannot pick the memory format).
    None for a body with a layer this does not know."""
    layers = list(model.body)
    if not all(isinstance(m, (*_ELEMENTWISE, nn.GroupNorm)) or _plain_conv(m) for m in layers):
        return None

    def forward(params: dict[str, Tensor], z: Tensor) -> Tensor:
        n, ch, side = z.shape[0], model.ch, model.base
        h = torch.baddbmm(params["fc.bias"].unsqueeze(1), z.expand(k, *z.shape),
                          params["fc.weight"].transpose(1, 2))  # (K, N, ch * side^2)
        h = h.view(k, n, ch, side, side).transpose(0, 1).reshape(n, k * ch, side, side)
        h = h.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(layers):
            if isinstance(layer, nn.Conv2d):
                w, b = params[f"body.{i}.weight"], params[f"body.{i}.bias"]
                w = w.reshape(-1, *w.shape[2:]).contiguous(memory_format=torch.channels_last)
                h = F.conv2d(h, w, b.reshape(-1), layer.stride, layer.padding, layer.dilation, k)
            elif isinstance(layer, nn.GroupNorm):  # K contenders' groups are K x as many groups
                w, b = params[f"body.{i}.weight"], params[f"body.{i}.bias"]
                h = F.group_norm(h, k * layer.num_groups, w.reshape(-1), b.reshape(-1), layer.eps)
            else:
                h = layer(h)
        return h.view(n, k, -1, *h.shape[2:]).transpose(0, 1)

    return forward


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.Upsample)


def _plain_conv(m: nn.Module) -> bool:
    """A Conv2d that the grouped form reproduces: zero padding, one group, with a bias."""
    return (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
            and m.bias is not None)


def row_norms(tensors: list[Tensor]) -> Tensor:
    """(K,) norms over a list of (K, ...) tensors: engine.total_norm for each row."""
    if len(tensors) == 1:
        return torch.linalg.vector_norm(tensors[0].flatten(1), dim=1)
    per_tensor = torch.stack([torch.linalg.vector_norm(t.flatten(1), dim=1) for t in tensors])
    return torch.linalg.vector_norm(per_tensor, dim=0)


