"""
Writes the saved models of tests/test_saved_models.py: one small seeded model per algorithm, and what it predicts
for a few observations. Run it (``python tests/data/make_saved_models.py``) when a change is meant to change what a
saved model holds or predicts, and say so in the change.
"""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

DATA = Path(__file__).parent
MODELS = {
    "reinforce_cartpole": (REINFORCE, "CartPole-v1", 600),
    "reinforce_baseline_pendulum": (REINFORCEBaseline, "Pendulum-v1", 800),
    "onestep_ac_cartpole": (OneStepAC, "CartPole-v1", 600),
}


def predictions(model, observations: np.ndarray) -> dict:
    actions, _ = model.predict(observations, deterministic=True)
    with th.no_grad():
        values = model.policy.predict_values(model.policy.obs_to_tensor(observations)[0]).numpy().ravel()
    return {"actions": actions.tolist(), "values": values.tolist()}


def main() -> None:
    th.set_num_threads(1)
    expected = {}
    for name, (algo, env_id, steps) in MODELS.items():
        model = algo("MlpPolicy", env_id, seed=0, device="cpu").learn(steps)
        model.save(DATA / f"{name}.zip")
        space = gym.make(env_id).observation_space
        space.seed(1)
        observations = np.stack([space.sample() for _ in range(5)])
        expected[name] = {
            "observations": observations.tolist(),
            **predictions(model, observations),
            "num_timesteps": model.num_timesteps,
        }
    (DATA / "saved_models.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
