import sb3_pg.envs  # noqa: F401  (registers the sb3_pg/ environments with gymnasium)
from sb3_pg.onestep_ac import OneStepAC
from sb3_pg.reinforce import REINFORCE
from sb3_pg.reinforce_baseline import REINFORCEBaseline

__version__ = "0.1.0"

__all__ = ["REINFORCE", "OneStepAC", "REINFORCEBaseline", "__version__"]
