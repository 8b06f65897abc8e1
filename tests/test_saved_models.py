"""Models saved by this release load, predict as they did when saved, and train on (tests/data/make_saved_models.py)."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from tests.data.make_saved_models import MODELS, predictions

DATA = Path(__file__).parent / "data"
SAVED = json.loads((DATA / "saved_models.json").read_text())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_saved_model_loads_and_predicts_as_it_did(name):
    expected = SAVED[name]
    algo, env_id, _ = MODELS[name]
    model = algo.load(DATA / f"{name}.zip", device="cpu")
    got = predictions(model, np.array(expected["observations"], dtype=np.float32))
    # Another CPU's kernels may round the last bit differently: a one-ulp difference passes, a changed weight fails
    if isinstance(model.action_space, gym.spaces.Discrete):
        assert got["actions"] == expected["actions"]
    else:
        np.testing.assert_allclose(got["actions"], expected["actions"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["values"], expected["values"], rtol=1e-5, atol=1e-6)
    assert model.num_timesteps == expected["num_timesteps"]
    assert set(vars(model)) == set(vars(algo("MlpPolicy", env_id)))
    # and it trains on, each parameter group at its own learning rate
    updates = model._n_updates
    model.set_env(gym.make(env_id))
    model.learn(300, reset_num_timesteps=False)
    assert model._n_updates > updates
    rates = [group["lr"] for group in model.policy.optimizer.param_groups]
    assert rates[: len(model._learning_rates())] == list(model._learning_rates().values())
    assert all(th.isfinite(p).all() for p in model.policy.parameters())
