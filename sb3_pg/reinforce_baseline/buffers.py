import numpy as np
import torch as th

from sb3_pg.common import estimators
from sb3_pg.common.buffers import DictEpisodeRolloutBuffer, EpisodeRolloutBuffer


class BaselineEpisodeRolloutBuffer(EpisodeRolloutBuffer):
    """
    :class:`~sb3_pg.common.buffers.EpisodeRolloutBuffer` with a learned baseline: the advantages are Φ_t − V(s_t)
    (``gae_lambda=1``) or GAE(λ) within each episode (``gae_lambda < 1``, Schulman et al., 2016), from the values
    V(s_t) that the algorithm sets (:meth:`set_batch_values`) before computing them. Same parameters as
    SB3's ``RolloutBuffer``.
    """

    def set_batch_values(self, values: np.ndarray) -> None:
        """Set V(s_t) of the batch's steps (in the order of :meth:`batch_observations`), before the returns."""
        self.values[: self.pos][self.in_batch[: self.pos]] = values

    def compute_returns_and_advantage(
        self, last_values: th.Tensor | None, dones: np.ndarray, reward_to_go: bool = True
    ) -> None:
        """
        The Monte Carlo returns of :class:`~sb3_pg.common.buffers.EpisodeRolloutBuffer`, and the advantages:
        Φ_t − V(s_t), or GAE(λ) of the TD errors within each episode (λ = 0: δ_t). Time-limit bootstrapping is
        already in the rewards, as in SB3's ``collect_rollouts``.
        """
        super().compute_returns_and_advantage(last_values, dones, reward_to_go)
        if self.gae_lambda == 1:  # Monte Carlo: exactly Φ_t − V(s_t)
            self.advantages -= self.values
            return
        # An episode's last step has no next value: a termination has no future, and a truncation's γ·V(s_T) is
        # already in its reward
        next_values = np.concatenate([self.values[1:], np.zeros_like(self.values[:1])])
        deltas = estimators.td_error(self.rewards, self.values, next_values, self.ends.astype(np.float32), self.gamma)
        self.advantages = estimators.gae(deltas, self.ends, self.gamma, self.gae_lambda)


class DictBaselineEpisodeRolloutBuffer(BaselineEpisodeRolloutBuffer, DictEpisodeRolloutBuffer):
    """:class:`BaselineEpisodeRolloutBuffer` for ``Dict`` observations; same parameters."""
