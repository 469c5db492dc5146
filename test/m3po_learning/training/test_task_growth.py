"""Task growth: the grown agent keeps every weight and starts the new task from the nearest."""

import pytest
import torch

from m3po_learning.agent import M3POAgent
from m3po_learning.config import load_config
from m3po_learning.datasets import BagError
from m3po_learning.envs import make_env
from m3po_learning.training.task_growth import add_task


@pytest.fixture(scope="module")
def agent():
    cfg = load_config(None, ["model.preset=tiny", "train.tasks=[pendulum/swingup,arm2/reach]"])
    specs = [make_env(t).spec for t in ("pendulum/swingup", "arm2/reach")]
    return M3POAgent(cfg, specs, device="cpu")


def test_new_task_copies_weights_and_the_same_robots_embedding(agent):
    grown, nearest = add_task(agent, "arm2/track")
    assert grown is not agent and nearest == "arm2/reach"  # no data: first task of the robot
    assert grown.tasks == ["pendulum/swingup", "arm2/reach", "arm2/track"]
    assert grown.cfg.train.tasks[-1] == "arm2/track"
    emb, old = grown.model.task_emb.weight, agent.model.task_emb.weight
    assert torch.equal(emb[:2], old) and torch.equal(emb[2], old[1])
    sd_old, sd_new = agent.model.state_dict(), grown.model.state_dict()
    for k, v in sd_old.items():
        if (
            k not in ("task_emb.weight", "action_masks", "discounts")
            and sd_new[k].shape == v.shape
        ):
            assert torch.equal(sd_new[k], v), k
    assert agent.tasks == ["pendulum/swingup", "arm2/reach"]  # the original is untouched


def test_known_task_is_a_no_op_and_misfits_are_refused(agent):
    assert add_task(agent, "arm2/reach") == (agent, None)
    with pytest.raises(BagError, match="cannot add task 'nope/task'"):
        add_task(agent, "nope/task")
    with pytest.raises(BagError, match="padded sizes"):
        add_task(agent, "arm7/reach")  # 7 joints do not fit the 2-joint padding
