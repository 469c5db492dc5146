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


def test_finetune_section_is_validated_and_optional_in_stored_configs():
    from m3po_learning.config import FinetuneConfig, config_from_dict
    from m3po_learning.config_upgrade import upgrade_stored_config

    assert Config().finetune == FinetuneConfig()
    assert (Config().finetune.steps, Config().finetune.holdout_frac) == (500, 0.2)
    c = load_config(None, ["finetune.steps=7", "finetune.policy_every=0"])
    assert (c.finetune.steps, c.finetune.policy_every) == (7, 0)
    with pytest.raises(ConfigError, match=r"finetune\.holdout_frac=1\.0"):
        load_config(None, ["finetune.holdout_frac=1.0"])
    with pytest.raises(ConfigError, match=r"unknown config key 'finetune\.stepz'"):
        load_config(None, ["finetune.stepz=1"])
    stored = Config().to_dict()
    del stored["finetune"]  # written before the section existed
    assert config_from_dict(upgrade_stored_config(stored)).finetune == FinetuneConfig()


def test_values_are_applied_last_without_a_yaml_round_trip(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  tasks: [arm2/reach]\n  robots: []\n")
    odd = "/tmp/my arm, v2 [test]: #1/robot.urdf:reach"  # YAML would mangle it
    c = load_config(f, ["train.tasks=[pendulum/swingup]"], {"train": {"robots": [odd]}})
    assert c.train.robots == (odd,) and c.train.tasks == ("pendulum/swingup",)
    c = load_config(f, ["train.tasks=[]"], {"train": {"tasks": ["a/b"]}})
    assert c.train.tasks == ("a/b",)  # validated once, after all layers: no empty-tasks error
    with pytest.raises(ConfigError, match="train.tasks and train.robots are empty"):
        load_config(f, [], {"train": {"tasks": []}})


def test_yaml_file_errors_name_the_file_and_the_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown keys \['train\.stepz'\]; known in"):
        load_config(f)
    f.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping, got list"):
        load_config(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
