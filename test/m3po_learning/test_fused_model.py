"""The fused planning model computes the same values as the plain world model."""

import torch

from m3po_learning.config import load_config
from m3po_learning.fused_model import FusedLatentModel, fast_mish
from m3po_learning.planner import WorldModelAdapter
from m3po_learning.types import EnvSpec
from m3po_learning.world_model import WorldModel


def _model(task_dim=16, num_q=4, act="mish"):
    cfg = load_config(
        None,
        [
            "model.preset=tiny",
            f"model.task_dim={task_dim}",
            f"model.num_q={num_q}",
            f"model.activation={act}",
        ],
    )
    torch.manual_seed(0)
    wm = WorldModel(cfg.model, [EnvSpec("t/a", 6, 2, 100), EnvSpec("t/b", 9, 3, 300)]).eval()
    # non-zero heads, so that reward and Q values are not trivially zero
    for p in wm.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    return wm


def test_fast_mish_matches_mish():
    x = torch.linspace(-30, 30, 10001)
    assert torch.allclose(fast_mish(x), torch.nn.functional.mish(x), atol=1e-5)


def test_rollout_value_matches_reference():
    for task_dim, num_q, act in ((16, 4, "mish"), (0, 2, "mish"), (16, 2, "silu")):
        wm = _model(task_dim, num_q, act)
        fused = FusedLatentModel(wm, torch.float32)
        ref = WorldModelAdapter(wm)
        B, S, H = 2, 7, 3
        task = torch.tensor([0, 1])
        emb = wm.embed(task)
        with torch.no_grad():
            z0 = wm.encode(torch.randn(B, 9), emb)
            mask = wm.mask(task)
            actions = (torch.rand(B, S, H, 3) * 2 - 1) * mask[:, None, None]
            gammas = torch.tensor([[0.99**t for t in range(H + 1)]] * B)
            g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
            a = fused.rollout_value(z0, emb, mask, actions, gammas, g1)
            b = ref.rollout_value(z0, emb, mask, actions, gammas, g2)
            assert a.shape == (B, S)
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-4), (a - b).abs().max()
            za = fused.next(z0, actions[:, 0, 0], emb)
            assert torch.allclose(za, wm.next(z0, actions[:, 0, 0], emb), atol=1e-5)


def test_refresh_follows_weight_updates():
    wm = _model()
    fused = FusedLatentModel(wm, torch.float32)
    z = torch.softmax(torch.randn(1, wm.cfg.latent_dim), -1)
    a = torch.zeros(1, 3)
    emb = wm.embed(torch.tensor([1]))
    before = fused.next(z, a, emb)
    with torch.no_grad():
        wm.dynamics[2].bias.add_(1.0)
    assert torch.allclose(fused.next(z, a, emb), before)  # stale until refreshed
    fused.refresh()
    assert torch.allclose(fused.next(z, a, emb), wm.next(z, a, emb), atol=1e-5)
