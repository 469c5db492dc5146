"""Network building blocks: normalised MLP layers and a fused ensemble of MLP heads."""

from __future__ import annotations

import math

import torch
from torch import nn

from m3po_learning.math import simnorm


class SimNorm(nn.Module):
    """Softmax over groups of `group` features (TD-MPC2's simplicial latent)."""

    def __init__(self, group: int = 8):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (..., D), D a multiple of `group` -> same shape, each group summing to 1."""
        return simnorm(x, self.group)


ACTIVATIONS = {"mish": nn.Mish, "silu": nn.SiLU}


class NormedLinear(nn.Sequential):
    """Linear -> (Dropout) -> LayerNorm -> activation (Mish by default)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0, act: str = "mish"):
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.LayerNorm(out_dim), ACTIVATIONS[act]()]
        super().__init__(*layers)


def mlp(
    in_dim: int,
    hidden: list[int],
    out_dim: int,
    out_act: nn.Module | None = None,
    dropout=0.0,
    act: str = "mish",
    out_norm: bool = False,
) -> nn.Sequential:
    """NormedLinear hidden layers then a Linear output.

    The output is optionally LayerNorm'd (out_norm, as TD-MPC2 does before SimNorm) and
    followed by out_act. Dropout, if any, is in the first hidden layer only.
    """
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for i in range(len(hidden)):
        layers.append(NormedLinear(dims[i], dims[i + 1], dropout if i == 0 else 0.0, act))
    layers.append(nn.Linear(dims[-1], out_dim))
    if out_norm:
        layers.append(nn.LayerNorm(out_dim))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def trunc_normal_init(module: nn.Module, std: float = 0.02) -> None:
    """TD-MPC2's initialisation: truncated-normal weights (std 0.02, +-2 std), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear | EnsembleLinear):
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class EnsembleLinear(nn.Module):
    """K independent linear layers evaluated with one batched matmul: (K, B, in) -> (K, B, out)."""

    def __init__(self, num: int, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(num, 1, out_dim))
        bound = 1.0 / math.sqrt(in_dim)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (K, B, in) -> (K, B, out)."""
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleLayerNorm(nn.Module):
    """Per-member LayerNorm affine parameters for (K, B, D) inputs."""

    def __init__(self, num: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num, 1, dim))
        self.bias = nn.Parameter(torch.zeros(num, 1, dim))
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (K, B, D) -> normalised over D with member k's weight and bias, (K, B, D)."""
        return torch.nn.functional.layer_norm(x, (self.dim,)) * self.weight + self.bias


class EnsembleMLP(nn.Module):
    """K two-hidden-layer heads fused; input (B, in) or (K, B, in), output (K, B, out)."""

    def __init__(
        self,
        num: int,
        in_dim: int,
        hidden: int,
        out_dim: int,
        dropout: float = 0.0,
        act: str = "mish",
    ):
        super().__init__()
        self.num = num
        self.l1 = EnsembleLinear(num, in_dim, hidden)
        self.n1 = EnsembleLayerNorm(num, hidden)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.l2 = EnsembleLinear(num, hidden, hidden)
        self.n2 = EnsembleLayerNorm(num, hidden)
        self.out = EnsembleLinear(num, hidden, out_dim)
        self.act = ACTIVATIONS[act]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in), shared by all members, or (K, B, in) -> (K, B, out)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.num, -1, -1)
        x = self.act(self.n1(self.drop(self.l1(x))))
        x = self.act(self.n2(self.l2(x)))
        return self.out(x)


def zero_output_layer(module: nn.Module) -> None:
    """Zero the last linear layer's weights so two-hot heads start at value 0 (TD-MPC2 init)."""
    last = [m for m in module.modules() if isinstance(m, nn.Linear | EnsembleLinear)][-1]
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
