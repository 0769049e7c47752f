"""Evaluating a policy against a judge: the mean true reward, the win rate, and the KL to the reference.

On held-out prompts of the judge's task (lmlab.data.preference_tasks), the policy and the run it is
compared with (by default its reference: the run DPO started from) each sample one response per prompt
at temperature 1, from their own distributions. Then:
- reward: the judge's mean score of the policy's responses (with its standard error);
- win rate: the share of prompts where the policy's response scores higher than the other run's
  (a tie counts one half), as in the DPO paper's win rates;
- KL: the Monte Carlo estimate of KL(pi || pi_ref) = E_{x, y ~ pi}[log pi(y|x) - log pi_ref(y|x)],
  summed over the response tokens (the stop token included: stopping is a choice too) and averaged
  over prompts (nats per response), the x-axis of the DPO paper's reward/KL frontier; log-probs in
  fp32, so a policy equal to its reference gives 0 to rounding;
- length: the policy's response lengths in tokens (the stop token counted, as in the KL): mean, median and the share
  that reached max_new_tokens without stopping; and the KL per token, the summed KL over the summed length. A policy
  that says less spends less KL per response, so the KL per response alone cannot tell a better optimiser from a
  terser one.
- fluency: the reference's log-likelihood of the policy's responses per token (ref_logp_per_token; the policy's own
  for a run without a reference): text the SFT model finds unlikely (ungrammatical, repetitive) scores low, so a reward
  bought with broken text shows here.
With fixed_length, every response is exactly max_new_tokens long: the stop ids are never drawn (their logits -inf) for
the policy and for the run it is compared with, and the KL is that of the two fixed-length distributions (each model's
log-probs renormalised over the tokens other than the stop ids), so length plays no part in it.
Only prompts that leave room for max_new_tokens in the context of every model used are asked.
"""

import math
import statistics
from pathlib import Path

import numpy as np
import torch

from lmlab.data.preference_tasks import fitting, task_prompts
from lmlab.device import pick_device
from lmlab.errors import LmlabError
from lmlab.eval.judges import load_judge
from lmlab.inference.generate import sample_responses, stop_ids
from lmlab.losses import IGNORE
from lmlab.losses.preference import sequence_logps
from lmlab.runs import RunFolder, load_run


def reference_of(run: str | Path) -> str | None:
    """The reference a preference- or RL-trained run was measured against (its dpo, ppo or grpo ref), else None."""
    record = RunFolder(run).read_config()
    return next(
        (record[stage]["ref"] for stage in ("dpo", "ppo", "grpo") if (record.get(stage) or {}).get("ref")), None
    )


@torch.no_grad()
def response_logps(
    model, prompt_ids, response_ids, device, batch_size: int = 64, suppress_ids: tuple[int, ...] = ()
) -> np.ndarray:
    """log p(response | prompt) under the model, summed over the response tokens, for each row; with suppress_ids,
    under the model's distribution renormalised over the other tokens (what fixed-length sampling draws from)."""
    out = np.zeros(len(prompt_ids))
    for start in range(0, len(prompt_ids), batch_size):
        rows = range(start, min(start + batch_size, len(prompt_ids)))
        T = max(len(prompt_ids[i]) + len(response_ids[i]) for i in rows) - 1
        tokens = torch.zeros(len(rows), T + 1, dtype=torch.long)
        targets = torch.full((len(rows), T), IGNORE, dtype=torch.long)
        for b, i in enumerate(rows):
            p, r = prompt_ids[i], response_ids[i]
            tokens[b, : len(p) + len(r)] = torch.tensor(list(p) + list(r))
            targets[b, len(p) - 1 : len(p) + len(r) - 1] = torch.tensor(r, dtype=torch.long)
        logits = model(tokens[:, :-1].to(device))
        if suppress_ids:
            logits = logits.float().index_fill(-1, torch.tensor(suppress_ids, device=logits.device), float("-inf"))
        logps, _ = sequence_logps(logits, targets.to(device))  # fp32: see the docstring
        out[start : start + len(rows)] = logps.double().cpu().numpy()
    return out


def length_figures(responses: list[list[int]], stop_ids: tuple[int, ...], max_new_tokens: int) -> dict:
    """Response lengths in tokens (a stop token counted): mean, median, and the share that reached max_new_tokens
    without a stop token."""
    lengths = [len(r) for r in responses]
    at_limit = [len(r) >= max_new_tokens and not (r and r[-1] in stop_ids) for r in responses]
    return {
        "length_mean": statistics.fmean(lengths),
        "length_median": statistics.median(lengths),
        "length_at_limit": statistics.fmean(at_limit),
    }


def evaluate_preference(
    run: str | Path,
    judge: str,
    against: str | Path | None = None,
    n: int = 256,
    max_new_tokens: int = 24,
    seed: int = 0,
    device: str = "auto",
    split: str = "test",
    fixed_length: bool = False,
) -> dict:
    """The module docstring's figures for `run` on n prompts of `split` (test: held out; dev: for tuning): reward,
    win rate and KL (when it has a reference or `against` is given), the response lengths and the KL per token; for
    the tasks judge also the reward per task. fixed_length: every response max_new_tokens long (module docstring)."""
    device = pick_device(device)
    the_judge = load_judge(judge, device)
    reference = reference_of(run)
    against = against or reference
    policy = load_run(run, device)
    others = {name: load_run(name, device) for name in dict.fromkeys(filter(None, [against, reference]))}
    if reference and others[reference].tokenizer.sha256() != policy.tokenizer.sha256():
        raise LmlabError(f"{reference}: the reference of {run} has another tokenizer; its KL cannot be measured")
    prompts = task_prompts(the_judge.task, split, n)
    n_asked = len(prompts)
    for loaded in [policy, *others.values()]:  # every model must fit every prompt
        prompts = fitting(prompts, loaded.tokenizer, loaded.model, max_new_tokens)[0]
    if not prompts:
        raise LmlabError(f"{run}: no held-out prompt leaves room for {max_new_tokens} new tokens in every context")
    asked = [p.as_pair_prompt() for p in prompts]
    stop = stop_ids(policy.tokenizer)
    suppress = stop if fixed_length else ()
    prompt_ids, responses, texts = sample_responses(
        policy.model, policy.tokenizer, asked, max_new_tokens, seed=seed, include_stop=True, fixed_length=fixed_length
    )
    rewards = the_judge.score(prompts, texts)
    result = {
        "prompts": len(prompts),
        "prompts_too_long": n_asked - len(prompts),
        "reward": statistics.fmean(rewards),
        "reward_sem": statistics.stdev(rewards) / math.sqrt(len(rewards)) if len(rewards) > 1 else 0.0,
        "fixed_length": fixed_length,
        **length_figures(responses, stop, max_new_tokens),
    }
    if the_judge.task == "tasks":
        for name in dict.fromkeys(p.task for p in prompts):
            result[f"reward_{name}"] = statistics.fmean(r for r, p in zip(rewards, prompts) if p.task == name)
    if against:
        other = others[against]
        other_texts = sample_responses(
            other.model, other.tokenizer, asked, max_new_tokens, seed=seed + 1, fixed_length=fixed_length
        )[2]
        other_rewards = the_judge.score(prompts, other_texts)
        result["against"] = str(against)
        result["against_reward"] = statistics.fmean(other_rewards)
        result["win_rate"] = statistics.fmean(
            float(a > b) + 0.5 * float(a == b) for a, b in zip(rewards, other_rewards)
        )
    tokens = max(sum(len(r) for r in responses), 1)
    own = response_logps(policy.model, prompt_ids, responses, device, suppress_ids=suppress)
    judged_by = own  # a run without a reference is its own: the log-likelihood of its samples, -entropy per token
    if reference:
        judged_by = response_logps(others[reference].model, prompt_ids, responses, device, suppress_ids=suppress)
        kl = own - judged_by
        result["kl"] = float(kl.mean())
        result["kl_per_token"] = float(kl.sum() / tokens)
    result["ref_logp_per_token"] = float(judged_by.sum() / tokens)
    result["examples"] = [
        {"prompt": p.text, "response": t, "reward": r} for p, t, r in list(zip(prompts, texts, rewards))[:8]
    ]
    return result
