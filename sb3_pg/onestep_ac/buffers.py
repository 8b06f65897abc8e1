from collections.abc import Generator

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.vec_env import VecNormalize

from sb3_pg.common.buffers import DiscountedRolloutBufferSamples
from sb3_pg.common.validation import check_finite_step


class OneStepRolloutBuffer(RolloutBuffer):
    """
    SB3's ``RolloutBuffer`` for one-step actor-critic: with ``gae_lambda=0`` SB3 computes the TD(0) error
    δ_t (``advantages``) and the target r_t + γV(s_{t+1}) (``returns``); this adds the factor I = γ^t of
    each step (``discounts``), which restarts with each episode of each env and runs on across rollouts, and
    refuses a non-finite observation or reward. Same parameters as SB3's ``RolloutBuffer``.
    """

    def reset(self) -> None:
        super().reset()
        self.discounts = np.ones((self.buffer_size, self.n_envs), dtype=np.float32)
        if not hasattr(self, "_discount"):
            self._discount = np.ones(self.n_envs, dtype=np.float32)

    def add(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: th.Tensor,
        log_prob: th.Tensor,
    ) -> None:
        check_finite_step(obs, np.asarray(reward))
        # I restarts at 1 with each episode and is multiplied by γ after every step
        self._discount = np.where(episode_start, 1.0, self.gamma * self._discount).astype(np.float32)
        self.discounts[self.pos] = self._discount
        super().add(obs, action, reward, episode_start, value, log_prob)  # type: ignore[arg-type]

    def get(self, batch_size: int | None = None) -> Generator[DiscountedRolloutBufferSamples, None, None]:  # type: ignore[override]
        if not self.generator_ready:
            self.discounts = self.swap_and_flatten(self.discounts)
        yield from super().get(batch_size)

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> DiscountedRolloutBufferSamples:
        samples = super()._get_samples(batch_inds, env)
        return DiscountedRolloutBufferSamples(*samples, discounts=self.to_torch(self.discounts[batch_inds].flatten()))


class DictOneStepRolloutBuffer(OneStepRolloutBuffer, DictRolloutBuffer):
    """:class:`OneStepRolloutBuffer` for ``Dict`` observations (SB3's ``DictRolloutBuffer``); same parameters."""
