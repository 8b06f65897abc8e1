from sb3_pg.onestep_ac.onestep_ac import OneStepAC
from sb3_pg.onestep_ac.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "OneStepAC"]
