import pytest

from m3po_learning.config import MODEL_PRESETS, Config, ConfigError, load_config


def test_defaults_are_the_documented_method():
    c = Config()
    assert (c.planner.horizon, c.planner.num_samples, c.planner.iterations) == (3, 512, 6)
    assert (c.planner.num_elites, c.planner.num_pi_trajs, c.planner.temperature) == (64, 24, 0.5)
    assert (c.optim.consistency_coef, c.optim.reward_coef, c.optim.value_coef) == (20, 0.1, 0.1)
    assert c.policy.actor == "trust_region" and c.policy.target_kl == 0.1
    assert c.planner.final_action == "elite" and c.explore.planner == "gap"
    assert (c.model.num_enc_layers, c.model.out_norm, c.model.init) == (1, True, "trunc_normal")


def test_dotted_overrides_and_presets(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  preset: 5M\ntrain:\n  steps: 123\n")
    c = load_config(
        f, ["planner.num_samples=256", "train.tasks=[a/b, c/d]", "optim.amp_bf16=true"]
    )
    assert c.model.latent_dim == MODEL_PRESETS["5M"]["latent_dim"] and c.model.num_q == 5
    assert c.train.steps == 123 and c.planner.num_samples == 256
    assert c.train.tasks == ("a/b", "c/d") and c.optim.amp_bf16 is True


def test_inherit(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  steps: 7\n  seed: 3\n")
    (tmp_path / "child.yaml").write_text("inherit: base.yaml\ntrain:\n  seed: 4\n")
    c = load_config(tmp_path / "child.yaml")
    assert (c.train.steps, c.train.seed) == (7, 4)


@pytest.mark.parametrize(
    "override, message",
    [
        ("planner.num_sample=3", "unknown config key 'planner.num_sample'"),
        ("planner.num_samples=abc", "planner.num_samples"),
        ("planner.temperature=-1", "planner.temperature=-1"),
        ("model.latent_dim=100", "model.latent_dim=100"),
        ("train.device=tpu", "train.device='tpu'"),
        ("nonsense", "not KEY=VALUE"),
    ],
)
def test_bad_values_named(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_config(None, [override])


def test_unknown_yaml_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("trian:\n  steps: 3\n")
    with pytest.raises(ConfigError, match="trian"):
        load_config(f)


def test_shipped_configs_load():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "config" / "train"
    names = {p.stem for p in root.glob("*.yaml")}
    assert {
        "m3po",
        "no_bonus",
        "no_planner",
        "no_trust_region",
        "single_task",
        "ppo_baseline",
    } <= names
    for p in root.glob("*.yaml"):
        load_config(p)
    assert load_config(root / "ppo_baseline.yaml").model.world_model is False
    assert load_config(root / "no_bonus.yaml").explore.beta0 == 0.0
    assert load_config(root / "no_trust_region.yaml").policy.trust_region is False
