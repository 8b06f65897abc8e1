from sb3_pg.onestep_ac import OneStepAC
from sb3_pg.reinforce import REINFORCE
from sb3_pg.reinforce_baseline import REINFORCEBaseline

__version__ = "0.1.0"

__all__ = ["REINFORCE", "OneStepAC", "REINFORCEBaseline", "__version__"]
