"""Planning-only view of a WorldModel with fused, pre-split weights for fast batched inference.

MPPI evaluates N+P candidate sequences that share their start latent and task embedding, so
the world model's first layers are split by input block (latent | action | task) and:
- the task block is computed once per call and added as a bias,
- the latent block at t = 0 is computed once per environment, not once per candidate,
- the dynamics and reward first layers (same input) run as one matmul,
- only the two Q heads that the value estimate uses are evaluated,
- Mish uses an exp-only closed form (tanh(softplus(x)) = n / (n + 2), n = e^x (e^x + 2)).
Weights are copied in the acting dtype (bf16 on CPUs with bf16 units) by `refresh()`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from m3po_learning.math import symexp
from m3po_learning.planner import LatentModel
from m3po_learning.world_model import two_random_heads


def fast_mish(x: torch.Tensor) -> torch.Tensor:
    """Mish x * tanh(softplus(x)) with one exp, as x * n / (n + 2), n = e^x (e^x + 2).

    The input is clamped at 20 inside the exp, where the factor is already 1 in float32.
    """
    e = torch.exp(x.clamp(max=20.0))
    n = e * (e + 2.0)
    return x * n / (n + 2.0)


def _split(weight: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """Linear weight (out, in) -> transposed (in_block, out) pieces, contiguous."""
    return [w.t().contiguous() for w in weight.split(sizes, dim=1)]


class FusedLatentModel(LatentModel):
    """Same function as WorldModelAdapter (up to floating point), restructured for speed."""

    def __init__(self, wm, dtype: torch.dtype):
        self.wm = wm
        self.dtype = dtype
        self.L = wm.cfg.latent_dim
        self.A = wm.action_dim
        self.E = wm.cfg.task_dim
        self.M = wm.cfg.mlp_dim
        self.simnorm = wm.cfg.simnorm_dim
        self.act = fast_mish if wm.cfg.activation == "mish" else F.silu
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Re-read the weights from the world model (after training updates)."""
        wm, dt, L, A, E = self.wm, self.dtype, self.L, self.A, self.E
        c = lambda t: t.detach().to(dt).contiguous()  # noqa: E731
        sizes = [L, A] + ([E] if E else [])
        d1, r1 = wm.dynamics[0], wm.reward[0]
        w = torch.cat([d1[0].weight, r1[0].weight], 0)  # (2M, L+A+E)
        parts = _split(w, sizes)
        self.W1_z, self.W1_a = c(parts[0]), c(parts[1])
        self.W1_za = c(torch.cat([parts[0], parts[1]], 0))  # (L+A, 2M)
        self.W1_e = c(parts[2]) if E else None
        self.b1 = c(torch.cat([d1[0].bias, r1[0].bias]))
        self.ln1_w = c(torch.stack([d1[-2].weight, r1[-2].weight]))  # (2, M)
        self.ln1_b = c(torch.stack([d1[-2].bias, r1[-2].bias]))
        self.d2 = self._layer(wm.dynamics[1])
        self.r2 = self._layer(wm.reward[1])
        self.d_out = (c(wm.dynamics[2].weight.t()), c(wm.dynamics[2].bias))
        d_ln = wm.dynamics[3] if isinstance(wm.dynamics[3], torch.nn.LayerNorm) else None
        self.d_ln = None if d_ln is None else (c(d_ln.weight), c(d_ln.bias))
        self.r_out = (c(wm.reward[2].weight.t()), c(wm.reward[2].bias))
        q = wm.qs
        self.q_l1_w = c(q.l1.weight)  # (K, in, M)
        self.q_l1_b = c(q.l1.bias)  # (K, 1, M)
        self.q_n1 = (c(q.n1.weight), c(q.n1.bias))
        self.q_l2 = (c(q.l2.weight), c(q.l2.bias))
        self.q_n2 = (c(q.n2.weight), c(q.n2.bias))
        self.q_out = (c(q.out.weight), c(q.out.bias))
        pi = wm.pi.net
        pw = _split(pi[0][0].weight, [L] + ([E] if E else []))
        self.pi1_z = c(pw[0])
        self.pi1_e = c(pw[1]) if E else None
        self.pi1_b = c(pi[0][0].bias)
        self.pi1_ln = (c(pi[0][-2].weight), c(pi[0][-2].bias))
        self.pi2 = self._layer(pi[1])
        self.pi_out = (c(pi[2].weight.t()), c(pi[2].bias))
        self.bins = wm.two_hot.bins(torch.zeros(1))
        self.std_offset = float(wm.pi._std_offset)
        self.log_std_min, self.log_std_max = wm.pi.log_std_min, wm.pi.log_std_max

    def _layer(self, normed_linear):
        lin, ln = normed_linear[0], normed_linear[-2]
        c = lambda t: t.detach().to(self.dtype).contiguous()  # noqa: E731
        return c(lin.weight.t()), c(lin.bias), c(ln.weight), c(ln.bias)

    def _ln_mish(self, x, w, b):
        return self.act(F.layer_norm(x, (x.shape[-1],), w, b))

    def _hidden(self, x, layer):
        w, b, lw, lb = layer
        return self._ln_mish(torch.addmm(b, x.reshape(-1, x.shape[-1]), w), lw, lb)

    def _decode(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits.float(), dim=-1)
        return symexp(p @ self.bins.to(p.device))

    # -- the planner's entry points -------------------------------------------------------------
    def _policy(self, z, e_bias, mask, generator):
        """z: (B, S, L); e_bias: (B, 1, M) task part + bias; mask: (B, 1, A) -> (B, S, A)."""
        B, S, _ = z.shape
        h = (z @ self.pi1_z + e_bias).view(B * S, -1)
        h = self._ln_mish(h, *self.pi1_ln)
        h = self._hidden(h, self.pi2)
        out = torch.addmm(self.pi_out[1], h, self.pi_out[0]).view(B, S, -1)
        mean, raw = out.chunk(2, dim=-1)
        log_std = self.log_std_min + (self.log_std_max - self.log_std_min) * torch.sigmoid(
            raw + self.std_offset
        )
        noise = torch.randn(mean.shape, dtype=mean.dtype, device=mean.device, generator=generator)
        return torch.tanh(mean + noise * log_std.exp()) * mask

    def _pi_bias(self, emb, B):
        if emb is None:
            return self.pi1_b.view(1, 1, -1).expand(B, 1, -1)
        return (emb @ self.pi1_e + self.pi1_b).unsqueeze(1)

    def _q(self, z, a, emb, heads):
        """Mean value of the chosen heads; z (B, S, L), a (B, S, A) -> (B, S)."""
        B, S, _ = z.shape
        parts = [z, a] if emb is None else [z, a, emb.unsqueeze(1).expand(B, S, -1)]
        x = torch.cat(parts, -1).reshape(1, B * S, -1)
        # with two members the pair is always both: skip the weight gather
        k = slice(None) if self.wm.cfg.num_q == 2 else heads
        h = torch.baddbmm(self.q_l1_b[k], x.expand(2, -1, -1), self.q_l1_w[k])
        h = self.act(torch.addcmul(self.q_n1[1][k], F.layer_norm(h, (self.M,)), self.q_n1[0][k]))
        h = torch.baddbmm(self.q_l2[1][k], h, self.q_l2[0][k])
        h = self.act(torch.addcmul(self.q_n2[1][k], F.layer_norm(h, (self.M,)), self.q_n2[0][k]))
        logits = torch.baddbmm(self.q_out[1][k], h, self.q_out[0][k])
        return self._decode(logits).mean(0).view(B, S)

    def policy_action(self, z, emb, mask, generator=None):
        """A sampled, masked policy action (B, A) for z (B, L); mask: (B, A)."""
        z3 = z.unsqueeze(1)
        return self._policy(z3, self._pi_bias(emb, z.shape[0]), mask.unsqueeze(1), generator)[:, 0]

    def next(self, z, a, emb):
        """Next latent (B, L) from z (B, L), a (B, A), through the fused first layer."""
        h = self._first(z.unsqueeze(1), a.unsqueeze(1), self._e_bias(emb, z.shape[0]))
        return self._dyn_out(h[..., 0, :])[:, 0]

    def _e_bias(self, emb, B):
        if emb is None:
            return self.b1.view(1, 1, -1).expand(B, 1, -1)
        return (emb @ self.W1_e + self.b1).unsqueeze(1)

    def _first(self, zpart, a, e_bias):
        """zpart: (B, S|1, L) latents; a: (B, S, A) -> fused hidden (B, S, 2, M)."""
        B, S, _ = a.shape
        if zpart.shape[1] == 1 and S > 1:
            # t = 0: the latent is shared by all candidates, fold it into the bias.
            bias = torch.baddbmm(e_bias, zpart, self.W1_z.expand(B, -1, -1))
            h = torch.baddbmm(bias, a, self.W1_a.expand(B, -1, -1))
        else:
            x = torch.cat([zpart, a], -1)
            h = torch.baddbmm(e_bias, x, self.W1_za.expand(B, -1, -1))
        h = F.layer_norm(h.view(B, S, 2, self.M), (self.M,))
        return self.act(torch.addcmul(self.ln1_b, h, self.ln1_w))

    def _dyn_out(self, hd):
        B, S, M = hd.shape
        x = self._hidden(hd.reshape(B * S, M), self.d2)
        z = torch.addmm(self.d_out[1], x, self.d_out[0])
        if self.d_ln is not None:
            z = F.layer_norm(z, (z.shape[-1],), *self.d_ln)
        z = torch.softmax(z.view(B * S, -1, self.simnorm), -1)
        return z.view(B, S, -1)

    def _reward(self, hr):
        B, S, M = hr.shape
        x = self._hidden(hr.reshape(B * S, M), self.r2)
        return self._decode(torch.addmm(self.r_out[1], x, self.r_out[0])).view(B, S)

    def rollout_value(self, z0, emb, mask, actions, gammas, generator=None):
        """G = sum_t gamma^t R(z_t, a_t) + gamma^H Q(z_H, pi(z_H)) for every candidate.

        z0: (B, L); emb: (B, E) or None; mask: (B, A); actions: (B, S, H, A); gammas: (B, H+1).
        Returns (B, S). Candidates share z0 at t = 0, so it is folded into the bias once.
        """
        B, S, H, _ = actions.shape
        e_bias = self._e_bias(emb, B)
        z = z0.unsqueeze(1)  # (B, 1, L): shared by all candidates at t = 0
        G = torch.zeros(B, S, device=z0.device)
        for t in range(H):
            h = self._first(z, actions[:, :, t], e_bias)  # broadcasts z over S at t = 0
            G += gammas[:, t : t + 1] * self._reward(h[:, :, 1])
            z = self._dyn_out(h[:, :, 0])
        pi_a = self._policy(z, self._pi_bias(emb, B), mask.unsqueeze(1), generator)
        heads = two_random_heads(self.wm.cfg.num_q, generator, z0.device)
        G += gammas[:, H : H + 1] * self._q(z, pi_a, emb, heads)
        return G
