"""The reward model: the lmlab Transformer with a scalar head, r(x, y) for a prompt x and a response y.

As in Ouyang et al. 2022 (InstructGPT, sec. 3.5) and Stiennon et al. 2020, the GPT body reads the
whole sequence x + y, and a linear head maps the final hidden state at the last real token of the
response to one number. The body starts from the SFT model's weights; the head starts at zero, so
every response starts with reward 0 and training (Bradley-Terry, lmlab.losses.preference) moves
them apart. The last real token is found from each row's length, never by searching for a
padding id, so right padding with any pad id (also pad id == end id) reads the right position.
"""

import torch
import torch.nn as nn

from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT


class RewardModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.arch != "gpt":
            raise ValueError(f"a reward model needs a GPT body, got arch {cfg.arch!r}")
        self.config = cfg
        self.gpt = GPT(cfg)
        if not cfg.tie_embeddings:
            self.gpt.lm_head.weight.requires_grad_(False)  # the language-model head plays no part in r(x, y)
        self.score = nn.Linear(cfg.n_embd, 1, bias=False)
        nn.init.zeros_(self.score.weight)

    def flops_per_token(self) -> float:
        return self.gpt.flops_per_token()

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """idx (B, T) right-padded token ids, lengths (B,) real tokens per row -> rewards (B,) in fp32."""
        h = self.gpt.hidden_states(idx)  # (B, T, C)
        last = h[torch.arange(idx.size(0), device=idx.device), lengths - 1]  # (B, C): the last real token
        return self.score(last).squeeze(-1).float()

    def values(self, hidden: torch.Tensor) -> torch.Tensor:
        """The head at every position of final hidden states (..., C) -> (...) in fp32: PPO's critic V(s_t)."""
        return self.score(hidden).squeeze(-1).float()


class PolicyWithCritic(GPT):
    """PPO's trained pair: the policy (this GPT: its forward gives the logits) and a critic, a reward model whose head
    is read at every position as the value V(s_t) of the text so far (Ouyang et al. 2022: the value function starts
    from the reward model), or with critic_cfg None a zero-initialised value head on the policy's own final hidden
    states (a shared trunk: half the compute, but the value loss shapes the policy's features). One module, so the one
    training loop trains, checkpoints and resumes both; the run record lists "critic." and "value_head." as
    training-only, so loading the run for sampling or chat reads the policy alone."""

    def __init__(self, cfg: ModelConfig, critic_cfg: ModelConfig | None):
        super().__init__(cfg)
        if critic_cfg is None:
            self.value_head = nn.Linear(cfg.n_embd, 1, bias=False)
            nn.init.zeros_(self.value_head.weight)
        else:
            self.critic = RewardModel(critic_cfg)

    def forward(self, idx, cache=None, last_only: bool = False, target_mask=None, with_values: bool = False):
        """The policy's logits as GPT.forward; with_values (and target_mask), the logits (N, V) and values (N,) at the
        positions of target_mask."""
        if not with_values:
            return super().forward(idx, cache, last_only, target_mask)
        h = self.hidden_states(idx)[target_mask]  # (N, C)
        if hasattr(self, "value_head"):
            values = self.value_head(h).squeeze(-1).float()
        else:
            values = self.critic.values(self.critic.gpt.hidden_states(idx)[target_mask])
        return self.logits(h), values
