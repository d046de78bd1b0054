"""Distractor-aware matching (distractors.py, DaSiamRPN eq. 3 in its linear form).

The search for the strongest look-alike outside the target's box, the running mean and the template it
gives, and the tracker on a generated sequence where a look-alike passes in front of the target: without
the distractor term `robust` follows the look-alike, with it the tracker stays on the target.  The term
is an option (``distractor_weight``, off in every parameter set: README "Robustness" says why)."""
import numpy as np
import pytest
import torch

from tadt_plugin.distractors import DistractorModel, strongest_elsewhere
from tadt_plugin.matching import correlate

from test_robust import robust_changes, run_crossing


def test_strongest_elsewhere_skips_every_cell_whose_box_overlaps_the_target():
    resp = torch.zeros(20, 20)
    resp[10, 10] = 5.0      # the target
    resp[10, 13] = 4.0      # overlaps a 5 x 5 box on the target: not a distractor
    resp[3, 16] = 2.0       # clear of it
    assert strongest_elsewhere(resp, 10, 10, 5, 5) == (3, 16, 2.0)
    resp[10, 15] = 3.0      # |dc| = 5 >= wt: no overlap, and stronger
    assert strongest_elsewhere(resp, 10, 10, 5, 5) == (10, 15, 3.0)
    assert strongest_elsewhere(torch.ones(6, 6), 3, 3, 7, 7) is None


def test_distractor_model_learns_a_lookalike_and_subtracts_it_from_the_template():
    torch.manual_seed(0)
    c, f, ht, wt = 8, 24, 5, 5
    feats = 0.01 * torch.randn(1, c, f, f)
    target = torch.rand(c, ht, wt) + 0.5
    lookalike = target + 0.3 * torch.randn(c, ht, wt)
    feats[0, :, 4:9, 4:9] = target          # centred on cell (6, 6)
    feats[0, :, 14:19, 15:20] = lookalike   # centred on cell (16, 17)
    resp = correlate(feats, target)[0, 0]
    model = DistractorModel(weight=0.5, ratio=0.5, rate=0.1)
    assert model.apply(target) is target     # nothing learnt yet
    assert model.learn(feats, resp, 6, 6, ht, wt)
    torch.testing.assert_close(model.mean, lookalike)
    torch.testing.assert_close(model.apply(target), target - 0.5 * lookalike)
    # with it subtracted, the target wins by a larger margin (1.004 -> 1.098 here)
    resp2 = correlate(feats, model.apply(target))[0, 0]
    assert resp2[6, 6] / resp2[16, 17] > 1.05 * (resp[6, 6] / resp[16, 17])
    # the next one is blended in at the rate; one under the ratio is not taken
    second = target + 0.3 * torch.randn(c, ht, wt)
    feats[0, :, 14:19, 15:20] = second
    assert model.learn(feats, correlate(feats, target)[0, 0], 6, 6, ht, wt)
    torch.testing.assert_close(model.mean, 0.9 * lookalike + 0.1 * second)
    feats[0, :, 14:19, 15:20] = 0.1 * torch.rand(c, ht, wt)
    assert not model.learn(feats, correlate(feats, target)[0, 0], 6, 6, ht, wt)
    torch.testing.assert_close(model.mean, 0.9 * lookalike + 0.1 * second)
    strict = DistractorModel(weight=0.5, ratio=1.0, rate=0.1)
    assert not strict.learn(feats, resp, 6, 6, ht, wt) and strict.mean is None
    with pytest.raises(ValueError):
        DistractorModel(weight=0.5, ratio=0.0, rate=0.1)


def test_distractor_term_keeps_the_target_when_a_lookalike_passes_in_front(tracker_factory, lookalike_crossing):
    """A look-alike (the target mirrored, colours shifted) crosses the target.  Its score stays above
    conf_low, so confidence alone never notices, and robust without the distractor term follows it; with
    the term (learnt while the look-alike approached) the tracker stays on the target."""
    seq, after, without = lookalike_crossing   # robust: the term is off
    assert without[after].mean() < 0.2
    tracker = tracker_factory(**dict(robust_changes(), distractor_weight=0.5))
    ov = run_crossing(tracker, seq)
    assert tracker.state.distractors.found >= 1
    assert np.mean(ov[after]) > 0.7, ov
