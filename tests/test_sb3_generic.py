"""
The checks of SB3's own test suite that any on-policy ``ActorCriticPolicy`` algorithm should pass
(tests/test_dict_env.py, test_train_eval_mode.py, test_spaces.py, test_callbacks.py, test_save_load.py),
in our own words, for the three sb3-pg algorithms.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import (
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

ALGOS = [REINFORCE, REINFORCEBaseline, OneStepAC]


def small(algo) -> dict:
    """Two-episode batches for the Monte Carlo methods."""
    return {} if algo is OneStepAC else {"n_episodes": 2}


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("vec_env_class", [DummyVecEnv, SubprocVecEnv])
@pytest.mark.parametrize("channel_last", [True, False])
def test_dict_observations_with_frame_stacking(algo, vec_env_class, channel_last):
    """Image and vector observations in a Dict, in subprocesses too, with VecFrameStack (SB3's test_dict_env)."""
    env = make_vec_env(
        lambda: SimpleMultiObsEnv(random_start=True, channel_last=channel_last),
        n_envs=2,
        seed=0,
        vec_env_cls=vec_env_class,
    )
    env = VecFrameStack(env, n_stack=2)
    try:
        model = algo("MultiInputPolicy", env, seed=0, policy_kwargs={"net_arch": [16]}, **small(algo))
        model.learn(250)
        single = SimpleMultiObsEnv(channel_last=channel_last).observation_space
        for key in ("img", "vec"):  # two frames of each
            assert np.prod(model.observation_space[key].shape) == 2 * np.prod(single[key].shape)
        evaluate_policy(model, env, n_eval_episodes=2, warn=False)
    finally:
        env.close()


class BatchNormDropoutExtractor(BaseFeaturesExtractor):
    """Flatten, BatchNorm, Dropout: both behave differently in training and in evaluation mode."""

    def __init__(self, observation_space: spaces.Box):
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))
        self.flatten = th.nn.Flatten()
        self.batch_norm = th.nn.BatchNorm1d(self._features_dim)
        self.dropout = th.nn.Dropout(0.5)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.dropout(self.batch_norm(self.flatten(observations)))


def batch_norm_state(model) -> list[th.Tensor]:
    """Bias and running mean of every BatchNorm layer (actor's and critic's extractors)."""
    layers = [m for m in model.policy.modules() if isinstance(m, th.nn.BatchNorm1d)]
    return [t.detach().clone() for layer in layers for t in (layer.bias, layer.running_mean)]


@pytest.mark.parametrize("algo", ALGOS)
def test_train_and_eval_modes_with_batch_norm_and_dropout(algo):
    """
    Training updates BatchNorm's weights and statistics; prediction runs in evaluation mode: deterministic
    (no dropout) and leaving the statistics alone (SB3's test_train_eval_mode).
    """
    env = make_vec_env("CartPole-v1", n_envs=2, seed=1)  # OneStepAC's BatchNorm needs two samples per update
    policy_kwargs = {"net_arch": [16], "features_extractor_class": BatchNormDropoutExtractor}
    model = algo("MlpPolicy", env, seed=1, policy_kwargs=policy_kwargs, **small(algo))
    before = batch_norm_state(model)
    model.learn(300)
    after = batch_norm_state(model)
    for a, b in zip(before, after, strict=True):
        assert not th.allclose(a, b)

    observation = env.reset()
    first, _ = model.predict(observation, deterministic=True)
    for _ in range(5):
        np.testing.assert_array_equal(model.predict(observation, deterministic=True)[0], first)
    for a, b in zip(after, batch_norm_state(model), strict=True):
        th.testing.assert_close(a, b)
    # The rollouts ran in evaluation mode too: every module is back in it after collecting
    model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer, n_rollout_steps=1)
    assert not any(module.training for module in model.policy.modules())


class ObservationSpaceEnv(gym.Env):
    """Random observations of the given space, two actions, 10-step episodes, reward for action 1."""

    action_space = spaces.Discrete(2)

    def __init__(self, observation_space: spaces.Space):
        self.observation_space = observation_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), False, self.t == 10, {}


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "observation_space",
    [spaces.Discrete(4), spaces.MultiDiscrete([3, 2]), spaces.MultiBinary(3), spaces.MultiBinary([2, 2])],
    ids=["Discrete", "MultiDiscrete", "MultiBinary", "MultiBinary2d"],
)
def test_observation_spaces(algo, observation_space):
    """SB3 one-hot encodes discrete observations; the buffers store them in the spaces' shapes (test_spaces)."""
    env = make_vec_env(lambda: ObservationSpaceEnv(observation_space), n_envs=2, seed=0)
    model = algo("MlpPolicy", env, seed=0, **small(algo)).learn(200)
    stored = model.rollout_buffer.observations  # in the space's shape, not one-hot encoded
    assert stored.shape[-len(observation_space.shape or (1,)) :] == (observation_space.shape or (1,))
    obs = observation_space.sample()
    action, _ = model.predict(obs, deterministic=True)
    # predict() one-hot encodes the observation as training does: its action is the mode of the policy's logits
    with th.no_grad():
        logits = model.policy.get_distribution(model.policy.obs_to_tensor(obs)[0]).distribution.logits
    assert action.item() == logits.argmax().item()


@pytest.mark.parametrize("algo", ALGOS)
def test_sb3_callbacks(algo, tmp_path):
    """SB3's own callbacks: evaluation with best-model saving, checkpoints, stopping after N episodes."""
    eval_callback = EvalCallback(
        make_vec_env("CartPole-v1", seed=5),
        eval_freq=100,
        n_eval_episodes=2,
        best_model_save_path=str(tmp_path),
        log_path=str(tmp_path),
        verbose=0,
    )
    checkpoints = CheckpointCallback(save_freq=200, save_path=str(tmp_path / "checkpoints"))
    stop = StopTrainingOnMaxEpisodes(max_episodes=12)
    model = algo("MlpPolicy", "CartPole-v1", seed=0, **small(algo))
    model.learn(100_000, callback=CallbackList([eval_callback, checkpoints, stop]))
    assert model.num_timesteps < 100_000  # stopped by StopTrainingOnMaxEpisodes
    assert len(eval_callback.evaluations_results) >= 1
    assert (tmp_path / "best_model.zip").exists()
    assert list((tmp_path / "checkpoints").glob("rl_model_*_steps.zip"))
    algo.load(tmp_path / "best_model.zip")


@pytest.mark.parametrize("algo", ALGOS)
def test_continue_training_after_load_with_another_env(algo, tmp_path):
    """Save, load with a new env of the same spaces, go on counting timesteps (test_save_load's set_env)."""
    model = algo("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), seed=0, **small(algo)).learn(300)
    steps = model.num_timesteps
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", env=make_vec_env("CartPole-v1", n_envs=2, seed=1))
    assert loaded.num_timesteps == steps
    loaded.learn(300, reset_num_timesteps=False)
    assert loaded.num_timesteps >= steps + 300
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        loaded.set_env(make_vec_env("Pendulum-v1", n_envs=2))
