"""Models saved by sb3-pg 0.1 (commit fc79fcb, before the episode-batch base) load and predict as they did."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

DATA = Path(__file__).parent / "data"
SAVED = json.loads((DATA / "saved_models.json").read_text())
CLASSES = {
    "reinforce_cartpole": (REINFORCE, "CartPole-v1"),
    "reinforce_baseline_pendulum": (REINFORCEBaseline, "Pendulum-v1"),
    "onestep_ac_cartpole": (OneStepAC, "CartPole-v1"),
}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_model_saved_by_0_1_loads_and_predicts_identically(name):
    expected = SAVED[name]
    algo, env_id = CLASSES[name]
    model = algo.load(DATA / f"{name}.zip", device="cpu")
    observations = np.array(expected["observations"], dtype=np.float32)
    actions, _ = model.predict(observations, deterministic=True)
    np.testing.assert_array_equal(actions, np.array(expected["actions"], dtype=actions.dtype))
    with th.no_grad():
        values = model.policy.predict_values(model.policy.obs_to_tensor(observations)[0]).numpy().ravel()
    np.testing.assert_array_equal(values, np.array(expected["values"], dtype=np.float32))
    assert model.num_timesteps == expected["num_timesteps"]
    # it reports what a model of this release reports, nothing that 0.1 kept and this class does not use
    assert set(vars(model)) == set(vars(algo("MlpPolicy", env_id)))
    # and it trains on, the critic at its own learning rate where there is one
    updates = model._n_updates
    model.set_env(gym.make(env_id))
    model.learn(300, reset_num_timesteps=False)
    assert model._n_updates == updates + 300 if algo is OneStepAC else model._n_updates > updates
    groups = model.policy.optimizer.param_groups
    assert [group["lr"] for group in groups] == [model.learning_rate, model.critic_learning_rate][: len(groups)]
    assert len(groups) == (2 if model.has_critic else 1)
