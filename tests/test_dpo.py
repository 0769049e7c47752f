"""DPO as a stage: real runs of `lmlab dpo` on a tiny pretrained policy and a small pairs file.

The policy is a 2-step tiny GPT (char tokenizer, fp32); any causal-LM run serves as init and reference.
Its context is 128 tokens so that the held-out sentiment prompts fit for evaluate_preference.
"""

import hashlib
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lmlab import cli
from lmlab.config import TrainConfig
from lmlab.data.preference_tasks import Prompt, fitting, task_prompts
from lmlab.data.preferences import collate_pairs, prepare_pairs
from lmlab.errors import LmlabError
from lmlab.eval.judges import load_judge
from lmlab.eval.preference import evaluate_preference, response_logps
from lmlab.inference.generate import generate_batch, sample_responses, sample_text, stop_ids
from lmlab.runs import RunFolder, load_run
from lmlab.stages.dpo import LOSSES, DPOConfig, DPOSection, compute_logps, dpo, make_loss, reference_logps
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.reward import RewardConfig, reward
from lmlab.trainer import Trainer

FP32 = dict(dtype="float32", progress=False)


def corpus_lines() -> list[str]:
    return [
        f"{name} {i}:{j} the word of the verse number {i * j}.\n"
        for i in range(1, 30)
        for j in range(1, 20)
        for name in ("Genesis", "John")
    ]


def tiny_run(root, lines: list[str], name: str, block_size: int = 128):
    corpus = root / f"{name}.txt"
    corpus.write_text("".join(lines))
    overrides = dict(data=str(corpus), max_iters=2, block_size=block_size, **FP32)
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / name)


def standard_rows(n: int = 64) -> list[dict]:
    """Short plain-text pairs of varied prompt and response lengths."""
    return [
        {
            "prompt": f"verse {i} " + "ab"[i % 2] * (1 + i % 5),
            "chosen": " good" + " word" * (i % 3),
            "rejected": " bad" + "." * (1 + i % 4),
        }
        for i in range(n)
    ]


def conversational_rows(n: int = 40) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"What is {i} + 1?"}],
            "chosen": [{"role": "assistant", "content": str(i + 1)}],
            "rejected": [{"role": "assistant", "content": str(i + 2) + "!" * (i % 3)}],
        }
        for i in range(n)
    ]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("dpo")


@pytest.fixture(scope="module")
def policy(root):
    return tiny_run(root, corpus_lines(), "pre")


@pytest.fixture(scope="module")
def pairs(root):
    return write_jsonl(root / "pairs.jsonl", standard_rows())


@pytest.fixture(scope="module")
def chat_pairs(root):
    return write_jsonl(root / "chat-pairs.jsonl", conversational_rows())


@pytest.fixture(scope="module")
def dpo_run(root, policy, pairs):
    return dpo(DPOConfig.build("tiny"), init=policy, data=pairs, out=root / "dpo", overrides=FP32)


def logged(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def folder_hashes(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("data", ["standard", "conversational"])
def test_first_step_of_a_sigmoid_run_has_loss_ln_2_and_zero_rewards(policy, pairs, chat_pairs, tmp_path, data):
    """At step 0 the policy is the reference, so h = 0: the logged loss is ln 2 and every implicit reward 0."""
    overrides = dict(max_iters=2, log_interval=1, loss="sigmoid", **FP32)
    run = dpo(init=policy, data=pairs if data == "standard" else chat_pairs, out=tmp_path / "d", overrides=overrides)
    first = logged(run)[0]
    assert first["step"] == 1
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    for name in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert first[name] == pytest.approx(0.0, abs=1e-6), name
    assert first["logps/chosen"] < 0 and first["logps/rejected"] < 0


@pytest.mark.parametrize("loss", ["sigmoid", "simpo", "ipo_norm"])
def test_gradient_of_one_batch_of_8_pairs_equals_accumulating_8_batches_of_1(policy, pairs, loss):
    tokenizer = RunFolder(policy).tokenizer()
    pad = tokenizer.special_id("<|pad|>")
    train = prepare_pairs(pairs, tokenizer, 129).train
    ref = compute_logps(load_run(policy).model, train, pad, torch.device("cpu"), torch.float32)
    lengths = [len(p) + max(len(c), len(r)) for p, c, r in zip(train.prompts, train.chosen, train.rejected)]
    assert len(set(lengths[:8])) > 1  # the batch of 8 pads some pairs

    def batch(indices):
        out = collate_pairs(train, indices, pad, max(lengths[i] for i in indices) - 1)
        return {**out, "ref_chosen": torch.as_tensor(ref[indices, 0]), "ref_rejected": torch.as_tensor(ref[indices, 1])}

    grads = []
    for accum, batch_fn in [(1, lambda i: batch(list(range(8)))), (8, lambda i: batch([i]))]:
        model = load_run(policy).model.train()
        cfg = TrainConfig(grad_accum=accum, batch_size=8 // accum, grad_clip=0.0, dtype="float32", progress=False)
        trainer = Trainer(model, cfg, None, batch_fn, make_loss(DPOSection(loss=loss)))
        trainer.optimizer.step = lambda: grads.append([p.grad.clone() for p in model.parameters()])
        trainer.train_step(model)
    assert any(g.abs().max() > 1e-4 for g in grads[0])  # the gradients being compared are not all ~0
    # fp32 rounding of sums in another order: ~1e-7 for gradients of ~0.1 (sigmoid, simpo); ipo_norm's reach ~6,
    # hence the relative 1e-5 (a wrong normalisation or a missed pair changes them by far more).
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(*grads))


def test_dpo_resumed_mid_run_ends_bitwise_like_the_uninterrupted_run(policy, pairs, tmp_path):
    """2 steps of a 4-step schedule, then --resume to 4 == 4 steps straight (with dropout in the policy)."""
    cfg = dict(max_iters=2, lr_decay_iters=4, warmup_iters=1, batch_size=4, eval_interval=2, log_interval=1,
               lr=1e-3, dropout=0.1, **FP32)  # fmt: skip
    stopped = dpo(init=policy, data=pairs, out=tmp_path / "a", overrides=cfg)
    dpo(resume=stopped, overrides={"max_iters": 4})
    straight = dpo(init=policy, data=pairs, out=tmp_path / "b", overrides={**cfg, "max_iters": 4})
    a, b = load_file(stopped / "model.safetensors"), load_file(straight / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    steps_and_losses = [[(r["step"], r["loss"]) for r in logged(run)] for run in (stopped, straight)]
    assert steps_and_losses[0] == steps_and_losses[1] and len(steps_and_losses[1]) == 4
    start = load_file(policy / "model.safetensors")
    assert not all(torch.equal(a[k], start[k]) for k in a)  # it trained


def test_a_second_run_on_the_same_pairs_and_reference_reads_the_cached_reference_logps(
    policy, pairs, tmp_path, monkeypatch
):
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "cache"))
    overrides = dict(max_iters=1, **FP32)
    dpo(init=policy, data=pairs, out=tmp_path / "first", overrides=overrides)
    cached = sorted((tmp_path / "cache" / "ref-logps").glob("*.npy"))
    assert len(cached) == 2  # the training and the held-out pairs

    def no_reference_model(*args, **kwargs):
        raise AssertionError("the reference model was loaded although its log-probs are cached")

    monkeypatch.setattr("lmlab.stages.dpo.load_run", no_reference_model)
    second = dpo(init=policy, data=pairs, out=tmp_path / "second", overrides={**overrides, "beta": 0.5})
    assert logged(second)[-1]["step"] == 1
    assert sorted((tmp_path / "cache" / "ref-logps").glob("*.npy")) == cached

    tokenizer = RunFolder(policy).tokenizer()
    pad, cpu = tokenizer.special_id("<|pad|>"), torch.device("cpu")
    splits = prepare_pairs(pairs, tokenizer, 129)
    model = load_run(policy).model
    for split in (splits.train, splits.val):
        from_cache = reference_logps(str(policy), split, pad, cpu, torch.float32)  # load_run would raise
        assert from_cache.shape == (len(split), 2)
        np.testing.assert_allclose(from_cache, compute_logps(model, split, pad, cpu, torch.float32), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def reward_run(root, policy, pairs):
    return reward(
        RewardConfig.build("tiny"), init=policy, data=pairs, out=root / "rm", overrides=dict(max_iters=1, **FP32)
    )


@pytest.fixture(scope="module")
def other_tokenizer_run(root):
    """A causal LM whose char vocabulary differs from the policy's (another corpus)."""
    return tiny_run(root, [f"XYZ {i} qqq! @ {i * 7}\n" for i in range(3000)], "other")


def test_bad_input_is_one_line_exit_code_2_and_touches_no_run(
    policy, pairs, reward_run, other_tokenizer_run, tmp_path, capsys
):
    missing = write_jsonl(tmp_path / "missing.jsonl", standard_rows(3))
    missing.write_text(missing.read_text() + json.dumps({"prompt": "a", "chosen": "b"}) + "\n")
    cases = [
        (["--init", str(reward_run)], "the policy must be a causal LM"),
        (["--ref", str(other_tokenizer_run)], "the reference has another tokenizer than the policy"),
        (["--data", str(missing)], f"{missing}:4: missing field 'rejected'"),
        (["--loss", "kto"], "loss must be one of sigmoid"),
    ]
    runs = (policy, reward_run, other_tokenizer_run)
    before = {run: folder_hashes(run) for run in runs}
    for k, (flags, message) in enumerate(cases):
        base = {"--init": str(policy), "--data": str(pairs), "--out": str(tmp_path / f"out{k}")}
        base.update(dict(zip(flags[::2], flags[1::2])))
        args = ["dpo", *[x for item in base.items() for x in item], "--no-progress", "--max-iters", "1"]
        capsys.readouterr()
        assert cli.main(args) == 2, flags
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("lmlab: error: ") and message in err[0], (flags, err)
        assert not (tmp_path / f"out{k}").exists()  # a refused run leaves no folder behind
    assert {run: folder_hashes(run) for run in runs} == before


def test_a_dpo_run_is_an_ordinary_causal_lm_run(dpo_run, capsys):
    model, tokenizer, record = load_run(dpo_run)
    assert record["stage"] == "dpo" and record["model_kind"] == "causal-lm" and model.config.block_size == 128
    text = "".join(sample_text(dpo_run, prompt="the", max_new_tokens=8, temperature=0, device="cpu"))
    assert text.startswith("the") and len(text) > len("the")
    assert cli.main(["eval", str(dpo_run), "--device", "cpu", "--max-tokens", "512"]) == 0
    assert "val_loss" in capsys.readouterr().out


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_trains_two_steps(policy, pairs, tmp_path, loss):
    run = dpo(
        DPOConfig.build("tiny"),
        init=policy,
        data=pairs,
        out=tmp_path / "d",
        overrides=dict(loss=loss, max_iters=2, **FP32),
    )
    records = logged(run)
    assert [r["step"] for r in records] == [1, 2]
    assert all(math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"]) for r in records)
    assert math.isfinite(records[-1]["val_loss"])


@pytest.mark.parametrize("loss", ["simpo", "orpo"])
def test_reference_free_losses_never_score_pairs_with_the_reference(policy, pairs, tmp_path, loss, monkeypatch):
    """simpo and orpo train without reference log-probs; the run still records the init run as its reference,
    the model its KL is measured against."""
    monkeypatch.setattr("lmlab.stages.dpo.reference_logps", lambda *a, **k: pytest.fail("reference scored"))
    overrides = dict(loss=loss, max_iters=1, **FP32)
    run = dpo(DPOConfig.build("tiny"), init=policy, data=pairs, out=tmp_path / "d", overrides=overrides)
    assert math.isfinite(logged(run)[-1]["loss"])
    assert RunFolder(run).read_config()["dpo"]["ref"] == str(policy)


def test_response_logps_is_the_sum_of_the_response_tokens_log_probs(policy, monkeypatch):
    monkeypatch.setattr("lmlab.device.cpu_has_bf16", lambda: False)  # "auto" precision is fp32 here
    model = load_run(policy).model
    torch.manual_seed(1)
    prompts = [torch.randint(0, 300, (n,)).tolist() for n in (3, 1, 7, 4)]
    responses = [torch.randint(0, 300, (n,)).tolist() for n in (5, 2, 1, 0)]  # the last one empty: log p = 0
    got = response_logps(model, prompts, responses, torch.device("cpu"), batch_size=3)  # two batches
    with torch.no_grad():
        for p, r, value in zip(prompts, responses, got):
            logps = F.log_softmax(model(torch.tensor([p + r]))[0].double(), -1)  # (T, V)
            expected = sum(float(logps[len(p) - 1 + k, t]) for k, t in enumerate(r))
            assert value == pytest.approx(expected, abs=1e-5)
    assert got[-1] == 0.0


def test_evaluate_preference_of_a_dpo_run_gives_reward_win_rate_and_kl(dpo_run, policy):
    result = evaluate_preference(dpo_run, "sentiment", n=6, max_new_tokens=6, device="cpu")
    assert result["prompts"] == 6 and result["prompts_too_long"] == 0 and result["against"] == str(policy)
    examples = result["examples"]  # every prompt's response, with VADER's score of it
    assert len(examples) == 6 and [e["prompt"] for e in examples] == [
        p.text for p in task_prompts("sentiment", "test", 6)
    ]
    vader = load_judge("sentiment")
    assert [e["reward"] for e in examples] == vader.score(
        [Prompt(e["prompt"]) for e in examples], [e["response"] for e in examples]
    )
    assert result["reward"] == pytest.approx(sum(e["reward"] for e in examples) / 6)
    assert (12 * result["win_rate"]).is_integer()  # 6 comparisons, a tie counts a half
    assert math.isfinite(result["kl"])


class Stopper(torch.nn.Module):
    """A run's model that wants to stop: +30 on the stop ids' logits, so it ends nearly every response at once."""

    def __init__(self, model, stop):
        super().__init__()
        self.model, self.stop, self.config = model, list(stop), model.config

    def new_cache(self, *args):
        return self.model.new_cache(*args)

    def forward(self, *args, **kwargs):
        logits = self.model(*args, **kwargs).clone()
        logits[..., self.stop] += 30.0
        return logits


def test_fixed_length_sampling_never_draws_a_stop_token(policy):
    loaded = load_run(policy)
    stop = (loaded.tokenizer.special_id("<|end|>"), loaded.tokenizer.eos_id)
    model = Stopper(loaded.model, stop)
    prompts = [loaded.tokenizer.encode(t) for t in ("verse 1 a", "verse 2 b", "verse 33 c")]
    free = generate_batch(model, prompts, 10, stop_ids=stop, include_stop=True, seed=0)
    assert all(len(r) == 1 and r[0] in stop for r in free)  # it stops at once
    fixed = generate_batch(model, prompts, 10, stop_ids=stop, include_stop=True, seed=0, suppress_ids=stop)
    assert all(len(r) == 10 and not set(r) & set(stop) for r in fixed), fixed


def test_fixed_length_log_probs_are_the_model_renormalised_without_the_stop_tokens(policy):
    loaded = load_run(policy)
    stop = (loaded.tokenizer.special_id("<|end|>"), loaded.tokenizer.eos_id)
    model = Stopper(loaded.model, stop)  # the stop ids carry most of the mass: renormalising matters
    prompts, responses = [loaded.tokenizer.encode("verse 4 a")], [loaded.tokenizer.encode(" good day")]
    got = response_logps(model, prompts, responses, torch.device("cpu"), suppress_ids=stop)[0]
    with torch.no_grad():
        logps = F.log_softmax(model(torch.tensor([prompts[0] + responses[0]]))[0].double(), -1)
    p = len(prompts[0])
    # log pi(y_t) - log(1 - pi(stop at t)): the token's probability among the tokens fixed-length sampling draws
    expected = sum(float(logps[p - 1 + k, t] - torch.log1p(-logps[p - 1 + k, list(stop)].exp().sum()))
                   for k, t in enumerate(responses[0]))  # fmt: skip
    assert got == pytest.approx(expected, abs=1e-4)
    assert got > response_logps(model, prompts, responses, torch.device("cpu"))[0] + 20  # not the plain log-prob


def test_a_policy_equal_to_its_reference_has_no_kl_at_fixed_length_and_every_response_at_the_limit(root, policy, pairs):
    still = dpo(DPOConfig.build("tiny"), init=policy, data=pairs, out=root / "dpo-lr0",
                overrides=dict(lr=0.0, min_lr=0.0, **FP32))  # fmt: skip
    fixed = evaluate_preference(still, "sentiment", n=8, max_new_tokens=6, device="cpu", fixed_length=True)
    assert abs(fixed["kl"]) < 1e-4 and abs(fixed["kl_per_token"]) < 1e-5
    assert fixed["length_mean"] == fixed["length_median"] == 6 and fixed["length_at_limit"] == 1.0
    free = evaluate_preference(still, "sentiment", n=8, max_new_tokens=6, device="cpu")
    assert abs(free["kl"]) < 1e-4 and free["fixed_length"] is False
    assert free["kl_per_token"] == pytest.approx(free["kl"] * 8 / (8 * free["length_mean"]), abs=1e-9)


@pytest.mark.parametrize("fixed", [False, True])
def test_fluency_is_the_sft_models_log_likelihood_of_the_policys_responses_per_token(dpo_run, policy, fixed):
    result = evaluate_preference(dpo_run, "sentiment", n=8, max_new_tokens=6, device="cpu", fixed_length=fixed)
    trained, sft = load_run(dpo_run), load_run(policy)
    prompts = fitting(task_prompts("sentiment", "test", 8), trained.tokenizer, trained.model, 6)[0]
    prompt_ids, responses, _ = sample_responses(trained.model, trained.tokenizer, [p.as_pair_prompt() for p in prompts],
                                                6, seed=0, include_stop=True, fixed_length=fixed)  # fmt: skip
    stop = stop_ids(trained.tokenizer) if fixed else ()
    cpu = torch.device("cpu")
    by_sft = response_logps(sft.model, prompt_ids, responses, cpu, suppress_ids=stop)
    by_itself = response_logps(trained.model, prompt_ids, responses, cpu, suppress_ids=stop)
    tokens = sum(len(r) for r in responses)
    assert result["ref_logp_per_token"] == pytest.approx(by_sft.sum() / tokens, abs=1e-6)
    assert np.abs(by_itself - by_sft).mean() > 1e-2  # the SFT model's, not the policy's own (they differ per response)
    assert result["kl_per_token"] == pytest.approx((by_itself.sum() - by_sft.sum()) / tokens, abs=1e-6)


def test_dpo_without_init_or_data_is_a_user_error(pairs):
    with pytest.raises(LmlabError, match="dpo needs --init RUN"):
        dpo(data=pairs)


# ---- inputs that once crashed deep inside -------------------------------------------------------------------
@pytest.mark.parametrize(
    "flags", [["--loss", "cdpo", "--label-smoothing", "0"], ["--loss", "robust", "--label-smoothing", "0.6"],
              ["--loss", "ipo", "--beta", "0"], ["--loss", "sigmoid", "--beta", "-1"]],
)  # fmt: skip
def test_loss_settings_out_of_range_are_one_line_errors_that_leave_no_folder(policy, pairs, tmp_path, capsys, flags):
    args = ["dpo", "--init", str(policy), "--data", str(pairs), "--out", str(tmp_path / "d"), "--max-iters", "1",
            "--no-progress", *flags]  # fmt: skip
    assert cli.main(args) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


@pytest.fixture(scope="module")
def short_context_run(root):
    """A causal LM with the policy's tokenizer (same corpus) but a 24-token context."""
    return tiny_run(root, corpus_lines(), "short", block_size=24)


def test_a_reference_with_a_shorter_context_than_the_policy_is_refused_in_one_line(
    policy, pairs, short_context_run, tmp_path, capsys
):
    """It could not score the pairs the policy scores: refused before any run folder is made."""
    assert RunFolder(short_context_run).tokenizer().sha256() == RunFolder(policy).tokenizer().sha256()
    args = ["dpo", "--init", str(policy), "--ref", str(short_context_run), "--data", str(pairs), "--out",
            str(tmp_path / "d"), "--max-iters", "1", "--dtype", "float32", "--no-progress"]  # fmt: skip
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "context (24 tokens) is shorter than the policy's" in err[0]
    assert not (tmp_path / "d").exists()


def test_evaluate_preference_against_a_run_with_a_shorter_context_asks_only_the_prompts_both_fit(
    dpo_run, short_context_run
):
    result = evaluate_preference(dpo_run, "sentiment", against=short_context_run, n=40, max_new_tokens=6, device="cpu")
    short = load_run(short_context_run)
    asked = task_prompts("sentiment", "test", 40)
    fits = fitting(asked, short.tokenizer, short.model, 6)[0]  # the 24-token context leaves 18 for a prompt
    assert 0 < result["prompts"] == len(fits) < 40 and result["prompts_too_long"] == 40 - len(fits)
    assert result["against"] == str(short_context_run) and "win_rate" in result


def test_a_reference_free_run_never_takes_a_reference_with_another_tokenizer(
    policy, pairs, other_tokenizer_run, tmp_path
):
    """Its KL is measured against the reference, so a reference whose tokens mean other text is refused up front,
    even for simpo, whose loss never reads the reference."""
    overrides = dict(loss="simpo", ref=str(other_tokenizer_run), max_iters=1, **FP32)
    with pytest.raises(LmlabError, match="the reference has another tokenizer than the policy"):
        dpo(DPOConfig.build("tiny"), init=policy, data=pairs, out=tmp_path / "d", overrides=overrides)
    assert not (tmp_path / "d").exists()


def test_rpo_adds_alpha_times_the_chosen_per_token_nll_to_the_dpo_loss():
    """RPO (Pang et al. 2024): DPO + alpha * NLL(chosen) / |chosen|; the DPO part and its metrics are unchanged."""
    from lmlab.stages.dpo import preference_loss

    logps = torch.tensor([-6.0, -9.0, -8.0, -7.5], dtype=torch.float64)  # 2 pairs: chosen, chosen, rejected, rejected
    counts = torch.tensor([3.0, 4.0, 2.0, 5.0], dtype=torch.float64)
    ref = torch.tensor([-6.5, -8.0, -7.0, -8.0], dtype=torch.float64)
    plain = preference_loss(DPOSection(beta=0.1), logps, counts, ref)
    rpo = preference_loss(DPOSection(beta=0.1, rpo_alpha=0.5), logps, counts, ref)
    assert float(rpo.sum) == pytest.approx(float(plain.sum) + 0.5 * (6.0 / 3 + 9.0 / 4), abs=1e-12)
    assert float(rpo.metrics["nll_loss"]) == pytest.approx(6.0 / 3 + 9.0 / 4)
    assert float(rpo.metrics["rewards/margins"]) == float(plain.metrics["rewards/margins"])
