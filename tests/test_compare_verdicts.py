"""Every verdict of `lmlab compare` follows from its section's numbers by the rule the section states: each rule on
made-up results for each outcome (supports, partly, does not support, not measured)."""

import numpy as np
import pytest

from lmlab.experiments.compare import CompareSettings, crossover_point, lm_section
from lmlab.experiments.compare.context import verdict_of
from lmlab.experiments.compare.recall import recall_verdict
from lmlab.inspect.senses import SenseResult, sense_test

BUDGETS = (10, 20, 40)


def lm_results(curves: dict[str, list[tuple[float, float]]]) -> dict:
    """Made-up section-1 results: arch -> per budget (mean, sd) from two seeds at mean - sd and mean + sd."""
    runs = []
    for arch, points in curves.items():
        for seed, sign in enumerate((-1, 1)):
            bpb = {b: m + sign * s / np.sqrt(2) for b, (m, s) in zip(BUDGETS, points)}
            runs.append({"arch": arch, "width": 64, "seed": seed, "params": 1000, "bpb": bpb})
    speed = {f"{a}/64": {"tokens_per_s": 1.0, "tokens_per_s_min": 1.0, "tokens_per_s_max": 1.0} for a in curves}
    return {"sizes": (64,), "budgets": BUDGETS, "runs": runs, "speed": speed, "unigram_bpb": 4.5}


def test_crossover_needs_the_gpt_ahead_beyond_the_seed_spread_and_staying_ahead():
    lm = lm_results({
        "gpt": [(3.0, 0.01), (2.0, 0.01), (1.5, 0.01)],
        "rnn": [(2.5, 0.01), (2.1, 0.01), (1.9, 0.01)],  # passed at 20 s, clear of the spread
        "lstm": [(2.5, 0.2), (2.05, 0.2), (1.6, 0.2)],  # below in mean from 20 s, but within the spread
        "gru": [(2.0, 0.01), (1.9, 0.01), (1.4, 0.01)],  # never passed
    })  # fmt: skip
    assert crossover_point(lm, "rnn") == 20
    assert crossover_point(lm, "lstm") is None
    assert crossover_point(lm, "gru") is None
    lm["runs"] = [r for r in lm["runs"] if r["arch"] != "gru"]  # a GPT that falls back behind does not count
    for r in lm["runs"]:
        if r["arch"] == "rnn":
            r["bpb"][40] = 1.2
    assert crossover_point(lm, "rnn") is None


@pytest.mark.parametrize(
    "rnn_last,lstm_last,gru_last,gpt_last,verdict",
    [
        (1.9, 1.9, 1.9, 1.5, "measurement supports"),
        (1.9, 1.4, 1.4, 1.5, "partly supports"),
        (1.4, 1.4, 1.4, 1.5, "does not support"),
        (1.9, 1.9, 1.9, 4.4, "says nothing"),  # the GPT did not learn (above 90% of the unigram bpb)
    ],
)
def test_the_crossover_verdict(rnn_last, lstm_last, gru_last, gpt_last, verdict):
    lm = lm_results({
        "rnn": [(2.0, 0.01), (1.95, 0.01), (rnn_last, 0.01)], "lstm": [(2.0, 0.01), (1.95, 0.01), (lstm_last, 0.01)],
        "gru": [(2.0, 0.01), (1.95, 0.01), (gru_last, 0.01)], "gpt": [(3.0, 0.01), (2.5, 0.01), (gpt_last, 0.01)],
    })  # fmt: skip
    text = " ".join(lm_section(lm, CompareSettings(budgets="10,20,40", seeds=2)))
    assert verdict in text


def recall_results(rnn_k1: float, lstm: dict, gru: dict, gpt_top: float = 1.0) -> dict:
    Ks = (1, 2, 8)

    def model(by_pairs, by_gap):
        return {"by_pairs": dict(zip(Ks, by_pairs)), "by_gap": dict(zip((0, 64), by_gap)), "state": 100}

    return {
        "rnn": model((rnn_k1, 0.8, 0.12), (rnn_k1, 0.05)),
        "lstm": model(lstm["K"], lstm["gap"]),
        "gru": model(gru["K"], gru["gap"]),
        "gpt": model((1.0, 1.0, gpt_top), (1.0, 1.0)),
        "_task": {"chance": 1 / 128, "keys": 128},
    }


@pytest.mark.parametrize(
    "lstm,gru,verdict",
    [
        ({"K": (1.0, 0.9, 0.2), "gap": (1.0, 0.5)}, {"K": (1.0, 0.9, 0.3), "gap": (1.0, 1.0)}, "measurement supports"),
        # at the values-only baseline (1/K) at every K > 1: its fall with K says nothing of its state
        ({"K": (1.0, 0.5, 0.12), "gap": (1.0, 1.0)}, {"K": (1.0, 0.9, 0.3), "gap": (1.0, 1.0)}, "partly supports"),
        ({"K": (1.0, 0.9, 0.95), "gap": (1.0, 1.0)}, {"K": (1.0, 0.9, 0.95), "gap": (1.0, 1.0)}, "partly supports"),
    ],
)
def test_the_recall_verdict(lstm, gru, verdict):
    text = " ".join(recall_verdict(recall_results(1.0, lstm, gru), (1, 2, 8), (0, 64)))
    assert verdict in text
    assert "forgets with the gap: rnn" in text  # the plain RNN falls from 100% to 5% over the gap


def test_the_recall_verdict_names_what_it_cannot_compare():
    flat = {"K": (1.0, 0.5, 0.12), "gap": (1.0, 1.0)}
    text = " ".join(recall_verdict(recall_results(0.02, flat, flat), (1, 2, 8), (0, 64)))
    assert "rnn did not learn" in text and "scores no more than the values-only baseline" in text
    strong = {"K": (1.0, 1.0, 1.0), "gap": (1.0, 1.0)}
    assert "does not support" in " ".join(recall_verdict(recall_results(0.02, strong, strong), (1, 2, 8), (0, 64)))
    broken = recall_results(1.0, flat, flat)
    broken["gpt"]["by_pairs"][1] = 0.3
    assert "says nothing" in " ".join(recall_verdict(broken, (1, 2, 8), (0, 64)))


def sense(p: float, mixing_last: float) -> SenseResult:
    return SenseResult("bank", ("river", "money"), ["embedding", "layer 1"], within=[1.0, 0.8], across=[1.0, 0.7],
                       null_sd=[0.0, 0.02], mixing=[1.0, mixing_last], p=p, splits=126)  # fmt: skip


@pytest.mark.parametrize(
    "gpt,verdict",
    [
        ([sense(0.01, 0.7)] * 3, "measurement supports"),
        ([sense(0.01, 0.7), sense(0.5, 0.7), sense(0.5, 0.7)], "partly supports"),  # mixes, separates one word of 3
        ([sense(0.5, 0.99)] * 3, "does not support"),
    ],
)
def test_the_sense_verdict(gpt, verdict):
    curves = {"gpt": {"results": gpt}, "lstm": {"results": [sense(0.5, 0.99)] * 3}}
    text = verdict_of(curves)
    assert verdict in text
    assert "lstm" not in text.split("Separates senses")[1].split(".")[0]


def test_the_sense_verdict_without_a_gpt_is_not_measured():
    assert "not measured" in verdict_of({"lstm": {"results": [sense(0.01, 0.7)]}})


def test_the_sense_test_is_exact_and_finds_only_real_separation():
    rng = np.random.default_rng(0)
    n, layers = 8, 3
    groups = np.arange(n) < 4
    noise = rng.normal(0, 0.01, (layers, n, n))
    sim = 0.6 + (noise + noise.transpose(0, 2, 1)) / 2
    separated = sim.copy()
    separated[2][groups[:, None] == groups[None, :]] += 0.2  # the last layer tells the senses apart
    gap, sd, p, splits = sense_test(separated, 4)
    assert splits == 35  # every split of 8 sentences into 4 + 4, each once
    assert p == pytest.approx(1 / 35) and gap[2] == pytest.approx(0.2, abs=0.02) and sd[2] > 0
    _, _, p_null, _ = sense_test(sim, 4)
    assert p_null > 0.05
    swapped = separated.copy()
    swapped[2][groups[:, None] == groups[None, :]] -= 0.4  # same-sense pairs *less* alike: no separation
    assert sense_test(swapped, 4)[2] > 0.05


def test_a_systematic_but_tiny_difference_does_not_separate_senses():
    """A character model's states at a word's last letter differ in the third decimal by the letters before it."""
    tiny = SenseResult("left", ("side", "went"), ["embedding", "layer 1"], within=[1.0, 0.9995], across=[1.0, 0.9990],
                       null_sd=[0.0, 0.0001], mixing=[1.0, 0.999], p=0.008, splits=126)  # fmt: skip
    assert not tiny.separates and sense(0.008, 0.7).separates


def test_a_run_given_with_from_joins_section_5_and_can_carry_its_verdict():
    from lmlab.experiments.compare.context import context_models

    lm = {"main": {a: f"runs/lm-{a}" for a in ("rnn", "lstm", "gru", "gpt")}}
    models = context_models(lm, CompareSettings(senses_run="runs/run-1/pretrain"))
    assert list(models) == ["rnn", "lstm", "gru", "gpt", "pretrain (--from)"]
    assert models["pretrain (--from)"] == "runs/run-1/pretrain"
    assert list(context_models(lm, CompareSettings())) == ["rnn", "lstm", "gru", "gpt"]
    flat = {"results": [sense(0.5, 0.99)] * 3}
    curves = {
        "rnn": flat,
        "lstm": flat,
        "gru": flat,
        "gpt": flat,
        "pretrain (--from)": {"results": [sense(0.01, 0.7)] * 3},
    }
    assert "measurement supports" in verdict_of(curves)  # a model that knows the words separates them
