"""What the on-policy stages (PPO, GRPO) share: prompts, rollouts, rewards, and the buffer the training loop reads.

A rollout is a batch of prompts of the reward's task (lmlab.data.preference_tasks, training split), a response
sampled for each by the current policy (batched, with the KV cache), the judge's score of each response, and the
per-token log-probabilities the losses need. The one training loop (lmlab.trainer) calls the stage's hook every
`steps_per_rollout` optimizer steps; the stage computes advantages into a RolloutBuffer, and the loop's batch_fn
reads micro-batches from it, epoch after epoch.

Randomness is a function of (seed, rollout number, row): the prompts of rollout k come from a generator seeded with
(seed, k), and row g of the rollout (counted over all processes) samples with its own generator seeded with
(seed, k, g) (lmlab.inference.generate.sample_rows). So a run on W processes samples exactly the rows one process
samples, and a resumed run the rows the uninterrupted one would have; the buffer is part of the checkpoint, so a
run resumed in the middle of a rollout's epochs trains on the same rollout.

Shapes: N rollout rows on this process, L = longest prompt + R tokens (right-padded), R the longest response.
A response ends with its stop token (<|end|> or <|eos|>), which is part of it: stopping is an action too.
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from lmlab.config import opt, section_from_dict
from lmlab.data.preference_tasks import Prompt, check_task, task_prompts
from lmlab.data.preferences import encode_prompt
from lmlab.device import autocast, resolve_dtype
from lmlab.errors import LmlabError
from lmlab.eval.judges import JUDGE_CHOICES, RewardModelJudge, is_judge_spec, load_judge
from lmlab.inference.generate import sample_rows, stop_ids
from lmlab.losses import upcast
from lmlab.losses.rl import KL_ESTIMATORS, masked_whiten
from lmlab.models.config import ModelConfig
from lmlab.runs import RunFolder
from lmlab.stages.dpo import check_reference, policy_record
from lmlab.tokenizer import Tokenizer


@dataclass
class PolicySection:
    """The fields PPO and GRPO share (each stage's section extends it)."""

    init: str = opt("", "the run to start the policy from (an SFT run)")
    reward: str = opt("", f"what scores a response: a reward-model run, or a judge: {JUDGE_CHOICES}")
    ref: str = opt("", "the reference policy of the KL term (default: the init run)")
    prompts: int = opt(12288, "training prompts of the reward's task to draw rollouts from")
    max_new_tokens: int = opt(24, "longest response sampled")
    chat_max_new_tokens: int = opt(
        0, "longest response to a chat prompt, where it differs (0: max_new_tokens; the SFT data's refusals run ~45)"
    )
    temperature: float = opt(
        1.0, "sampling temperature; log-probs, ratios and KL are those of softmax(logits / temperature), as TRL"
    )
    kl_estimator: str = opt("k1", "per-token KL estimator: k1 | k2 | k3 (lmlab.losses.rl)", KL_ESTIMATORS)
    num_minibatches: int = opt(1, "optimizer steps per epoch over a rollout (each of grad_accum x batch_size rows)")
    epochs: int = opt(1, "passes over each rollout (PPO's epochs; GRPO's mu iterations)")
    clip_low: float = opt(0.2, "PPO clip range eps: the ratio is clipped to [1 - clip_low, 1 + clip_high]")
    clip_high: float = opt(0.0, "upper clip range (0: clip_low; DAPO's clip-higher uses 0.28)")
    missing_eos_penalty: float = opt(0.0, "subtracted from the score of a response that ran out of tokens unfinished")
    same_length_prompts: bool = opt(
        False, "draw each rollout's prompts from one prompt length, so generation runs as one batch"
    )
    dropout: float = opt(0.0, "dropout in the policy while training (on-policy methods want none)")


def check_policy_settings(s: PolicySection):
    """The shared fields in their ranges, before a run folder is made."""
    if s.max_new_tokens < 1 or s.chat_max_new_tokens < 0:
        raise LmlabError(
            f"max_new_tokens must be >= 1 and chat_max_new_tokens >= 0, got {s.max_new_tokens} and "
            f"{s.chat_max_new_tokens}"
        )
    if not 0 < s.temperature:
        raise LmlabError(f"temperature must be > 0 for rollouts, got {s.temperature}")
    if s.num_minibatches < 1 or s.epochs < 1:
        raise LmlabError(f"num_minibatches and epochs must be >= 1, got {s.num_minibatches} and {s.epochs}")
    if not 0 < s.clip_low < 1 or s.clip_high < 0:
        raise LmlabError(f"clip ranges must be 0 < clip_low < 1 and clip_high >= 0, got {s.clip_low}, {s.clip_high}")
    if s.prompts < 1:
        raise LmlabError(f"prompts must be >= 1, got {s.prompts}")


# ---- the reward ---------------------------------------------------------------------------
class Reward:
    """The judge of a stage's --reward and the prompt task it grades; a reward model's scores are normalised with the
    mean and std it stored over the SFT policy's samples (Ziegler et al. 2019; TRL's reward normalisation)."""

    def __init__(self, spec: str, tokenizer, device):
        if not spec:
            raise LmlabError(f"--reward is needed: a reward-model run, or a judge: {JUDGE_CHOICES}")
        if is_judge_spec(spec):
            self.mean, self.std = 0.0, 1.0
        elif Path(spec).is_dir():
            record = RunFolder(spec).read_config()
            if record.get("model_kind") != "reward-model":
                raise LmlabError(
                    f"{spec}: is a {record.get('stage')} run of a {record.get('model_kind')} model, not a reward model "
                    "(train one with lmlab reward)"
                )
            if record.get("tokenizer_sha256") != tokenizer.sha256():
                raise LmlabError(f"{spec}: the reward model has another tokenizer than the policy")
            stats = record.get("reward_stats") or {"mean": 0.0, "std": 1.0}
            self.mean, self.std = float(stats["mean"]), max(float(stats["std"]), 1e-6)
        else:
            raise LmlabError(f"--reward {spec!r}: expected a reward-model run folder, or a judge: {JUDGE_CHOICES}")
        self.judge = load_judge(spec, device)
        self.task = check_task(self.judge.task)
        self.run = spec if isinstance(self.judge, RewardModelJudge) else None

    def score(self, prompts: list[Prompt], texts: list[str]) -> torch.Tensor:
        return (torch.tensor(self.judge.score(prompts, texts), dtype=torch.float32) - self.mean) / self.std


# ---- prompts ------------------------------------------------------------------------------
def new_tokens(prompt: Prompt, max_new_tokens: int, chat_max_new_tokens: int = 0) -> int:
    """The longest response to sample for a prompt: chat_max_new_tokens for a chat prompt where it is set."""
    return chat_max_new_tokens if prompt.conversational and chat_max_new_tokens else max_new_tokens


class PromptPool:
    """The training prompts of a task, tokenized, each with the longest response to sample for it (`new_tokens`);
    those leaving no room for it are dropped and counted."""

    def __init__(self, task: str, n: int, seed: int, tokenizer, block_size: int, max_new_tokens: int,
                 chat_max_new_tokens: int = 0):  # fmt: skip
        prompts = task_prompts(task, "train", n, seed)
        ids = [encode_prompt(tokenizer, p.as_pair_prompt()) for p in prompts]
        limits = [new_tokens(p, max_new_tokens, chat_max_new_tokens) for p in prompts]
        kept = [i for i, x in enumerate(ids) if 0 < len(x) <= block_size - limits[i]]
        if not kept:
            raise LmlabError(f"no {task} prompt leaves room for {max_new_tokens} new tokens in {block_size}")
        self.prompts, self.ids = [prompts[i] for i in kept], [ids[i] for i in kept]
        self.limits = [limits[i] for i in kept]
        self.too_long = len(prompts) - len(kept)
        self.by_length: dict[int, list[int]] = {}
        for i, x in enumerate(self.ids):
            self.by_length.setdefault(len(x), []).append(i)

    def __len__(self):
        return len(self.ids)

    def draw(self, seed: int, rollout: int, n: int, same_length: bool) -> list[int]:
        """n prompt indices for rollout `rollout`: uniformly at random, or (same_length) from the length of a prompt
        drawn at random, so a length is chosen as often as its prompts are (without replacement where it has n)."""
        rng = np.random.default_rng([seed, rollout, 23])
        if not same_length:
            return rng.choice(len(self), n, replace=len(self) < n).tolist()
        pool = self.by_length[len(self.ids[int(rng.integers(len(self)))])]
        return [pool[i] for i in rng.choice(len(pool), n, replace=len(pool) < n)]


def row_seed(seed: int, rollout: int, row: int) -> int:
    return int(np.random.SeedSequence([seed, rollout, row]).generate_state(1)[0])


def rollout_prompts(pool: PromptPool, seed: int, rollout: int, rank: int, world: int, prompts: int, group_size: int = 1,
                    same_length: bool = False) -> tuple[list[int], list[int]]:  # fmt: skip
    """This process's rows of rollout `rollout`: (pool indices, sampling seeds). `prompts` prompts per process are
    drawn for all processes at once from (seed, rollout), each asked group_size times in a row, and row g (counted
    over all processes) samples with the seed of (seed, rollout, g), so the split over processes changes nothing."""
    drawn = pool.draw(seed, rollout, prompts * world, same_length)
    chosen = [i for i in drawn[rank * prompts : (rank + 1) * prompts] for _ in range(group_size)]
    first = rank * prompts * group_size
    return chosen, [row_seed(seed, rollout, first + i) for i in range(len(chosen))]


# ---- sampling and scoring -----------------------------------------------------------------
@torch.no_grad()
def sample_rollout(policy, prompt_ids: list[list[int]], seeds: list[int], s: PolicySection, stop_ids, pad_id,
                   limits: list[int] | None = None, tokenizer: Tokenizer | None = None) -> dict:  # fmt: skip
    """Sample one response per prompt, of at most limits[i] tokens (default: s.max_new_tokens; rows with equal prompt
    lengths and limits decode together) into right-padded tensors: tokens (N, L), prompt_lengths (N,), mask (N, R)
    True at the response tokens the policy sampled, lengths (N,) of the responses, ended (N,) True where a stop id
    ended it.

    With a tokenizer that has the tool tokens, the calculator is in the loop (lmlab.tools.loop): a response whose turn
    ends in a call gets the tool's turn written after it and is sampled on from there, up to MAX_CALLS calls, each
    turn of the policy with its own limit (a call past the limit gets an error result, one more ends it). The tool's
    tokens are part of the response but not of the mask: the policy did not choose them, so no loss, log-prob or KL
    is taken on them.
    """
    limits = limits or [s.max_new_tokens] * len(prompt_ids)
    responses = _sample_turns(policy, prompt_ids, seeds, s.temperature, stop_ids, limits)
    learned = [[True] * len(r) for r in responses]
    if tokenizer is not None and tokenizer.has_tools:
        _run_calls(policy, prompt_ids, responses, learned, seeds, s.temperature, stop_ids, limits, tokenizer)
    N, R = len(prompt_ids), max(len(r) for r in responses)
    L = max(len(p) for p in prompt_ids) + R
    tokens = torch.full((N, L), pad_id, dtype=torch.long)
    mask = torch.zeros(N, R, dtype=torch.bool)
    for i, (p, r) in enumerate(zip(prompt_ids, responses)):
        tokens[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, : len(r)] = torch.tensor(learned[i], dtype=torch.bool)
    ended = torch.tensor([bool(r) and r[-1] in stop_ids for r in responses])
    prompt_lengths = torch.tensor([len(p) for p in prompt_ids])
    lengths = torch.tensor([len(r) for r in responses])
    return {"tokens": tokens, "prompt_lengths": prompt_lengths, "mask": mask, "lengths": lengths, "ended": ended}


def _sample_turns(policy, prompt_ids, seeds, temperature, stop_ids, limits) -> list[list[int]]:
    """One turn per prompt: its new ids up to and with the first stop id (rows of equal length and limit together)."""
    device = next(policy.parameters()).device
    responses: list[list[int]] = [[] for _ in prompt_ids]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(prompt_ids):
        groups.setdefault((len(p), limits[i]), []).append(i)
    for (_, limit), rows in groups.items():
        idx = torch.tensor([prompt_ids[i] for i in rows], device=device)
        new = sample_rows(policy, idx, limit, [seeds[i] for i in rows], temperature, stop_ids).tolist()
        for i, ids in zip(rows, new):
            responses[i] = next((ids[: k + 1] for k, t in enumerate(ids) if t in stop_ids), ids)
    return responses


def _run_calls(policy, prompt_ids, responses, learned, seeds, temperature, stop_ids, limits, tokenizer):
    """sample_rollout's tool loop, in place: rounds of (run each pending call, sample every such row's next turn)."""
    from lmlab.tools.loop import call_result, split_call, tool_turn

    end, block = tokenizer.special_id("<|end|>"), policy.config.block_size
    turn_start = [0] * len(responses)
    calls = [0] * len(responses)
    while True:
        rows, contexts, turn_limits = [], [], []
        for i, r in enumerate(responses):
            if not r or r[-1] != end:
                continue
            _, expression = split_call(tokenizer, r[turn_start[i] : -1])
            if expression is None:
                continue
            result = call_result(tokenizer.decode(expression, skip_special_tokens=True), calls[i])
            if result is None:  # a call past the limit's error: done
                continue
            calls[i] += 1
            written = tool_turn(tokenizer, result)
            context = prompt_ids[i] + r + written
            room = min(limits[i], block - len(context))
            responses[i] = r + written
            learned[i] += [False] * len(written)
            turn_start[i] = len(responses[i])
            if room < 1:  # no room left for the answer: the response ends at the tool's turn, unended
                continue
            rows.append(i)
            contexts.append(context)
            turn_limits.append(room)
        if not rows:
            return
        turn_seeds = [row_seed(seeds[i], calls[i], 29) for i in rows]
        for i, new in zip(rows, _sample_turns(policy, contexts, turn_seeds, temperature, stop_ids, turn_limits)):
            responses[i] = responses[i] + new
            learned[i] += [True] * len(new)


def response_head_mask(batch: dict) -> torch.Tensor:
    """(N, L - 1) True at the positions of tokens[:, :-1] that predict a response token (prompt_length - 1 + t)."""
    N, R = batch["mask"].shape
    positions = batch["prompt_lengths"][:, None] - 1 + torch.arange(R, device=batch["mask"].device)  # (N, R)
    head = torch.zeros(N, batch["tokens"].size(1) - 1, dtype=torch.bool, device=batch["mask"].device)
    rows = torch.arange(N, device=head.device)[:, None].expand(N, R)
    head[rows[batch["mask"]], positions[batch["mask"]]] = True
    return head


def response_logps(
    model, batch: dict, entropy: bool = False, values: bool = False, temperature: float = 1.0
) -> dict[str, torch.Tensor]:
    """Per-token quantities (N, R) of a batch of rollout rows, 0 outside the mask: "logps", log pi(o_t | x, o_<t) in
    fp32 of the distribution the rollouts were sampled from, softmax(logits / temperature) (as TRL); with entropy,
    "entropy" of pi at each position (detached: objective/entropy); with values, the critic's "values" V(x, o_<t)
    (PolicyWithCritic). One forward through model(), so DDP sees it; the output head runs only at the response
    positions, and the rows of each position are those of the mask, in order."""
    head = response_head_mask(batch)
    mask = batch["mask"]
    out = model(batch["tokens"][:, :-1], target_mask=head, **({"with_values": True} if values else {}))
    logits, v = out if values else (out, None)
    logp_all = F.log_softmax(upcast(logits) / temperature, dim=-1)  # (M, V), M = valid response tokens
    targets = batch["tokens"][:, 1:][head]
    result = {"logps": mask.new_zeros(mask.shape, dtype=logp_all.dtype).masked_scatter(
        mask, logp_all.gather(-1, targets[:, None]).squeeze(-1))}  # fmt: skip
    if entropy:
        with torch.no_grad():
            result["entropy"] = torch.zeros_like(result["logps"]).masked_scatter(
                mask, -(logp_all.exp() * logp_all).sum(-1)
            )
    if values:
        result["values"] = torch.zeros_like(result["logps"]).masked_scatter(mask, v.float())
    return result


def decode_responses(tokenizer, batch: dict) -> list[str]:
    """The text of each row's response (its stop token dropped); with tool calls, of its last turn (the answer)."""
    from lmlab.tools.loop import last_turn

    lengths = batch["lengths"] if "lengths" in batch else batch["mask"].sum(1)
    out = []
    for tokens, P, n in zip(batch["tokens"].tolist(), batch["prompt_lengths"].tolist(), lengths.tolist()):
        out.append(tokenizer.decode(last_turn(tokenizer, tokens[P : P + n]), skip_special_tokens=True))
    return out


def sample_and_score(model, chosen: list[int], seeds: list[int], pool: PromptPool, reward: Reward, s: PolicySection,
                     tokenizer, dtype, tools: bool = False) -> tuple[dict, list[Prompt], float]:  # fmt: skip
    """Rollout rows for prompts `chosen` (indices into the pool), each sampling with its seed (tools: the calculator in
    the loop, where the tokenizer has its tokens), scored by the reward on the response's answer (minus
    missing_eos_penalty where a response ran out of tokens): (data with "scores", prompts, seconds sampling)."""
    device = next(model.parameters()).device
    stops, pad_id = stop_ids(tokenizer), tokenizer.special_id("<|pad|>")
    t = time.perf_counter()
    with autocast(device, dtype):
        data = sample_rollout(model, [pool.ids[i] for i in chosen], seeds, s, stops, pad_id,
                              [pool.limits[i] for i in chosen], tokenizer if tools else None)  # fmt: skip
    seconds = time.perf_counter() - t
    data = {name: v.to(device) for name, v in data.items()}
    prompts = [pool.prompts[i] for i in chosen]
    scores = reward.score(prompts, decode_responses(tokenizer, data)).to(device)
    data["scores"] = scores - s.missing_eos_penalty * (~data["ended"]).float()
    return data, prompts, seconds


@torch.no_grad()
def first_epoch_logps(
    model, ref, buffer: "RolloutBuffer", dtype, values: bool = False, temperature: float = 1.0
) -> dict[str, torch.Tensor]:
    """The rollout's per-token log-probs under the policy ("old_logps") and the reference ("ref_logps"), and with
    values the critic's "values", each (N, R), computed on exactly the micro-batches the first epoch trains on: same
    rows, same shapes, same kernels, so the first minibatch's ratio is exactly 1 in any precision."""
    mask = buffer.data["mask"]
    out = {name: torch.zeros(mask.shape, device=mask.device) for name in ("old_logps", "ref_logps", "values")}
    for rows, batch in buffer.micro_batches(0):
        with autocast(mask.device, dtype):
            policy = response_logps(model, batch, values=values, temperature=temperature)
            out["ref_logps"][rows] = response_logps(ref, batch, temperature=temperature)["logps"]
        out["old_logps"][rows] = policy["logps"]
        if values:
            out["values"][rows] = policy["values"]
    if not values:
        del out["values"]
    return out


# ---- the buffer ---------------------------------------------------------------------------
class RolloutBuffer:
    """A rollout's tensors on this process, and the micro-batches of each epoch: a fresh permutation of the rows per
    epoch (seeded with (seed, rollout, epoch, rank)), cut into num_minibatches x grad_accum micro-batches."""

    def __init__(self, seed: int, rank: int, world: int, grad_accum: int, batch_size: int, s: PolicySection):
        self.seed, self.rank, self.world, self.accum, self.batch_size = seed, rank, world, grad_accum, batch_size
        self.num_minibatches, self.epochs = s.num_minibatches, s.epochs
        self.steps_per_rollout = s.epochs * s.num_minibatches
        self.rows = s.num_minibatches * grad_accum * batch_size  # rollout rows per process
        self.data: dict[str, torch.Tensor] = {}
        self.rollout = -1

    def order(self, epoch: int) -> torch.Tensor:
        if self.steps_per_rollout == 1:
            return torch.arange(self.rows)
        return torch.from_numpy(
            np.random.default_rng([self.seed, self.rollout, epoch, self.rank]).permutation(self.rows)
        )

    def micro_batches(self, epoch: int):
        """The (rows, batch) of each micro-batch of one epoch, in order."""
        order = self.order(epoch)
        for j in range(self.rows // self.batch_size):
            rows = order[j * self.batch_size : (j + 1) * self.batch_size]
            yield rows, self.select(rows)

    def select(self, rows: torch.Tensor) -> dict:
        """The buffer's rows `rows`, with token columns cut to the longest of them."""
        batch = {name: value[rows] for name, value in self.data.items()}
        lengths = batch["lengths"] if "lengths" in batch else batch["mask"].sum(1)  # a buffer saved before tool calls
        L = int((batch["prompt_lengths"] + lengths).max())
        batch["tokens"] = batch["tokens"][:, : L + 1]  # + 1: response_hidden drops the last column
        return batch

    def __call__(self, index: int) -> dict:
        """Micro-batch `index` of the trainer ((step * world + rank) * grad_accum + k)."""
        k, q = index % self.accum, index // self.accum
        step = q // self.world
        assert q % self.world == self.rank and step // self.steps_per_rollout == self.rollout, (index, self.rollout)
        local = step % self.steps_per_rollout
        epoch, minibatch = divmod(local, self.num_minibatches)
        j = minibatch * self.accum + k
        return self.select(self.order(epoch)[j * self.batch_size : (j + 1) * self.batch_size])

    def state_dict(self) -> dict:
        return {"rollout": self.rollout, **{f"data/{k}": v for k, v in self.data.items()}}

    def load_state_dict(self, state: dict):
        self.rollout = int(state["rollout"])
        self.data = {k.removeprefix("data/"): v for k, v in state.items() if k.startswith("data/")}


def all_mean(values: dict[str, float], device) -> dict[str, float]:
    """The mean over processes of each value, ignoring nan (a value a process has none of); keys that are nan on
    every process are dropped. One all-reduce."""
    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    t = torch.stack([torch.nan_to_num(t, nan=0.0), (~t.isnan()).double()])  # (2, K): sums and counts
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return {k: total / count for k, total, count in zip(values, t[0].tolist(), t[1].tolist()) if count}


def whiten_across(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """masked_whiten over the valid positions of every process's rollout (mean and unbiased variance all-reduced)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return masked_whiten(x, mask)
    x64 = torch.where(mask, x, 0).double()
    stats = torch.stack([x64.sum(), mask.sum().double()])
    dist.all_reduce(stats)
    mean = stats[0] / stats[1]
    squares = torch.where(mask, (x64 - mean) ** 2, 0).sum()
    dist.all_reduce(squares)
    var = squares / (stats[1] - 1)
    return torch.where(mask, (x64 - mean) * torch.rsqrt(var + 1e-8), 0).to(x.dtype)


@dataclass
class PolicySetup:
    """What PPO and GRPO build alike from their section: the policy's source run and architecture, the reward, the
    frozen reference, the prompts and the rollout buffer."""

    source: RunFolder  # the init run, or the run being resumed
    record: dict  # its record
    init_run: RunFolder  # the run the policy starts from
    tokenizer: Tokenizer
    model_config: ModelConfig
    reward: Reward
    ref: torch.nn.Module | None  # None under LoRA with the init run as reference: the policy without its adapters
    pool: PromptPool
    buffer: RolloutBuffer
    dtype: torch.dtype

    @classmethod
    def build(cls, s: PolicySection, t, ctx, adapters: bool = False) -> "PolicySetup":
        """adapters: the policy trains LoRA adapters, so the init run as reference is the policy with them off."""
        from lmlab.runs import load_run

        if ctx.resuming:
            source, record = ctx.run, ctx.record
        else:
            record = policy_record(s.init, "policy")
            source = RunFolder(s.init)
        init_run = RunFolder(s.init)
        s.ref = s.ref or s.init
        tokenizer = source.tokenizer()
        reward = Reward(s.reward, tokenizer, ctx.device)
        model_config = section_from_dict(ModelConfig, {**record["model"], "dropout": s.dropout}, str(source.path))
        check_reference(s.ref, source, model_config.block_size)  # a causal GPT with the policy's tokenizer, context
        free = adapters and Path(s.ref).resolve() == Path(s.init).resolve()
        ref = None if free else load_run(s.ref, ctx.device).model.requires_grad_(False)
        pool = PromptPool(reward.task, s.prompts, t.seed, tokenizer, model_config.block_size, s.max_new_tokens,
                          s.chat_max_new_tokens)  # fmt: skip
        buffer = RolloutBuffer(t.seed, ctx.dist.rank, ctx.dist.world_size, t.grad_accum, t.batch_size, s)
        dtype = resolve_dtype(t.dtype, ctx.device)
        return cls(source, record, init_run, tokenizer, model_config, reward, ref, pool, buffer, dtype)

    def record_entries(self) -> dict:
        """The run record's entries on the data: the corpus of the policy, and the prompts rollouts draw from."""
        prompts = {"task": self.reward.task, "prompts": len(self.pool), "too_long": self.pool.too_long}
        return {"corpus": self.record.get("corpus"), "rl_prompts": prompts}


def warn_negative_kl(kl: float):
    print(
        f"lmlab: warning: the estimated KL to the reference is negative ({kl:.3g} nats per response): the responses "
        "were not sampled from the distribution the KL scores (another sampler, or a policy changed in between)",
        file=sys.stderr,
    )
