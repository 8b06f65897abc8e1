from sb3_pg.reinforce.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from sb3_pg.reinforce.reinforce import REINFORCE

__all__ = ["REINFORCE", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
