"""The SB3 API: action spaces, policies, save/load, predict, VecNormalize, callbacks, seeding, bad input."""

import csv
import os
import warnings
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import stable_baselines3
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.logger import HumanOutputFormat, TensorBoardOutputFormat, configure
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnvWrapper, VecNormalize

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline
from sb3_pg.common.episodic import DEFAULT_MAX_EPISODE_STEPS, episode_step_limit
from sb3_pg.diagnostics import collect_episodes

ALGOS = [REINFORCE, REINFORCEBaseline, OneStepAC]


class BoxEnv2x2(gym.Env):
    """Actions in a (2, 2) Box: SB3 reshapes actions to the space's shape before clipping them (checked here)."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        assert action.shape == (2, 2) and np.abs(action).max() <= 1.0
        self.t += 1
        return np.zeros(1, dtype=np.float32), -float(np.abs(action).mean()), False, self.t == 20, {}


class BatchNormExtractor(BaseFeaturesExtractor):
    """Flatten, then BatchNorm: statistics in training mode, running averages in eval mode."""

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))
        self.flatten = th.nn.Flatten()
        self.batch_norm = th.nn.BatchNorm1d(self._features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.batch_norm(self.flatten(observations))


def make(algo, env, **kwargs):
    """A model with small batches: two episodes per update for the Monte Carlo methods."""
    if algo is not OneStepAC:
        kwargs.setdefault("n_episodes", 2)
    return algo("MlpPolicy", env, seed=kwargs.pop("seed", 0), **kwargs)


def parameters(model) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in model.policy.parameters()]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "env_fn",
    [
        lambda: IdentityEnv(dim=3, ep_length=20),
        lambda: IdentityEnvBox(ep_length=20),
        lambda: IdentityEnvMultiDiscrete(dim=2, ep_length=20),
        lambda: IdentityEnvMultiBinary(dim=3, ep_length=20),
    ],
    ids=["Discrete", "Box", "MultiDiscrete", "MultiBinary"],
)
def test_every_action_space_trains(algo, env_fn):
    model = make(algo, make_vec_env(env_fn, n_envs=2, seed=0))
    actor, critic = (group["params"] for group in model.policy.optimizer.param_groups)
    before = {id(p): p.detach().clone() for p in model.policy.parameters()}
    model.learn(300)
    assert model.num_timesteps >= 300
    assert all(not th.equal(before[id(p)], p) for p in actor)
    critic_moved = [not th.equal(before[id(p)], p) for p in critic]
    # REINFORCE has no critic: its policy's value head is never trained
    assert all(critic_moved) if algo is not REINFORCE else not any(critic_moved)
    assert all(np.isfinite(p).all() for p in parameters(model))


@pytest.mark.parametrize(
    "env_fn",
    [
        lambda: IdentityEnv(dim=5),
        lambda: IdentityEnvBox(),
        lambda: IdentityEnvMultiDiscrete(dim=3),
        lambda: IdentityEnvMultiBinary(dim=3),
        BoxEnv2x2,
    ],
    ids=["Discrete", "Box", "MultiDiscrete", "MultiBinary", "Box2x2"],
)
@pytest.mark.parametrize("share_features_extractor", [True, False])
def test_one_action_path_equal_to_sb3s(env_fn, share_features_extractor):
    """
    Sampling (rollouts, forward, predict), log-probabilities, entropies and values of our policies are those of
    SB3's own ActorCriticPolicy with the same weights, and so are their gradients, for every action space.
    """
    env = make_vec_env(env_fn, n_envs=4, seed=0)
    policy_kwargs = {"log_std_init": 0.5, "share_features_extractor": share_features_extractor}
    model = make(REINFORCEBaseline, env, policy_kwargs=policy_kwargs)
    ours = model.policy
    sb3 = ActorCriticPolicy(model.observation_space, model.action_space, lambda _: 1e-3, **policy_kwargs)
    sb3.load_state_dict(ours.state_dict())
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(4)]))
    with th.no_grad():
        ours.action_net.weight.mul_(30)  # far from uniform: a wrong category order would show
        sb3.action_net.weight.mul_(30)
        th.manual_seed(3)
        expected = th.cat([sb3.get_distribution(obs).get_actions() for _ in range(50)])
        th.manual_seed(3)
        drawn = np.concatenate([model._sample_actions(obs.numpy())[0] for _ in range(50)])
        for deterministic in (False, True):
            outputs = []
            for policy in (ours, sb3):
                th.manual_seed(5)
                outputs.append(policy.forward(obs, deterministic))
            for a, b in zip(*outputs, strict=True):
                th.testing.assert_close(a, b)
    np.testing.assert_array_equal(drawn, expected.numpy().reshape(drawn.shape))
    assert len(np.unique(drawn)) > 1  # actually random
    # evaluate_actions (OneStepAC's train) and get_distribution (REINFORCE's): values, log-probabilities, entropy
    actions = th.as_tensor(np.stack([model.action_space.sample() for _ in range(4)])).float().reshape(4, -1)
    actions = model._buffer_actions(actions)  # as train() scores them
    results = []
    for policy in (ours, sb3):
        values, log_prob, entropy = policy.evaluate_actions(obs, actions)
        distribution = policy.get_distribution(obs)
        outputs = (values, log_prob, entropy, distribution.log_prob(actions), distribution.entropy())
        loss = sum(t.sum() for t in outputs)
        results.append((outputs, th.autograd.grad(loss, list(policy.parameters()), allow_unused=True)))
    (ours_out, ours_grads), (sb3_out, sb3_grads) = results
    for a, b in zip(ours_out, sb3_out, strict=True):
        th.testing.assert_close(a, b)
    for a, b in zip(ours_grads, sb3_grads, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            th.testing.assert_close(a, b)


class RecordActions(gym.Wrapper):
    """Keeps every action the env receives."""

    def __init__(self, env: gym.Env, record: list):
        super().__init__(env)
        self.record = record

    def step(self, action):
        self.record.append(np.array(action))
        return self.env.step(action)


@pytest.mark.parametrize("algo", ALGOS)
def test_box_actions_reach_the_env_clipped(algo):
    """A wide Gaussian draws outside [-1, 1]: the env gets the clipped action, the update the raw draw."""
    sent: list[np.ndarray] = []
    env = make_vec_env(lambda: RecordActions(IdentityEnvBox(ep_length=20), sent), n_envs=2, seed=0)
    model = make(algo, env, policy_kwargs={"log_std_init": 1.0})
    model.learn(100)
    sent_actions = np.concatenate(sent)
    assert np.abs(sent_actions).max() <= 1.0
    assert np.isclose(np.abs(sent_actions), 1.0).any()  # some draws were clipped
    if algo is OneStepAC:
        return  # SB3's own rollout loop, as in A2C
    obs = np.stack([model.observation_space.sample() for _ in range(64)])
    stored, stepped = model._sample_actions(obs)  # the log-probabilities are of the raw draws
    assert np.abs(stored).max() > 1.0
    assert np.array_equal(stepped, np.clip(stored, -1.0, 1.0))
    # the variance measurement plays its episodes the same way
    sent.clear()
    steps = collect_episodes(model, make_vec_env(lambda: RecordActions(IdentityEnvBox(ep_length=20), sent)), 3)
    assert np.abs(steps.actions).max() > 1.0
    assert np.array_equal(np.stack(sent), np.clip(steps.actions, -1.0, 1.0))


@pytest.mark.parametrize("algo", ALGOS)
def test_multi_input_and_cnn_policies(algo):
    batch = {} if algo is OneStepAC else {"n_episodes": 1}
    algo("MultiInputPolicy", make_vec_env(SimpleMultiObsEnv, n_envs=2, seed=0), seed=0, **batch).learn(150)
    image_env = make_vec_env(lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), seed=0)
    cnn = {"features_extractor_kwargs": {"features_dim": 16}}
    model = algo("CnnPolicy", image_env, policy_kwargs=cnn, **batch)
    before = parameters(model)
    model.learn(55)
    # FakeImageEnv's episodes are 10 steps: one batch of one episode per update, or one update per step
    assert (model.num_timesteps, model._n_updates) == ((55, 55) if algo is OneStepAC else (60, 6))
    assert model.rollout_buffer.observations.shape[-3:] == (1, 36, 36)  # images stored channel-first
    # FakeImageEnv's rewards are all 0: REINFORCE's standardised returns are 0 and its policy stays; the others
    # learn from their critic's errors
    moved = [not np.array_equal(a, b) for a, b in zip(before, parameters(model), strict=True)]
    assert any(moved) == (algo is not REINFORCE)


@pytest.mark.parametrize("algo", ALGOS)
def test_save_load_round_trip(algo, tmp_path):
    model = make(algo, "CartPole-v1", gamma=0.95).learn(500)
    obs = np.stack([model.observation_space.sample() for _ in range(32)])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")

    loaded = algo.load(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    for a, b in zip(parameters(model), parameters(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.gamma == 0.95
    assert len(loaded.policy.optimizer.param_groups) == len(model.policy.optimizer.param_groups)
    # The optimizer state came back too: training goes on from where it was
    loaded.set_env(make_vec_env("CartPole-v1", seed=1))
    loaded.learn(200, reset_num_timesteps=False)
    assert loaded.num_timesteps > model.num_timesteps


@pytest.mark.parametrize("algo", ALGOS)
def test_predict(algo):
    model = algo("MlpPolicy", "CartPole-v1", seed=0)
    obs = np.stack([model.observation_space.sample() for _ in range(256)])
    deterministic = model.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], deterministic)
    # A fresh policy is near uniform: sampling disagrees with the mode on many states
    stochastic = model.predict(obs, deterministic=False)[0]
    assert 0.2 < np.mean(stochastic != deterministic) < 0.8
    single, _ = model.predict(obs[0])
    assert single.shape == ()
    # A reset()'s (obs, info) tuple gets SB3's own error, as with A2C
    with pytest.raises(ValueError, match="mixing Gym API"):
        model.predict(gym.make("CartPole-v1").reset())
    with pytest.raises(ValueError, match="mixing Gym API"):
        stable_baselines3.A2C("MlpPolicy", "CartPole-v1").predict(gym.make("CartPole-v1").reset())


@pytest.mark.parametrize("algo", ALGOS)
def test_inputs_sb3_accepts(algo, tmp_path):
    """Any path SB3 takes for a log folder or a file, and numpy scalars for numbers and flags."""
    model = algo("MlpPolicy", "CartPole-v1", tensorboard_log=tmp_path / "tb", gamma=np.float32(0.9), seed=0)
    model.learn(300)
    assert list((tmp_path / "tb").iterdir())  # a run folder was written
    model.save(tmp_path / "model")
    assert algo.load(os.fspath(tmp_path / "model.zip")).gamma == pytest.approx(0.9)


@pytest.mark.parametrize("algo", ALGOS)
def test_seeding_is_reproducible(algo):
    runs = [parameters(make(algo, "CartPole-v1", seed=3).learn(1000)) for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    other = parameters(make(algo, "CartPole-v1", seed=4).learn(1000))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], other, strict=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_vec_normalize(algo):
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), gamma=0.9)
    model = make(algo, env, gamma=0.9).learn(1000)
    assert env.obs_rms.count > 1000  # statistics were updated from every step
    # The policy was trained on normalised observations and rewards
    batch = next(model.rollout_buffer.get())
    assert np.abs(batch.observations.numpy()).max() <= env.clip_obs
    assert abs(batch.observations.numpy().mean()) < 1.0


class CountingCallback(BaseCallback):
    def __init__(self, stop_after: int | None = None):
        super().__init__()
        self.steps = self.rollout_starts = self.rollout_ends = 0
        self.stop_after = stop_after

    def _on_rollout_start(self) -> None:
        self.rollout_starts += 1

    def _on_rollout_end(self) -> None:
        self.rollout_ends += 1

    def _on_step(self) -> bool:
        self.steps += 1
        return self.stop_after is None or self.steps < self.stop_after


@pytest.mark.parametrize("algo", ALGOS)
def test_callbacks_fire(algo):
    callback = CountingCallback()
    model = make(algo, make_vec_env("CartPole-v1", n_envs=2, seed=0))
    model.learn(600, callback=callback)
    assert callback.steps == model.num_timesteps // 2
    assert callback.rollout_starts == callback.rollout_ends == model._n_updates > 1

    stopper = CountingCallback(stop_after=5)
    model = make(algo, "CartPole-v1").learn(10_000, callback=stopper)
    assert model.num_timesteps == 5
    # Stopped within the first batch; OneStepAC had updated after each of the first 4 steps
    assert model._n_updates == (4 if algo is OneStepAC else 0)


def test_separate_learning_rates():
    model = REINFORCEBaseline("MlpPolicy", "CartPole-v1", learning_rate=1e-3, critic_learning_rate=5e-3, seed=0)
    actor, critic = model.policy.optimizer.param_groups
    assert (actor["lr"], critic["lr"]) == (1e-3, 5e-3)
    critic_ids = {id(p) for p in critic["params"]}
    assert {id(p) for p in model.policy.value_net.parameters()} <= critic_ids
    assert not {id(p) for p in model.policy.action_net.parameters()} & critic_ids
    assert len(actor["params"]) + len(critic["params"]) == len(list(model.policy.parameters()))
    model.learn(600)
    assert (actor["lr"], critic["lr"]) == (1e-3, 5e-3)


class RecordLearningRates(BaseCallback):
    def __init__(self):
        super().__init__()
        self.seen: list[tuple[float, ...]] = []

    def _on_rollout_start(self) -> None:
        lrs = [group["lr"] for group in self.model.policy.optimizer.param_groups]
        self.seen.append((self.model._current_progress_remaining, *lrs))

    def _on_step(self) -> bool:
        return True


@pytest.mark.parametrize("algo", [REINFORCEBaseline, OneStepAC])
def test_learning_rate_schedules_drive_both_groups(algo):
    model = make(algo, "CartPole-v1", learning_rate=lambda p: 1e-3 * p, critic_learning_rate=lambda p: 4e-3 * p)
    callback = RecordLearningRates()
    model.learn(1000, callback=callback)
    # From the second batch on, the rates are those the last train() set from the progress at that time
    assert len(callback.seen) > 2
    for progress, actor_lr, critic_lr in callback.seen[1:]:
        assert 0 <= progress < 1
        assert (actor_lr, critic_lr) == (pytest.approx(1e-3 * progress), pytest.approx(4e-3 * progress))
    # The last batch overshoots 1000 steps: progress stops at 0, never a negative learning rate
    assert model._current_progress_remaining == 0
    assert [group["lr"] for group in model.policy.optimizer.param_groups] == [0.0, 0.0]


def test_actor_loss_leaves_the_critic_alone():
    """REINFORCE trains no critic; REINFORCEBaseline's critic moves only by its regression."""
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_episodes=2, seed=0)
    value_head = model.policy.value_net.weight.detach().clone()
    model.learn(500)
    th.testing.assert_close(model.policy.value_net.weight, value_head)

    model = REINFORCEBaseline("MlpPolicy", "CartPole-v1", n_episodes=2, critic_learning_rate=0.0, seed=0)
    value_head = model.policy.value_net.weight.detach().clone()
    action_head = model.policy.action_net.weight.detach().clone()
    model.learn(500)
    th.testing.assert_close(model.policy.value_net.weight, value_head)
    assert not th.allclose(model.policy.action_net.weight, action_head)


LOGGED = {
    REINFORCE: ["rollout/batch_episodes", "rollout/batch_steps", "train/return_mean", "train/policy_loss"],
    REINFORCEBaseline: ["rollout/batch_episodes", "train/policy_loss", "train/value_loss", "train/explained_variance"],
    OneStepAC: ["train/td_error_mean", "train/value_loss", "train/policy_loss"],
}


@pytest.mark.parametrize("algo", ALGOS)
def test_logged_keys(algo, tmp_path):
    model = make(algo, "CartPole-v1")
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(1000, log_interval=100 if algo is OneStepAC else 1)
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    columns = set(rows[0])
    expected = {"rollout/ep_rew_mean", "train/entropy_loss", "train/learning_rate", *LOGGED[algo]}
    assert expected <= columns
    if algo is REINFORCE:
        assert not {"train/value_loss", "train/critic_learning_rate"} & columns  # no critic, no value loss
    else:
        assert "train/critic_learning_rate" in columns
        assert all(np.isfinite(float(row["train/value_loss"])) for row in rows if row["train/value_loss"])


class TupleActionEnv(gym.Env):
    observation_space = spaces.Box(-1, 1, (2,))
    action_space = spaces.Tuple([spaces.Discrete(2), spaces.Discrete(2)])


class TupleObsEnv(gym.Env):
    observation_space = spaces.Tuple([spaces.Discrete(2), spaces.Discrete(2)])
    action_space = spaces.Discrete(2)


@pytest.mark.parametrize(
    "algo, kwargs, error, name",
    [
        (REINFORCE, dict(n_episodes=0), ValueError, "n_episodes"),
        (REINFORCE, dict(n_episodes=-3), ValueError, "n_episodes"),
        (REINFORCE, dict(n_episodes=2.5), TypeError, "n_episodes"),
        (REINFORCE, dict(min_batch_steps=0), ValueError, "min_batch_steps"),
        (REINFORCE, dict(n_episodes=None, min_batch_steps=None), ValueError, "n_episodes"),
        (REINFORCE, dict(gamma=0.0), ValueError, "gamma"),
        (REINFORCE, dict(gamma=1.01), ValueError, "gamma"),
        (REINFORCE, dict(learning_rate=-1e-3), ValueError, "learning_rate"),
        (REINFORCE, dict(learning_rate=lambda _: -1.0), ValueError, "learning_rate"),
        (REINFORCE, dict(learning_rate=float("nan")), ValueError, "learning_rate"),
        (REINFORCE, dict(ent_coef=-0.01), ValueError, "ent_coef"),
        (REINFORCE, dict(max_grad_norm=0.0), ValueError, "max_grad_norm"),
        (REINFORCEBaseline, dict(critic_learning_rate=-1.0), ValueError, "critic_learning_rate"),
        (REINFORCEBaseline, dict(n_critic_steps=0), ValueError, "n_critic_steps"),
        (REINFORCEBaseline, dict(n_critic_steps=10**12), ValueError, "n_critic_steps"),  # learn() would never return
        (OneStepAC, dict(critic_learning_rate=-1e-3), ValueError, "critic_learning_rate"),
        (OneStepAC, dict(gamma=1.5), ValueError, "gamma"),
        (OneStepAC, dict(max_grad_norm=-1.0), ValueError, "max_grad_norm"),
        (OneStepAC, dict(ent_coef=float("inf")), ValueError, "ent_coef"),
        # None is no learning rate: the critic would silently train at the actor's
        (OneStepAC, dict(critic_learning_rate=None), TypeError, "critic_learning_rate"),
        (REINFORCEBaseline, dict(critic_learning_rate=None), TypeError, "critic_learning_rate"),
        # A bool is no number, and a number or a string is no flag
        (REINFORCE, dict(gamma=True), TypeError, "gamma"),
        (REINFORCE, dict(n_episodes=True), TypeError, "n_episodes"),
        (REINFORCE, dict(reward_to_go="yes"), TypeError, "reward_to_go"),
        (REINFORCE, dict(normalize_advantage=3), TypeError, "normalize_advantage"),
        (REINFORCE, dict(batch_size=0), ValueError, "batch_size"),
        (REINFORCE, dict(max_episode_steps=0), ValueError, "max_episode_steps"),
        (REINFORCE, dict(rollout_buffer_class=RolloutBuffer), TypeError, "rollout_buffer_class"),
        (REINFORCEBaseline, dict(bootstrap_truncated="no"), TypeError, "bootstrap_truncated"),
        (REINFORCEBaseline, dict(normalize_advantage=1), TypeError, "normalize_advantage"),
        (OneStepAC, dict(discount_state_weighting=0), TypeError, "discount_state_weighting"),
        (OneStepAC, dict(rollout_buffer_class=RolloutBuffer), TypeError, "rollout_buffer_class"),
        # SB3's own parameters, which SB3 would take and fail on (or ignore) later
        (REINFORCE, dict(stats_window_size=-1), ValueError, "stats_window_size"),
        (OneStepAC, dict(verbose="0.1"), TypeError, "verbose"),
        (REINFORCEBaseline, dict(tensorboard_log=5), TypeError, "tensorboard_log"),
        (OneStepAC, dict(sde_sample_freq="4"), TypeError, "sde_sample_freq"),
    ],
)
def test_bad_hyperparameters(algo, kwargs, error, name):
    with pytest.raises(error, match=name):
        algo("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("algo", ALGOS)
def test_unsupported_spaces(algo):
    with pytest.raises(TypeError, match="action_space"):
        algo("MlpPolicy", TupleActionEnv())
    with pytest.raises(TypeError, match="observation_space"):
        algo("MlpPolicy", TupleObsEnv())


class WrongShapeEnv(gym.Env):
    """Promises observations of shape (4,) and returns (3,)."""

    observation_space = spaces.Box(-1, 1, (4,))
    action_space = spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(3, dtype=np.float32), 1.0, True, False, {}


class StackingVecEnv(VecEnvWrapper):
    """A VecEnv that stacks what its envs return, as SubprocVecEnv does, without fitting it to the space."""

    def reset(self):
        return self.venv.reset()[:, :3]

    def step_wait(self):
        obs, *rest = self.venv.step_wait()
        return obs[:, :3], *rest


@pytest.mark.parametrize("algo", ALGOS)
def test_a_non_env_and_observations_of_the_wrong_shape_are_named(algo):
    for not_an_env in (object(), 42):
        with pytest.raises(TypeError, match="env must be a Gymnasium env, a VecEnv or a registered env id"):
            algo("MlpPolicy", not_an_env)
    with pytest.raises(ValueError, match=r"reset\(\) returned an observation that does not fit its observation_space"):
        algo("MlpPolicy", WrongShapeEnv()).learn(100)
    with pytest.raises(ValueError, match=r"reset\(\) returned observations of shape \(3,\).*has shape \(4,\)"):
        algo("MlpPolicy", StackingVecEnv(make_vec_env("CartPole-v1", n_envs=2))).learn(100)


@pytest.mark.parametrize("algo", ALGOS)
def test_numpy_scalars_are_numbers(algo):
    """As SB3's PPO does, numpy scalars are accepted wherever a number is (and stored as Python numbers)."""
    kwargs = dict(gamma=np.float32(0.9), learning_rate=np.float64(1e-3), ent_coef=np.float32(0.01))
    if algo is not OneStepAC:
        kwargs.update(n_episodes=np.int64(4), min_batch_steps=np.int32(10))
    if algo is not REINFORCE:
        kwargs.update(critic_learning_rate=np.float32(1e-3))
    model = algo("MlpPolicy", "CartPole-v1", **kwargs)
    assert type(model.gamma) is float and model.gamma == pytest.approx(0.9)
    if algo is not OneStepAC:
        assert type(model.n_episodes) is int and model.n_episodes == 4
    model.learn(200)


@pytest.mark.parametrize("algo", ALGOS)
def test_buffers_are_sb3s(algo):
    assert isinstance(make(algo, "CartPole-v1").rollout_buffer, RolloutBuffer)
    dict_model = algo("MultiInputPolicy", SimpleMultiObsEnv(random_start=False))
    assert isinstance(dict_model.rollout_buffer, DictRolloutBuffer)

    # rollout_buffer_kwargs reach the buffer, as in A2C/PPO
    class FlaggedBuffer(algo.buffer_classes[0]):
        def __init__(self, *args, flag: bool = False, **kwargs):
            self.flag = flag
            super().__init__(*args, **kwargs)

    model = make(algo, "CartPole-v1", rollout_buffer_class=FlaggedBuffer, rollout_buffer_kwargs={"flag": True})
    assert model.rollout_buffer.flag is True
    # The algorithm's options are its own arguments only, as SB3's gamma is: one source of truth
    option = "discount_state_weighting" if algo is OneStepAC else "reward_to_go"
    with pytest.raises(TypeError, match=option):
        make(algo, "CartPole-v1", rollout_buffer_kwargs={option: False})


@pytest.mark.parametrize("algo", ALGOS)
def test_multidimensional_box_actions(algo):
    """A (2, 2) Box: actions are reshaped to the space's shape before being clipped (BoxEnv2x2 checks both)."""
    model = make(algo, make_vec_env(BoxEnv2x2, n_envs=2, seed=0), policy_kwargs={"log_std_init": 1.0})
    model.learn(200)
    action, _ = model.predict(model.observation_space.sample())
    assert action.shape == (2, 2)


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_minibatches_make_the_same_update(algo):
    """batch_size splits the gradient computation, not the update: one step on the whole batch's mean loss."""
    models = []
    for size in (None, 7):
        model = make(algo, "CartPole-v1", n_episodes=3, batch_size=size)
        models.append(model)
        model._setup_learn(10_000)
        model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer)
        model.train()
    assert models[0].rollout_buffer.in_batch.sum() > 7  # several minibatches
    for a, b in zip(parameters(models[0]), parameters(models[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("algo", ALGOS)
def test_saved_models_hold_no_batch(algo, tmp_path):
    """A saved model holds parameters and settings, not the last update's samples."""
    model = make(algo, "CartPole-v1").learn(300)
    model.save(tmp_path / "model")
    data = zipfile.ZipFile(tmp_path / "model.zip").read("data").decode()
    assert "_whole_batch" not in data and 'rollout_buffer"' not in data
    assert (tmp_path / "model.zip").stat().st_size < 200_000


@pytest.mark.parametrize("algo", [REINFORCEBaseline, OneStepAC])
def test_load_with_the_policy_kwargs_given_to_the_constructor(algo, tmp_path):
    policy_kwargs = {"net_arch": [16]}
    make(algo, "CartPole-v1", policy_kwargs=policy_kwargs).save(tmp_path / "model")
    model = algo.load(tmp_path / "model", policy_kwargs=policy_kwargs)
    assert model.policy.share_features_extractor is False  # the policy class's default, not an edited argument


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "policy, env_fn",
    [
        ("MlpPolicy", lambda: gym.make("CartPole-v1")),
        ("CnnPolicy", lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=True)),
        ("MultiInputPolicy", lambda: SimpleMultiObsEnv(random_start=False)),
    ],
    ids=["Mlp", "Cnn", "MultiInput"],
)
def test_policy_alone_round_trips(algo, policy, env_fn, tmp_path):
    """policy.save / type(policy).load gives back the same networks, separate extractors included."""
    env = make_vec_env(env_fn, n_envs=2, seed=0)
    model = algo(policy, env, seed=0, **({} if algo is OneStepAC else {"n_episodes": 2}))
    model.policy.save(tmp_path / "policy")
    loaded = type(model.policy).load(tmp_path / "policy")
    assert loaded.share_features_extractor == model.policy.share_features_extractor == (algo is REINFORCE)
    original = model.policy.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for key, value in loaded.state_dict().items():
        th.testing.assert_close(value, original[key], msg=key)
    obs = env.reset()
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_onestep_ac_batchnorm_needs_two_envs_to_train():
    """A BatchNorm policy with one env predicts and collects; its first update is refused, naming the cause."""
    policy_kwargs = {"features_extractor_class": BatchNormExtractor}
    model = OneStepAC("MlpPolicy", "CartPole-v1", policy_kwargs=policy_kwargs, seed=0)
    before = parameters(model)
    action, _ = model.predict(np.zeros(4, dtype=np.float32))
    assert model.action_space.contains(action)
    _, callback = model._setup_learn(10)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, 1)
    assert model.rollout_buffer.full
    with pytest.raises(ValueError, match=r"BatchNorm.*n_envs >= 2"):
        model.learn(50)
    assert model._n_updates == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, parameters(model), strict=True))
    model = OneStepAC("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), policy_kwargs=policy_kwargs).learn(50)
    assert model._n_updates == 25


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_episodes_that_never_end_are_an_error(algo):
    """Pendulum without its TimeLimit never ends: a clear error, not a batch that grows forever."""
    model = algo("MlpPolicy", gym.make("Pendulum-v1").unwrapped, max_episode_steps=300, n_episodes=1)
    with pytest.raises(RuntimeError, match=r"300 steps without ending.*TimeLimit"):
        model.learn(1000)
    assert model.rollout_buffer.pos == 300  # it stopped there


def test_episode_bound_comes_from_the_spec():
    assert episode_step_limit(make_vec_env("Pendulum-v1")) == 200
    assert episode_step_limit(make_vec_env(lambda: gym.make("Pendulum-v1").unwrapped)) == DEFAULT_MAX_EPISODE_STEPS


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_a_batch_larger_than_the_budget(algo):
    """As in SB3 (PPO's 2048-step rollout for learn(100)), learn() completes one batch at least, with a warning."""
    with pytest.warns(UserWarning, match=r"first batch took \d+ env steps.*total_timesteps=4 .*n_episodes=8"):
        model = algo("MlpPolicy", "CartPole-v1", seed=0).learn(4)
    assert model._n_updates == 1 and model.rollout_buffer.n_episodes == 8
    assert model.num_timesteps == model.rollout_buffer.in_batch.sum()  # one env: every step belongs to the batch
    with pytest.warns(UserWarning, match="min_batch_steps=500"):
        model = algo("MlpPolicy", "CartPole-v1", n_episodes=None, min_batch_steps=500, seed=0).learn(400)
    assert model._n_updates == 1 and model.rollout_buffer.in_batch.sum() >= 500
    # A batch that fits gives no warning, and a later learn() call's first batch is judged against its own budget
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.learn(2000, reset_num_timesteps=False)


@pytest.mark.parametrize("algo", [REINFORCE, REINFORCEBaseline])
def test_batch_size_is_capped(algo):
    """Memory is bounded by max_batch_steps, not by the budget: an impossible batch fails at once, naming it."""
    with pytest.raises(ValueError, match=r"n_episodes must be <= 1000000, got 1000000000"):
        algo("MlpPolicy", "CartPole-v1", n_episodes=10**9)
    with pytest.raises(ValueError, match=r"min_batch_steps must be <= 300"):
        algo("MlpPolicy", "CartPole-v1", n_episodes=None, min_batch_steps=500, max_batch_steps=300)
    model = algo("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), n_episodes=200, max_batch_steps=1000, seed=0)
    with pytest.raises(RuntimeError, match=r"batch has taken 1000 env steps.*max_batch_steps=1000"):
        model.learn(10_000)
    assert model.rollout_buffer.pos == 500 and model._n_updates == 0


class NaNObservationEnv(IdentityEnvBox):
    """The third observation of every episode is NaN."""

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return (np.full_like(obs, np.nan) if self.current_step == 3 else obs), reward, terminated, truncated, info


@pytest.mark.parametrize("algo", ALGOS)
def test_nan_observation_is_named(algo):
    model = make(algo, make_vec_env(NaNObservationEnv, n_envs=2))
    with pytest.raises(ValueError, match="non-finite observation"):
        model.learn(100)
    with pytest.raises(ValueError, match=r"predict\(\) was given a non-finite observation"):
        model.predict(np.array([np.nan], dtype=np.float32))


@pytest.mark.parametrize(
    ("algo", "kwargs"),
    [
        (REINFORCE, {"learning_rate": 100.0, "n_episodes": 2}),  # one Adam step of 100 on the log std: std inf
        (OneStepAC, {"learning_rate": 1.0, "critic_learning_rate": 1.0}),  # NaN losses after ~1700 updates
    ],
)
def test_divergence_is_named_before_the_env_sees_it(algo, kwargs):
    """Weights gone to NaN or inf are the update's fault: named as such, and no NaN action reaches the env."""
    sent: list[np.ndarray] = []
    env = make_vec_env(lambda: RecordActions(gym.make("Pendulum-v1"), sent), seed=0)
    model = algo("MlpPolicy", env, seed=0, **kwargs)
    with pytest.raises(RuntimeError, match=r"training diverged (at|after) update \d+: .*\(learning_rate=") as error:
        model.learn(20_000)
    assert "environment" not in str(error.value).split("(")[0]
    assert np.isfinite(np.stack(sent)).all()


class HugeRewardEnv(IdentityEnvBox):
    """Finite rewards whose return overflows float32 (the buffer's dtype)."""

    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, 3e38, terminated, truncated, info


def test_a_non_finite_loss_stops_the_update_before_its_step():
    model = REINFORCE("MlpPolicy", make_vec_env(lambda: HugeRewardEnv(ep_length=4)), normalize_advantage=False, seed=0)
    before = parameters(model)
    with pytest.raises(RuntimeError, match=r"diverged at update 1: the policy loss is -?(inf|nan), its gradient"):
        model.learn(100)
    assert all(np.array_equal(a, b) for a, b in zip(before, parameters(model), strict=True))  # no step taken


@pytest.mark.parametrize("algo", ALGOS)
def test_set_logger(algo, tmp_path, monkeypatch):
    """SB3's test_set_logger (tests/test_logger.py), with its tiny budgets: learn(4) runs and logs as A2C's does."""
    new_logger = configure(str(tmp_path), ["csv"])
    model = algo("MlpPolicy", "CartPole-v1", verbose=0).learn(4)
    assert model.logger.output_formats == []
    model = algo("MlpPolicy", "CartPole-v1", verbose=0, tensorboard_log=str(tmp_path)).learn(4)
    assert str(tmp_path) in model.logger.dir
    assert isinstance(model.logger.output_formats[0], TensorBoardOutputFormat)
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path / "new_tmp"))
    model = algo("MlpPolicy", "CartPole-v1", verbose=0).learn(4)
    assert model.logger.dir == str(tmp_path / "new_tmp")
    model = algo("MlpPolicy", "CartPole-v1", verbose=1, tensorboard_log=str(tmp_path)).learn(4)
    assert [type(f) for f in model.logger.output_formats] == [HumanOutputFormat, TensorBoardOutputFormat]
    model.learn(32)
    model.set_logger(new_logger)
    assert model.logger is new_logger
    model.learn(32)
    assert model.logger.output_formats == new_logger.output_formats


def test_load_says_which_algorithm_saved_the_file(tmp_path):
    """Another library's model, another of our algorithms', or no model at all."""
    from stable_baselines3 import A2C

    A2C("MlpPolicy", "CartPole-v1").save(tmp_path / "a2c")
    REINFORCE("MlpPolicy", "CartPole-v1").save(tmp_path / "reinforce")
    with pytest.raises(ValueError, match=r"saved by another library's algorithm .* not by sb3-pg's REINFORCE"):
        REINFORCE.load(tmp_path / "a2c.zip")
    with pytest.raises(ValueError, match="saved by REINFORCE, not by REINFORCEBaseline"):
        REINFORCEBaseline.load(tmp_path / "reinforce.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.zip is not a model file that REINFORCE can load"):
        REINFORCE.load(tmp_path / "junk.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("other.txt", "")
    with pytest.raises(ValueError, match="holds no saved model data"):
        REINFORCE.load(tmp_path / "empty.zip")
    with open(tmp_path / "reinforce.zip", "rb") as file:  # a file object is read twice: checked, then loaded
        assert REINFORCE.load(file).n_episodes == REINFORCE("MlpPolicy", "CartPole-v1").n_episodes
