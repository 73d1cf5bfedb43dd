"""ImaginationEnv with a small fake world-model stepper implementing the ModelStepper API."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import pytest
import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from rwm_tasks.envs.divergence import state_bounds_from_data
from rwm_tasks.envs.imagination import ImaginationEnv
from rwm_tasks.layout import ANYMAL_D, GO2
from rwm_tasks.envs.mdp import TaskSpec, TerminationTermSpec

M = 4  # history length of the fake windows


@dataclass
class FakeOutput:
    next_state: torch.Tensor
    mean: torch.Tensor
    ensemble_mean: torch.Tensor
    std: torch.Tensor
    contact_prob: torch.Tensor
    termination_prob: torch.Tensor
    extension: torch.Tensor
    epistemic: torch.Tensor
    aleatoric: torch.Tensor


class FakeStepper:
    """Deterministic toy dynamics with the ModelStepper API; knobs to force terminations and divergence."""

    def __init__(self, layout, num_envs, num_heads=5, seed=0):
        self.layout, self.E, self.B = layout, num_envs, num_heads
        self.gen = torch.Generator().manual_seed(seed)
        self.heads = torch.zeros(num_envs, dtype=torch.long)
        self.warm = torch.zeros(num_envs, layout.state_dim)  # "hidden state": mean of the warm-up window
        self.t = torch.zeros(num_envs, dtype=torch.long)
        self.reset_calls: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.step_inputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.force_termination = torch.zeros(num_envs, dtype=torch.bool)
        self.force_nan = torch.zeros(num_envs, dtype=torch.bool)
        self.force_far = torch.zeros(num_envs, dtype=torch.bool)

    def _output(self, state, heads, t):
        n, L = state.shape[0], self.layout
        feet = (torch.arange(4)[None, :] + t[:, None]) % 4 < 2  # trotting-like alternating contacts
        contact_prob = torch.cat([torch.full((n, 4), 0.05), torch.where(feet, 0.95, 0.05)], dim=1)
        u = 0.1 * (heads.float() + 1.0)
        return FakeOutput(
            next_state=state, mean=state, ensemble_mean=state, std=torch.full_like(state, 0.01),
            contact_prob=contact_prob, termination_prob=torch.full((n,), 0.01),
            extension=torch.full((n, L.extension_dim), 0.35), epistemic=u, aleatoric=torch.full((n,), 0.02),
        )  # fmt: skip

    def reset(self, env_ids, states, actions, heads=None):
        self.reset_calls.append((env_ids.clone(), states.clone(), actions.clone()))
        new_heads = torch.randint(0, self.B, (len(env_ids),), generator=self.gen) if heads is None else heads
        self.heads[env_ids] = new_heads
        self.warm[env_ids] = states.mean(dim=1)
        self.t[env_ids] = 0
        return self._output(states[:, -1] * 0.9, new_heads, self.t[env_ids])

    def step(self, states, actions):
        self.step_inputs.append((states.clone(), actions.clone()))
        sl = self.layout.state_slices
        nxt = 0.9 * states + 0.1 * self.warm
        nxt[:, sl["joint_vel"]] += 0.1 * actions
        nxt[:, sl["projected_gravity"]] = torch.tensor([0.0, 0.0, -1.0])
        self.t += 1
        out = self._output(nxt, self.heads, self.t)
        out.termination_prob = torch.where(self.force_termination, 0.99, out.termination_prob)
        out.next_state = torch.where(self.force_nan[:, None], torch.nan, out.next_state)
        out.next_state = torch.where(self.force_far[:, None], 1e6, out.next_state)
        self.last_out = out
        return out


def make_history(layout, seed=0):
    gen = torch.Generator().manual_seed(seed)
    calls = []

    def sample_history(n):
        states = torch.randn(n, M, layout.state_dim, generator=gen) * 0.1
        states[..., layout.state_slices["projected_gravity"]] = torch.tensor([0.0, 0.0, -1.0])
        actions = torch.randn(n, M, layout.action_dim, generator=gen)
        calls.append(n)
        return states, actions

    sample_history.calls = calls
    return sample_history


@pytest.fixture(scope="module")
def go2_spec():
    from isaaclab_tasks.core.velocity.config.go2.flat_env_cfg import UnitreeGo2FlatEnvCfg

    return TaskSpec.from_env_cfg(UnitreeGo2FlatEnvCfg(), task="Isaac-Velocity-Flat-UnitreeGo2")


@pytest.fixture(scope="module")
def anymal_spec():
    from isaaclab_tasks.core.velocity.config.anymal_d.flat_env_cfg import AnymalDFlatEnvCfg

    return TaskSpec.from_env_cfg(AnymalDFlatEnvCfg(), task="Isaac-Velocity-Flat-AnymalD")


def make_env(spec, layout=GO2, num_envs=16, **kw):
    stepper = FakeStepper(layout, num_envs)
    env = ImaginationEnv(spec, layout, stepper, make_history(layout), num_envs, device="cpu", **kw)
    return env, stepper


def no_noise(spec):
    spec = TaskSpec.from_dict(spec.to_dict())
    spec.observations["policy"].enable_corruption = False
    return spec


# ---------------------------------------------------------------------------------------------------------
# VecEnv contract and observations
# ---------------------------------------------------------------------------------------------------------


def test_vecenv_contract(go2_spec):
    env, _ = make_env(go2_spec, max_episode_length=50)
    assert isinstance(env, VecEnv)
    assert env.num_envs == 16 and env.num_actions == 12 and env.max_episode_length == 50
    assert env.episode_length_buf.shape == (16,) and env.device == torch.device("cpu")
    assert isinstance(env.cfg, dict) and env.cfg["task_spec"]["task"] == go2_spec.task
    obs = env.get_observations()
    assert isinstance(obs, TensorDict) and list(obs.keys()) == ["policy"] and obs["policy"].shape == (16, 48)
    obs, rew, dones, extras = env.step(torch.zeros(16, 12))
    assert rew.shape == (16,) and rew.dtype == torch.float32 and torch.isfinite(rew).all()
    assert dones.shape == (16,) and extras["time_outs"].shape == (16,)
    assert isinstance(extras["log"], dict) and all("/" in k for k in extras["log"])
    # outputs are usable outside inference mode
    obs["policy"].add_(1.0)
    (obs["policy"] * torch.ones(1, requires_grad=True)).sum().backward()


def test_observation_order_and_values(go2_spec):
    env, _ = make_env(no_noise(go2_spec))
    action = torch.randn(16, 12)
    obs, *_ = env.step(action)
    sl = GO2.state_slices
    s = env.state
    expected = torch.cat(
        [s[:, sl["base_lin_vel"]], s[:, sl["base_ang_vel"]], s[:, sl["projected_gravity"]], env.command.command,
         s[:, sl["joint_pos"]], s[:, sl["joint_vel"]], action], dim=1,
    )  # fmt: skip
    assert torch.equal(obs["policy"], expected)


def test_observation_noise_clip_scale_and_critic(go2_spec):
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    terms = {t.name: t for t in spec.observations["policy"].terms}
    terms["joint_vel"].scale = 0.05
    terms["joint_vel"].clip = [-0.01, 0.02]  # applied before the scale, as in Isaac Lab
    critic = dataclasses.replace(spec.observations["policy"], name="critic", enable_corruption=False)
    critic.terms = [dataclasses.replace(t) for t in critic.terms[:3]]
    spec.observations["critic"] = critic
    env, _ = make_env(spec)
    obs = env.get_observations()
    assert obs["critic"].shape == (16, 9)
    sl = GO2.state_slices
    clean = env.state[:, sl["base_lin_vel"]]
    noisy = obs["policy"][:, :3]
    assert (noisy - clean).abs().max() <= 0.1 + 1e-6 and not torch.equal(noisy, clean)  # uniform +-0.1
    assert torch.equal(obs["critic"][:, :3], clean)  # critic group without corruption
    jv = obs["policy"][:, 24:36]
    assert jv.min() >= -0.01 * 0.05 - 1e-9 and jv.max() <= 0.02 * 0.05 + 1e-9


def test_unknown_observation_is_refused(go2_spec):
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    spec.observations["policy"].terms[0].func = "height_scan"
    with pytest.raises(ValueError, match="height_scan"):
        make_env(spec)


# ---------------------------------------------------------------------------------------------------------
# Rewards and the uncertainty penalty
# ---------------------------------------------------------------------------------------------------------


def test_penalty_sign_and_logging(go2_spec):
    action = torch.randn(16, 12, generator=torch.Generator().manual_seed(1))
    env0, st0 = make_env(go2_spec, uncertainty_penalty=0.0)
    env2, st2 = make_env(go2_spec, uncertainty_penalty=2.0)
    _, r0, _, ex0 = env0.step(action)
    _, r2, _, ex2 = env2.step(action)
    u = env2.uncertainty
    assert torch.equal(st0.heads, st2.heads) and (u > 0).all()
    assert torch.allclose(r2, r0 - 2.0 * u * env2.dt)  # penalised = raw - lambda * u * dt
    assert (r2 < r0).all()
    log = ex2["log"]
    assert log["Imagination/reward_raw"].item() == pytest.approx(ex0["log"]["Imagination/reward_raw"].item())
    assert log["Imagination/uncertainty"].item() == pytest.approx(u.mean().item())
    assert log["Imagination/penalty"].item() == pytest.approx(2.0 * u.mean().item() * env2.dt)
    assert log["Imagination/reward"].item() == pytest.approx(r2.mean().item())
    assert ex0["log"]["Imagination/penalty"].item() == 0.0


def test_uncertainty_below_the_reference_costs_nothing(go2_spec):
    action = torch.randn(16, 12, generator=torch.Generator().manual_seed(2))
    env0, _ = make_env(go2_spec, uncertainty_penalty=0.0)
    env, _ = make_env(go2_spec, uncertainty_penalty=2.0, uncertainty_reference=0.3)
    _, r0, _, _ = env0.step(action)
    _, r, _, _ = env.step(action)
    u = env.uncertainty
    assert (u <= 0.3).any() and (u > 0.31).any()  # the fake heads' u spans 0.1 ... 0.5
    assert torch.allclose(r, r0 - 2.0 * (u - 0.3).clamp(min=0) * env.dt)
    assert torch.equal(r[u <= 0.3], r0[u <= 0.3]) and (r[u > 0.31] < r0[u > 0.31]).all()
    with pytest.raises(ValueError, match="uncertainty_reference"):
        make_env(go2_spec, uncertainty_reference=-1.0)


def test_every_reward_term_is_used_with_its_weight(go2_spec):
    env, _ = make_env(go2_spec)
    _, rew, _, extras = env.step(torch.randn(16, 12))
    log = extras["log"]
    per_term = [log[f"Imagination/reward_term/{t.name}"] for t in go2_spec.rewards]
    assert len(per_term) == len(go2_spec.rewards)
    assert sum(per_term).item() == pytest.approx(log["Imagination/reward_raw"].item(), rel=1e-5)
    # base height 0.35 from the fake extension head vs target 0.4: -30 * 0.05^2 * dt per env
    assert log["Imagination/reward_term/base_height_l2"].item() == pytest.approx(-30 * 0.05**2 * 0.02, rel=1e-4)


def test_negative_lambda_is_refused(go2_spec):
    with pytest.raises(ValueError, match="lambda"):
        make_env(go2_spec, uncertainty_penalty=-0.1)


def test_reward_term_that_cannot_be_reconstructed_is_refused(go2_spec):
    with pytest.raises(ValueError, match="base_height_l2"):
        make_env(go2_spec, layout=dataclasses.replace(GO2, extension_groups=()))


def test_anymal_runs(anymal_spec):
    env, _ = make_env(anymal_spec, layout=ANYMAL_D, uncertainty_penalty=1.0)
    for _ in range(3):
        _, rew, _, extras = env.step(torch.randn(16, 12))
    assert torch.isfinite(rew).all() and "Imagination/reward_term/undesired_contacts" in extras["log"]


# ---------------------------------------------------------------------------------------------------------
# Terminations, time-outs, resets, divergence
# ---------------------------------------------------------------------------------------------------------


def test_terminations_and_resets_redraw_heads(go2_spec):
    env, st = make_env(go2_spec)
    for _ in range(3):
        env.step(torch.zeros(16, 12))
    assert (env.episode_length_buf == 3).all()
    st.force_termination[[2, 5]] = True
    calls_before = len(st.reset_calls)
    torch.manual_seed(0)
    _, rew, dones, extras = env.step(torch.zeros(16, 12))
    assert dones.nonzero().flatten().tolist() == [2, 5]
    assert not extras["time_outs"].any()
    assert extras["log"]["Episode_Termination/base_contact"].item() == 2
    assert "Episode_Reward/track_lin_vel_xy_exp" in extras["log"]
    ids, states, actions = st.reset_calls[calls_before]
    assert ids.tolist() == [2, 5] and states.shape == (2, M, GO2.state_dim)
    # re-warmed on the new window; last action is the window's last action; timers and length reset
    assert torch.allclose(st.warm[[2, 5]], states.mean(dim=1))
    assert torch.equal(env.last_action[[2, 5]], actions[:, -1])
    assert env.episode_length_buf[[2, 5]].eq(0).all() and env.episode_length_buf[0] == 4
    assert env.air_time.current_contact_time[[2, 5]].eq(0).all()
    assert torch.allclose(env.state[[2, 5]], states[:, -1] * 0.9)


def test_heads_are_redrawn(go2_spec):
    env, st = make_env(go2_spec, num_envs=64, max_episode_length=2)
    before = st.heads.clone()
    env.step(torch.zeros(64, 12))
    env.step(torch.zeros(64, 12))
    assert len(st.reset_calls) == 2 and not torch.equal(before, st.heads)


def test_time_outs(go2_spec):
    env, st = make_env(go2_spec, max_episode_length=3)
    for i in range(3):
        _, _, dones, extras = env.step(torch.zeros(16, 12))
        assert dones.all() == (i == 2) and extras["time_outs"].all() == (i == 2)
    assert extras["log"]["Episode_Termination/time_out"].item() == 16
    assert (env.episode_length_buf == 0).all()


def test_divergence_resets_and_is_counted(go2_spec):
    lo, hi = state_bounds_from_data(torch.randn(100, GO2.state_dim) * 0.1, margin=10.0)
    lo[GO2.state_slices["projected_gravity"]] = -2.0
    hi[GO2.state_slices["projected_gravity"]] = 2.0
    env, st = make_env(go2_spec, state_bounds=(lo, hi), uncertainty_penalty=1.0)
    env.step(torch.zeros(16, 12))
    st.force_nan[3] = True
    st.force_far[7] = True
    obs, rew, dones, extras = env.step(torch.zeros(16, 12))
    st.force_nan[:] = False
    st.force_far[:] = False
    assert dones.nonzero().flatten().tolist() == [3, 7] and extras["time_outs"][[3, 7]].all()
    assert torch.isfinite(rew).all() and rew[3] == 0 and rew[7] == 0
    assert torch.isfinite(obs["policy"]).all() and torch.isfinite(env.state).all()
    assert extras["log"]["Imagination/diverged"].item() == 2 and env.num_diverged_total == 2
    assert extras["log"]["Episode_Termination/diverged"].item() == 2
    _, rew, dones, _ = env.step(torch.zeros(16, 12))
    assert torch.isfinite(rew).all() and not dones.any()


def test_extra_termination_terms(go2_spec):
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    spec.terminations.append(TerminationTermSpec("bad_orientation", "bad_orientation", {"limit_angle": 1.0}))
    spec.terminations.append(TerminationTermSpec("low", "root_height_below_minimum", {"minimum_height": 0.2}))
    env, st = make_env(spec)
    st.step = _tilting(st, st.step, GO2)
    _, _, dones, extras = env.step(torch.zeros(16, 12))
    assert dones[:4].all() and not dones[4:].any() and not extras["time_outs"].any()
    assert extras["log"]["Episode_Termination/bad_orientation"].item() == 2
    assert extras["log"]["Episode_Termination/low"].item() == 2
    spec.reward("base_height_l2").weight = 0.0  # (its own check would fire first)
    with pytest.raises(ValueError, match="'low'.*base_height"):
        make_env(spec, layout=dataclasses.replace(GO2, extension_groups=()))


def test_fall_tilt_replaces_the_tasks_tilt_limit_in_imagination(go2_spec):
    """A 0.6 rad tilt ends an imagined episode at fall_tilt 0.5, not at the task's 1.0; bad values refused."""
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    spec.terminations.append(TerminationTermSpec("bad_orientation", "bad_orientation", {"limit_angle": 1.0}))
    tilt = torch.tensor([-math.sin(0.6), 0.0, -math.cos(0.6)])
    counts = []
    for fall_tilt in (None, 0.5):
        env, st = make_env(spec, fall_tilt=fall_tilt)
        step = st.step

        def tilted(states, actions, step=step):
            out = step(states, actions)
            out.next_state[:3, GO2.state_slices["projected_gravity"]] = tilt
            return out

        st.step = tilted
        _, _, dones, extras = env.step(torch.zeros(16, 12))
        counts.append((dones[:3].sum().item(), int(extras["log"].get("Episode_Termination/bad_orientation", 0))))
        assert env.cfg["fall_tilt"] == fall_tilt and not dones[3:].any()
    assert counts == [(0, 0), (3, 3)]
    assert spec.terminations[-1].params["limit_angle"] == 1.0  # the task spec itself is unchanged
    with pytest.raises(ValueError, match="fall_tilt"):
        make_env(spec, fall_tilt=4.0)


def _tilting(stepper, step, layout):
    """Wrap a fake step: envs 0-1 tip over (gravity along x), envs 2-3 sink below 0.2 m."""

    def tilted(states, actions):
        out = step(states, actions)
        out.next_state[:2, layout.state_slices["projected_gravity"]] = torch.tensor([-1.0, 0.0, 0.0])
        out.extension[2:4] = 0.1
        return out

    return tilted


# ---------------------------------------------------------------------------------------------------------
# Commands and air time
# ---------------------------------------------------------------------------------------------------------


def test_heading_and_standing_commands(go2_spec):
    env, _ = make_env(go2_spec, num_envs=512)
    env.step(torch.zeros(512, 12))
    c = go2_spec.command
    cmd = env.command  # the velocity-command term (same attribute as the MuJoCo executor's)
    heading = cmd.is_heading_env & ~cmd.is_standing_env
    err = torch.remainder(cmd.heading_target - env.yaw + math.pi, 2 * math.pi) - math.pi
    expected = torch.clip(c.heading_control_stiffness * err, *c.ang_vel_z)
    assert heading.any() and torch.allclose(cmd.command[heading, 2], expected[heading], atol=1e-6)
    assert cmd.command[cmd.is_standing_env].eq(0).all()
    frac = cmd.is_standing_env.float().mean().item()
    assert 0.0 <= frac < 0.1  # 2 % standing envs


def test_commands_resample_on_time(go2_spec):
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    spec.command.resampling_time_range = [0.06, 0.06]  # 3 steps
    spec.command.heading_command = False
    env, _ = make_env(spec)
    first = env.command.command.clone()
    env.step(torch.zeros(16, 12))
    env.step(torch.zeros(16, 12))
    assert torch.equal(env.command.command, first)
    env.step(torch.zeros(16, 12))
    assert not torch.equal(env.command.command, first)


def test_yaw_integrates_vertical_angular_velocity(go2_spec):
    env, _ = make_env(no_noise(go2_spec), num_envs=4)
    sl = GO2.state_slices
    with torch.inference_mode():  # env buffers live in inference mode
        env.state[:, sl["base_ang_vel"]] = torch.tensor([0.0, 0.0, 0.5])
        env.state[:, sl["projected_gravity"]] = torch.tensor([0.0, 0.0, -1.0])
        yaw0 = env.yaw.clone()
        env._integrate_yaw()
    assert torch.allclose(env.yaw, torch.remainder(yaw0 + 0.01 + math.pi, 2 * math.pi) - math.pi)


def test_feet_air_time_from_predicted_contacts(go2_spec):
    env, _ = make_env(go2_spec)
    for _ in range(6):
        env.step(torch.zeros(16, 12))
    # fake contacts: each foot 2 steps down, 2 steps up -> touchdowns store 2 airborne steps + dt = 0.06 s
    feet = env.air_time.last_air_time[:, 4:]
    assert torch.allclose(feet[feet > 0], torch.tensor(0.06))
    assert env.air_time.last_air_time[:, :4].eq(0).all()  # thighs never touch


def test_pushes_change_base_velocity(go2_spec):
    spec = TaskSpec.from_dict(go2_spec.to_dict())
    spec.push.interval_range_s = [0.02, 0.02]  # push every step
    env, st = make_env(spec, enable_pushes=True)
    env.step(torch.zeros(16, 12))
    predicted = st.last_out.next_state
    delta = env.state - predicted
    assert delta[:, :2].abs().gt(0).all() and delta[:, :2].norm(dim=1).le(math.sqrt(0.5) + 1e-6).all()
    assert delta[:, 2:].eq(0).all()  # only the xy base velocity is pushed
    env_off, st_off = make_env(spec, enable_pushes=False)
    env_off.step(torch.zeros(16, 12))
    assert torch.equal(env_off.state, st_off.last_out.next_state)


def test_with_the_real_model_stepper(anymal_spec):
    """API check against the world model's ModelStepper (tiny untrained model, random windows)."""
    model_mod = pytest.importorskip("rwm_tasks.world_model.model")
    stepper_mod = pytest.importorskip("rwm_tasks.world_model.stepper")
    cfg = model_mod.WorldModelConfig.from_layout(ANYMAL_D, hidden_dim=16, num_layers=1, head_hidden_dims=(16,))
    stepper = stepper_mod.ModelStepper(model_mod.EnsembleWorldModel(cfg), 8, generator=torch.Generator().manual_seed(0))
    env = ImaginationEnv(anymal_spec, ANYMAL_D, stepper, make_history(ANYMAL_D), 8, max_episode_length=2,
                         uncertainty_penalty=1.0)  # fmt: skip
    for _ in range(3):
        obs, rew, dones, extras = env.step(torch.zeros(8, 12))
    assert obs["policy"].shape == (8, 48) and torch.isfinite(rew).all() and extras["time_outs"].shape == (8,)


# ---------------------------------------------------------------------------------------------------------
# Stock OnPolicyRunner
# ---------------------------------------------------------------------------------------------------------


def test_on_policy_runner_smoke(go2_spec, tmp_path):
    from rsl_rl.runners import OnPolicyRunner

    env, st = make_env(go2_spec, num_envs=32, max_episode_length=10, uncertainty_penalty=1.0)
    mlp = {"class_name": "MLPModel", "hidden_dims": [16], "activation": "elu", "obs_normalization": False}
    train_cfg = {
        "class_name": "OnPolicyRunner",
        "num_steps_per_env": 8,
        "save_interval": 50,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "check_for_nan": True,
        "multi_gpu": None,
        "logger": "tensorboard",
        "actor": {**mlp, "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": {**mlp, "distribution_cfg": None},
        "algorithm": {
            "class_name": "PPO", "learning_rate": 1e-3, "num_learning_epochs": 1, "num_mini_batches": 2,
            "clip_param": 0.2, "gamma": 0.99, "lam": 0.95, "value_loss_coef": 1.0, "entropy_coef": 0.01,
            "max_grad_norm": 1.0, "use_clipped_value_loss": True, "schedule": "adaptive", "desired_kl": 0.01,
            "rnd_cfg": None, "symmetry_cfg": None,
        },
    }  # fmt: skip
    runner = OnPolicyRunner(env, train_cfg, log_dir=str(tmp_path), device="cpu")
    runner.learn(num_learning_iterations=2, init_at_random_ep_len=True)
    assert len(st.step_inputs) == 16 and any(p.name.startswith("model_") for p in tmp_path.iterdir())
