# The value head is the TD(0) critic V(s); actor and critic have separate features extractors by default
from sb3_pg.common.policies import (
    SeparateActorCriticCnnPolicy,
    SeparateActorCriticPolicy,
    SeparateMultiInputActorCriticPolicy,
)

MlpPolicy = SeparateActorCriticPolicy
CnnPolicy = SeparateActorCriticCnnPolicy
MultiInputPolicy = SeparateMultiInputActorCriticPolicy
