# The value head is the learned baseline V(s); actor and critic have separate features extractors (and, in the
# recurrent policies, separate LSTMs) by default
from sb3_pg.common.policies import (
    SeparateActorCriticCnnPolicy,
    SeparateActorCriticPolicy,
    SeparateMultiInputActorCriticPolicy,
)
from sb3_pg.common.recurrent import (
    SeparateRecurrentActorCriticCnnPolicy,
    SeparateRecurrentActorCriticPolicy,
    SeparateRecurrentMultiInputActorCriticPolicy,
)

MlpPolicy = SeparateActorCriticPolicy
CnnPolicy = SeparateActorCriticCnnPolicy
MultiInputPolicy = SeparateMultiInputActorCriticPolicy
MlpLstmPolicy = SeparateRecurrentActorCriticPolicy
CnnLstmPolicy = SeparateRecurrentActorCriticCnnPolicy
MultiInputLstmPolicy = SeparateRecurrentMultiInputActorCriticPolicy
