import torch

from m3po_learning.math import TwoHot, simnorm, symexp, symlog


def test_symlog_inverse():
    x = torch.linspace(-1000, 1000, 2001, dtype=torch.float64)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-10, atol=1e-9)


def test_two_hot_round_trip_exact_inside_range():
    th = TwoHot(101, -10, 10)
    y = torch.tensor([-500.0, -3.3, -1e-3, 0.0, 0.5, 1.0, 7.25, 1234.5], dtype=torch.float64)
    enc = th.encode(y)
    assert enc.shape == (8, 101)
    assert torch.allclose(enc.sum(-1), torch.ones(8, dtype=torch.float64))
    assert (enc > 0).sum(-1).le(2).all()  # at most two bins carry mass
    assert torch.allclose(th.decode_probs(enc), y, rtol=1e-9, atol=1e-9)


def test_two_hot_clamps_outside_range():
    th = TwoHot(11, -1, 1)
    big = torch.tensor([1e6])
    assert torch.allclose(th.decode_probs(th.encode(big)), symexp(torch.tensor([1.0])))


def test_two_hot_cross_entropy_minimised_by_target():
    th = TwoHot(51, -5, 5)
    y = torch.tensor([0.3, -2.0])
    good = torch.log(th.encode(y) + 1e-9)
    bad = torch.zeros(2, 51)
    assert (th.cross_entropy(good, y) < th.cross_entropy(bad, y)).all()


def test_simnorm_groups_sum_to_one():
    x = torch.randn(4, 32) * 5
    z = simnorm(x, 8)
    assert z.shape == x.shape
    assert torch.allclose(z.view(4, 4, 8).sum(-1), torch.ones(4, 4), atol=1e-6)
    assert (z >= 0).all()
