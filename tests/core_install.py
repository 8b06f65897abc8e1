"""
Run by ``make core`` in a virtualenv holding ``pip install .`` alone: the package needs only torch,
stable-baselines3 (with sb3-contrib), gymnasium and numpy to train, save and load, and its command names the extra
it lacks.
"""

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

from sb3_pg import REINFORCE, OneStepAC, REINFORCEBaseline

EXTRAS = ("rl_zoo3", "optuna", "wandb", "mujoco", "Box2D", "ray")
extras = [name for name in EXTRAS if importlib.util.find_spec(name)]
assert not extras, f"pip install . installed {extras}, which only the extras should"
with tempfile.TemporaryDirectory() as folder:
    for algo in (REINFORCE, REINFORCEBaseline, OneStepAC):
        model = algo("MlpPolicy", "CartPole-v1", seed=0).learn(500)
        model.save(Path(folder) / "model")
        action, _ = algo.load(Path(folder) / "model").predict(model.observation_space.sample(), deterministic=True)
        print(f"{algo.__name__}: trained {model.num_timesteps} steps, saved, loaded, predicted action {action}")
command = Path(sys.executable).parent / "sb3-pg"
result = subprocess.run([str(command), "train"], capture_output=True, text=True)
assert result.returncode != 0 and result.stderr.strip().count("\n") == 0 and "sb3-pg[zoo]" in result.stderr, result
print(f"sb3-pg without the zoo extra: {result.stderr.strip()}")
