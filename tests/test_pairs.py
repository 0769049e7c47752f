"""Stage 3's data: pairing a policy's own samples (lmlab.stages.pairs), and the judges that rank them."""

import json

import pytest

from lmlab.data.preference_tasks import Prompt, fitting
from lmlab.data.preferences import encode_prompt, read_pairs
from lmlab.errors import LmlabError
from lmlab.eval.judges import SentimentJudge, TaskJudge, load_judge
from lmlab.runs import load_run
from lmlab.stages.pairs import build_pairs, choose_pair
from lmlab.stages.pretrain import PretrainConfig, pretrain

SENTIMENT = Prompt("The sky is")
TASK = Prompt("What is 2 + 3?", "add_1d", "5")


# ---- choose_pair ----------------------------------------------------------------------------
def test_sentiment_pair_is_the_highest_and_the_lowest_scored_sample():
    assert choose_pair(SENTIMENT, ["a", "b", "c", "d"], [0.1, 0.9, -0.4, 0.3], 0.1) == ("b", 0.9, "c", -0.4)


def test_sentiment_gives_no_pair_when_the_gap_is_below_min_gap():
    assert choose_pair(SENTIMENT, ["a", "b", "c"], [0.2, 0.25, 0.21], min_gap=0.1) is None
    # A gap of exactly min_gap is kept (binary-exact numbers: 0.3 - 0.2 < 0.1 in floating point).
    assert choose_pair(SENTIMENT, ["a", "b"], [0.25, 0.5], min_gap=0.25) == ("b", 0.5, "a", 0.25)


def test_sentiment_never_pairs_empty_samples_and_needs_two_non_empty_ones():
    assert choose_pair(SENTIMENT, ["", "good", " \n", "bad"], [0.9, 0.5, -0.9, -0.5], 0.1) == ("good", 0.5, "bad", -0.5)
    assert choose_pair(SENTIMENT, ["", "good", "  "], [0.0, 0.8, -0.9], 0.1) is None
    assert choose_pair(SENTIMENT, ["", ""], [0.0, 0.0], 0.0) is None


def test_tasks_prefer_a_correct_sample_over_the_reference_answer():
    assert choose_pair(TASK, ["4", "5 ", "6"], [0.0, 1.0, 0.0], 0.1) == ("5 ", 1.0, "4", 0.0)


def test_tasks_choose_the_reference_answer_when_no_sample_is_correct():
    assert choose_pair(TASK, ["4", "6"], [0.0, 0.0], 0.1) == ("5", 1.0, "4", 0.0)


def test_tasks_give_no_pair_when_every_non_empty_sample_is_correct():
    assert choose_pair(TASK, ["5", "5", " 5"], [1.0, 1.0, 1.0], 0.1) is None
    assert choose_pair(TASK, ["5", ""], [1.0, 0.0], 0.1) is None  # the empty sample is not a wrong answer
    assert choose_pair(TASK, ["", "  "], [0.0, 0.0], 0.1) is None


# ---- judges ---------------------------------------------------------------------------------
def test_sentiment_judge_is_vaders_compound_score():
    judge = load_judge("sentiment")
    assert isinstance(judge, SentimentJudge) and judge.task == "sentiment"
    positive, negative, neutral = judge.score(
        [SENTIMENT] * 3, ["I love this, wonderful joy", "hate, terrible, death", "the"]
    )
    assert positive > 0.5 and negative < -0.5 and neutral == 0.0


def test_task_judge_grades_exact_match_after_whitespace_normalisation():
    judge = load_judge("tasks")
    assert isinstance(judge, TaskJudge) and judge.task == "tasks"
    spell = Prompt("Spell 'god' backwards.", "reverse_word", "d o g")
    prompts = [TASK, TASK, TASK, spell, spell, spell]
    responses = [" 5\n", "5.", "55", "d  o\tg ", "dog", "d o g x"]
    assert judge.score(prompts, responses) == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_an_unknown_judge_is_a_user_error(tmp_path):
    with pytest.raises(LmlabError, match="expected sentiment, tasks or a reward-model run folder"):
        load_judge(str(tmp_path / "nowhere"))


# ---- build_pairs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """A tiny causal LM with a 128-token char context, so that most task prompts fit with room to answer."""
    root = tmp_path_factory.mktemp("pairs")
    corpus = root / "corpus.txt"
    lines = [f"What is {i} + {j}? {i + j}. Spell 'god' backwards: d o g.\n" for i in range(30) for j in range(30)]
    corpus.write_text("".join(lines))
    overrides = dict(data=str(corpus), max_iters=2, block_size=128, dtype="float32", progress=False)
    return pretrain(PretrainConfig.build("tiny", overrides=overrides), out=root / "pre")


def settings(policy, **overrides) -> dict:
    return {**dict(init=str(policy), max_new_tokens=4, samples=3, device="cpu", progress=False), **overrides}


def test_task_pairs_are_written_read_back_and_counted(policy, tmp_path):
    out = build_pairs(out=tmp_path / "p", **settings(policy, task="tasks", prompts=10))
    pairs, identical = read_pairs(out / "pairs.jsonl")
    info = json.loads((out / "info.json").read_text())
    assert identical == 0 and info["pairs"] == len(pairs) > 0
    assert info["task"] == "tasks" and info["samples_per_prompt"] == 3
    assert info["prompts"] + info["prompts_too_long"] == 10 and info["prompts"] >= len(pairs)
    assert 0 <= info["sample_score_mean"] <= 1
    for pair in pairs:
        assert pair.conversational and pair.prompt[-1]["role"] == "user"
        assert pair.chosen.strip() and pair.rejected.strip() and pair.chosen != pair.rejected
        assert pair.extra["chosen_score"] == 1.0 and pair.extra["rejected_score"] == 0.0
    with pytest.raises(LmlabError, match="already holds pairs.jsonl"):
        build_pairs(out=out, **settings(policy, task="tasks", prompts=10))
    assert json.loads((out / "info.json").read_text()) == info  # the refused call wrote nothing


def test_sentiment_pairs_are_plain_text_ranked_by_the_judge(policy, tmp_path, monkeypatch):
    """The sentiment path with a stand-in judge (an untrained model's samples score 0 with VADER): longer is better."""

    class LengthJudge:
        task = "sentiment"

        def score(self, prompts, responses):
            return [len(r.strip()) / 10 for r in responses]

    monkeypatch.setattr("lmlab.stages.pairs.load_judge", lambda task, device: LengthJudge())
    out = build_pairs(out=tmp_path / "p", **settings(policy, task="sentiment", prompts=6, samples=4, min_gap=0.0))
    pairs, _ = read_pairs(out)
    assert pairs and all(isinstance(p.prompt, str) for p in pairs)
    for pair in pairs:
        assert len(pair.chosen.strip()) >= len(pair.rejected.strip())
        assert pair.extra["chosen_score"] == len(pair.chosen.strip()) / 10


def test_fitting_keeps_the_prompts_that_leave_room_for_the_new_tokens(policy):
    model, tokenizer, _ = load_run(policy)
    prompts = [Prompt("a" * n) for n in (10, 100, 120, 121, 200)]
    kept, dropped = fitting(prompts, tokenizer, model, max_new_tokens=8)  # room: 128 - 8 = 120 tokens
    assert [len(encode_prompt(tokenizer, p.text)) for p in kept] == [10, 100, 120] and dropped == 2
