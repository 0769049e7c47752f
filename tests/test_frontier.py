"""`lmlab frontier` end to end on conftest's tiny sentiment policy, with the tiny preset of every stage."""

import json

import pytest

from lmlab import cli
from lmlab.eval.preference import evaluate_preference
from lmlab.experiments.frontier import FrontierConfig


def test_frontier_writes_a_png_a_table_and_a_point_per_setting(sentiment_policy, tmp_path, capsys):
    out = tmp_path / "frontier"
    args = ["frontier", "--init", str(sentiment_policy), "--out", str(out), "--stage-preset", "tiny",
            "--dpo-betas", "0.1,1", "--ppo-kl-coefs", "0.05", "--best-of", "2,4", "--n", "16", "--device", "cpu",
            "--no-progress"]  # fmt: skip
    assert cli.main(args) == 0
    result = json.loads((out / "frontier.json").read_text())
    settings = [(p["method"], p["setting"]) for p in result["points"]]
    assert settings == [("DPO", "beta=0.1"), ("DPO", "beta=1"), ("PPO (reward model)", "beta=0.05"),
                        ("PPO (true reward)", "beta=0.05"), ("best-of-N", "N=2"), ("best-of-N", "N=4")]  # fmt: skip
    seed = FrontierConfig().frontier.seed
    for p in result["points"][:4]:  # each trained point is its run's own evaluation, which a rerun reproduces
        again = evaluate_preference(p["run"], "sentiment", n=16, seed=seed, device="cpu")
        assert (p["reward"], p["kl"], p["win_rate"]) == (again["reward"], again["kl"], again["win_rate"]), p
    best_of = [p["kl"] for p in result["points"] if p["method"] == "best-of-N"]
    assert best_of == [0.6931471805599453 - 0.5, 1.3862943611198906 - 0.75]  # log N - (N - 1) / N
    for p in result["points"]:  # length beside the KL: the KL per token is the summed KL over the summed length
        assert 0 < p["length_mean"] <= 24 and 0 <= p["length_at_limit"] <= 1
        assert p["kl_per_token"] * p["length_mean"] == pytest.approx(p["kl"], rel=1e-9, abs=1e-12), p
    assert set(result["sft"]) >= {"length_mean", "length_median", "length_at_limit"}
    assert (out / "frontier.png").stat().st_size > 10_000
    table = (out / "frontier.md").read_text()
    assert "KL per token" in table and "length (tokens)" in table
    assert "| DPO, beta=0.1 |" in table and "| best-of-N, N=4 |" in table and "![frontier](frontier.png)" in table
    assert "frontier.md" in capsys.readouterr().out
    assert "SFT log-lik/token" in table and all(p["ref_logp_per_token"] < 0 for p in result["points"])

    # the same trained runs measured again at a fixed length: nothing trained, every response 24 tokens
    fixed_out = tmp_path / "fixed"
    assert cli.main([*args[:4], str(fixed_out), *args[5:], "--runs-from", str(out), "--fixed-length"]) == 0
    fixed = json.loads((fixed_out / "frontier.json").read_text())
    assert sorted(p.name for p in fixed_out.iterdir()) == ["frontier.json", "frontier.md", "frontier.png"]
    assert [p["run"] for p in fixed["points"][:4]] == [p["run"] for p in result["points"][:4]]
    assert fixed["reward_model"] == result["reward_model"] and fixed["fixed_length"] is True
    for p in [fixed["sft"], *fixed["points"]]:
        assert p["length_mean"] == p["length_median"] == 24 and p["length_at_limit"] == 1.0, p
    again = evaluate_preference(
        fixed["points"][0]["run"], "sentiment", n=16, seed=seed, device="cpu", fixed_length=True
    )
    assert (fixed["points"][0]["reward"], fixed["points"][0]["kl"]) == (again["reward"], again["kl"])
    assert cli.main([*args[:4], str(tmp_path / "x"), *args[5:], "--runs-from", str(tmp_path / "none")]) == 2
    assert "frontier.json: missing" in capsys.readouterr().err
