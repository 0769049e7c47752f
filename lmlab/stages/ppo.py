"""Stage 3, RLHF with PPO (Ouyang et al. 2022, InstructGPT; Stiennon et al. 2020): the policy samples responses,
the reward model scores them, a per-token KL penalty keeps the policy near the reference, and PPO updates it.

Each rollout (lmlab.stages.rollouts) is B prompts of the reward's task and one sampled response each. Then, with
the details of Huang et al. 2024 ("The N+ Implementation Details of RLHF with PPO") and TRL's PPOTrainer:
- the response ends at its stop token; the score (normalised with the reward model's stored mean and std) is
  placed on its last token, the stop token where there is one (a response without one may be penalised);
- every token's reward is -beta k_t, k_t a KL estimate between the sampling policy and the reference (k1 or k3);
  beta is fixed or adapted to a target KL (Ziegler et al. 2019);
- advantages by GAE (gamma, lambda) from the critic's values, whitened over the valid tokens of the rollout;
- `epochs` passes over the rollout in `num_minibatches` minibatches, each one optimizer step of the clipped
  surrogate plus vf_coef x the clipped value loss (lmlab.losses.rl), averaged over tokens;
- the critic starts from the reward model (for a programmatic judge, from the SFT model with a zero head) and is
  trained beside the policy in the same optimizer (PolicyWithCritic); dropout is off.
The old log-probabilities are computed on exactly the micro-batches of the first epoch, so the first minibatch has
ratio exactly 1 and clip fraction 0, in any precision.
Metrics carry TRL's names (objective/kl, objective/entropy, objective/rlhf_reward, objective/scores,
policy/approxkl_avg, policy/clipfrac_avg, loss/policy_avg, loss/value_avg, val/ratio) and val/explained_variance.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from lmlab.config import TrainConfig, opt, section_from_dict
from lmlab.errors import LmlabError
from lmlab.losses import Loss
from lmlab.losses.rl import (
    AdaptiveKLController,
    FixedKLController,
    aggregate,
    approx_kl,
    clipped_policy_loss,
    clipped_value_loss,
    explained_variance,
    gae,
    kl_penalty,
)
from lmlab.models.config import ModelConfig
from lmlab.models.lora import WithoutAdapters
from lmlab.models.reward import PolicyWithCritic
from lmlab.runs import RunFolder
from lmlab.stages.recipe import Context, FineTuneConfig, Recipe, given_config, new_model, train_stage, uses_lora
from lmlab.stages.rollouts import (
    PolicySection,
    PolicySetup,
    RolloutBuffer,
    all_mean,
    check_policy_settings,
    first_epoch_logps,
    response_logps,
    rollout_prompts,
    sample_and_score,
    warn_negative_kl,
    whiten_across,
)


@dataclass
class PPOSection(PolicySection):
    chat_max_new_tokens: int = opt(
        48, "longest response to a chat prompt (0: max_new_tokens): the SFT data's refusals run ~45 tokens, and one "
        "cut short is no refusal a reward model has seen"
    )  # fmt: skip
    epochs: int = opt(2, "PPO epochs: passes over each rollout")
    num_minibatches: int = opt(2, "optimizer steps per epoch over a rollout (each of grad_accum x batch_size rows)")
    same_length_prompts: bool = opt(
        True, "draw each rollout's prompts from one prompt length, so generation runs as one batch"
    )
    kl_coef: float = opt(0.05, "beta: the weight of the per-token KL penalty in the reward (the start, when adaptive)")
    kl_target: float = opt(0.0, "adaptive KL (Ziegler et al. 2019): target KL per response in nats; 0: beta fixed")
    kl_horizon: int = opt(10000, "adaptive KL: the horizon, in responses")
    gamma: float = opt(1.0, "GAE discount")
    lam: float = opt(0.95, "GAE lambda")
    vf_coef: float = opt(0.1, "weight of the value loss")
    clip_value: float = opt(0.2, "value clip range around the rollout's values")
    whiten_rewards: bool = opt(False, "whiten the per-token rewards over the rollout before GAE")
    critic: str = opt("", "the run the critic starts from (default: the reward model; for a judge: the init run)")
    shared_trunk: bool = opt(False, "no separate critic: a value head on the policy's own hidden states")


TRAINING_ONLY = ("critic.", "value_head.")  # weights the policy does not need once trained


def ppo_training_defaults() -> TrainConfig:
    # 64 responses per rollout (2 minibatches of 32), 2 epochs: 4 optimizer steps per rollout, 80 rollouts. Chosen on
    # the cpu-small SFT model's controlled sentiment (dev prompts, reward model of lmlab run): lr 1e-4 with 2 epochs
    # reached VADER reward 0.61 at KL 9.7 nats, val/ratio within [0.97, 1.04]; with 4 epochs (400 steps) 0.40 at KL
    # 11, clip fraction ~0.5 early and val/ratio up to 1.11; lr 3e-5 with 4 epochs had KL 1.7 after 400 steps.
    return TrainConfig(
        max_iters=320, batch_size=32, lr=1e-4, min_lr=1e-5, warmup_iters=8, weight_decay=0.0,
        eval_interval=80, log_interval=8,
    )  # fmt: skip


@dataclass
class PPOConfig(FineTuneConfig):
    STAGE: ClassVar[str] = "ppo"
    PRESETS: ClassVar[dict[str, dict]] = {
        "quick": dict(max_iters=80, eval_interval=40),  # lmlab run --quick
        "gpu": dict(batch_size=128, lr=3e-5, min_lr=3e-6),  # lmlab run --scale gpu (not yet tuned on a GPU)
        "tiny": dict(  # tests
            max_iters=4,
            batch_size=4,
            eval_interval=2,
            warmup_iters=1,
            log_interval=1,
            epochs=2,
            num_minibatches=1,
            prompts=64,
            max_new_tokens=6,
            chat_max_new_tokens=0,
        ),  # fmt: skip
    }
    train: TrainConfig = field(default_factory=ppo_training_defaults)
    ppo: PPOSection = field(default_factory=PPOSection)


def check_ppo_settings(s: PPOSection):
    check_policy_settings(s)
    if s.kl_coef < 0 or s.kl_target < 0 or s.kl_horizon < 1:
        raise LmlabError(f"kl_coef and kl_target must be >= 0 and kl_horizon >= 1 ({s.kl_coef}, {s.kl_target})")
    if not (0 < s.gamma <= 1 and 0 <= s.lam <= 1):
        raise LmlabError(f"need 0 < gamma <= 1 and 0 <= lam <= 1, got {s.gamma} and {s.lam}")


# ---- the loss -----------------------------------------------------------------------------
def make_loss(s: PPOSection):
    clip_high = s.clip_high or s.clip_low

    def loss(model, batch: dict) -> Loss:
        """The clipped surrogate plus vf_coef x the clipped value loss, summed over the batch's response tokens."""
        mask = batch["mask"]
        new = response_logps(model, batch, entropy=True, values=True, temperature=s.temperature)
        policy_loss, ratio, clipped = clipped_policy_loss(
            new["logps"], batch["old_logps"], batch["advantages"], s.clip_low, clip_high
        )
        value_loss = clipped_value_loss(new["values"], batch["values"], batch["returns"], s.clip_value)
        total, n = aggregate(policy_loss + s.vf_coef * value_loss, mask, "token-mean")

        def summed(x):
            return aggregate(x.detach().float(), mask, "token-mean")[0]

        value_clipped = (new["values"] - batch["values"]).abs() > s.clip_value
        metrics = {
            "loss/policy_avg": summed(policy_loss),
            "loss/value_avg": summed(value_loss),
            "policy/clipfrac_avg": summed(clipped),
            "policy/approxkl_avg": summed(approx_kl(new["logps"], batch["old_logps"])),
            "val/ratio": summed(ratio),
            "val/clipfrac_avg": summed(value_clipped),
            "objective/entropy": summed(new["entropy"]),
        }
        return Loss(total, n, metrics)

    return loss


# ---- rollouts -----------------------------------------------------------------------------
def per_token_rewards(scores, kl, mask, kl_coef: float) -> tuple[torch.Tensor, torch.Tensor]:
    """RLHF's reward of each response token (N, R): -kl_coef x its KL estimate, plus the response's score (N,) on
    its last token, the stop token where the response has one (Stiennon et al. 2020; Huang et al. 2024, detail 7).
    Returns (rewards, the KL part alone)."""
    non_score = torch.where(mask, -kl_coef * kl, 0)
    rewards = non_score.clone()
    last = mask.sum(1) - 1  # (N,): the index of each response's last token
    rewards[torch.arange(mask.size(0), device=mask.device), last] += scores
    return rewards, non_score


class PPORollouts:
    """The trainer's rollout hook (lmlab.trainer.Rollouts): sample, score, and compute GAE advantages."""

    def __init__(
        self, s: PPOSection, seed: int, ctx: Context, buffer: RolloutBuffer, pool, reward, ref, tokenizer, dtype
    ):
        self.s, self.seed, self.ctx, self.buffer, self.pool = s, seed, ctx, buffer, pool
        self.reward, self.ref, self.tokenizer, self.dtype = reward, ref, tokenizer, dtype
        self.steps_per_rollout = buffer.steps_per_rollout
        if s.kl_target > 0:
            self.kl = AdaptiveKLController(s.kl_coef, s.kl_target, s.kl_horizon)
        else:
            self.kl = FixedKLController(s.kl_coef)
        self.warned = False

    def collect(self, model, step: int) -> dict[str, float]:
        s, buffer, device = self.s, self.buffer, self.ctx.device
        rank, world = self.ctx.dist.rank, self.ctx.dist.world_size
        k = step // self.steps_per_rollout
        buffer.rollout, N = k, buffer.rows
        chosen, seeds = rollout_prompts(self.pool, self.seed, k, rank, world, N, same_length=s.same_length_prompts)
        data, _, generate_seconds = sample_and_score(
            model, chosen, seeds, self.pool, self.reward, s, self.tokenizer, self.dtype
        )
        buffer.data = data
        mask, scores = data["mask"], data["scores"]
        logps = first_epoch_logps(model, self.ref, buffer, self.dtype, values=True, temperature=s.temperature)
        old_logps, ref_logps, values = logps["old_logps"], logps["ref_logps"], logps["values"]
        kl = torch.where(mask, kl_penalty(old_logps, ref_logps, s.kl_estimator), 0)  # (N, R)
        kl1 = torch.where(mask, old_logps - ref_logps, 0).sum(1)  # k1 per response: the KL figure reported
        rewards, non_score = per_token_rewards(scores, kl, mask, self.kl.value)
        if s.whiten_rewards:
            rewards = whiten_across(rewards, mask)
        advantages, returns = gae(rewards, values, mask, s.gamma, s.lam)
        advantages = whiten_across(advantages, mask)
        buffer.data.update(old_logps=old_logps, values=values, advantages=advantages, returns=returns)
        lengths = mask.sum(1).float()
        metrics = all_mean(
            {
                "objective/kl": float(kl1.mean()),
                "objective/scores": float(scores.mean()),
                "objective/non_score_reward": float(non_score.sum(1).mean()),
                "objective/rlhf_reward": float((scores + non_score.sum(1)).mean()),
                "objective/kl_coef": float(self.kl.value),
                "val/explained_variance": float(explained_variance(values, returns, mask)),
                "val/num_eos_tokens": float(data["ended"].float().mean()),
                "rollout/response_length": float(lengths.mean()),
                "rollout/tokens_per_s": float(lengths.sum()) / max(generate_seconds, 1e-9),
            },
            device,
        )
        self.kl.update(metrics["objective/kl"], N * world)
        if metrics["objective/kl"] < -0.05 and not self.warned and self.ctx.dist.is_main:  # beyond sampling noise
            warn_negative_kl(metrics["objective/kl"])
            self.warned = True
        return metrics

    def state_dict(self) -> dict:
        return {**self.buffer.state_dict(), "kl_coef": float(self.kl.value)}

    def load_state_dict(self, state: dict):
        self.buffer.load_state_dict({k: v for k, v in state.items() if k != "kl_coef"})
        self.kl.value = float(state["kl_coef"])


# ---- the stage ----------------------------------------------------------------------------
def ppo(
    config: PPOConfig | None = None,
    init: str | Path | None = None,
    reward: str | Path | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: dict | None = None,
) -> Path:
    """Train a policy from `init` with PPO against `reward` (a reward-model run or a judge); returns the run folder."""
    given = {**({"reward": str(reward)} if reward else {}), **(overrides or {})}
    config, given = given_config(PPOConfig, config, init, None, given)
    if not resume and not (config.ppo.init and config.ppo.reward):
        raise LmlabError("ppo needs --init RUN (the SFT policy) and --reward (a reward-model run, sentiment or tasks)")
    return train_stage(config, build, out, resume, given if resume else None)


def build(config: PPOConfig, ctx: Context) -> Recipe:
    s, t = config.ppo, config.train
    check_ppo_settings(s)
    run = PolicySetup.build(s, t, ctx, uses_lora(config))
    critic_config, critic_record = None, {}
    if not s.shared_trunk:
        s.critic = s.critic or run.reward.run or s.init
        critic_record = RunFolder(s.critic).read_config()
        if critic_record.get("tokenizer_sha256") != run.tokenizer.sha256():
            raise LmlabError(f"{s.critic}: the critic's starting run has another tokenizer than the policy")
        critic_config = section_from_dict(ModelConfig, {**critic_record["model"], "dropout": 0.0}, s.critic)
    model = new_model(lambda c: PolicyWithCritic(c, critic_config), run.model_config, run.tokenizer.vocab_size, t.seed)
    # LoRA with the init run as reference: the reference is the policy with its adapters off
    run.ref = WithoutAdapters(model) if run.ref is None else run.ref
    rollouts = PPORollouts(s, t.seed, ctx, run.buffer, run.pool, run.reward, run.ref, run.tokenizer, run.dtype)

    def init_weights(model):
        run.init_run.load_weights(model, ignore=TRAINING_ONLY)
        if s.shared_trunk:
            return  # the value head starts at zero
        critic_run = RunFolder(s.critic)
        if critic_record.get("model_kind") == "reward-model":
            critic_run.load_weights(model.critic)
            if critic_run.path == Path(s.reward):  # values predict normalised rewards: scale the head alike
                with torch.no_grad():
                    model.critic.score.weight.div_(run.reward.std)
        else:  # a causal LM: its body, and a zero head (values start at 0)
            critic_run.load_weights(model.critic.gpt)

    return Recipe(
        model,
        run.tokenizer,
        run.buffer,
        make_loss(s),
        tokens_per_batch=t.batch_size * (max(s.max_new_tokens, s.chat_max_new_tokens) + 8),
        record={**run.record_entries(), "training_only_weights": list(TRAINING_ONLY)},
        init_weights=init_weights,
        always_trained=("value_head",) if s.shared_trunk else ("critic.score",),  # no base to adapt: in full
        rollouts=rollouts,
        progress_keys=("objective/scores", "objective/kl", "policy/clipfrac_avg"),
    )
