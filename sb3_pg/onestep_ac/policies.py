# The value head is the TD(0) critic V(s): the policies of REINFORCEBaseline, with separate actor and critic
# features extractors by default
from sb3_pg.reinforce_baseline.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
