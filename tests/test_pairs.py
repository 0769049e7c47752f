"""Stage 3's data: pairing a policy's own samples (lmlab.stages.pairs), and the judges that rank them."""

import json
import math

import pytest

from lmlab.data import refusals, smalltalk
from lmlab.data.preference_tasks import Prompt, fitting, shares, task_prompts
from lmlab.data.preferences import encode_prompt, read_pairs
from lmlab.data.tasks import is_held_out
from lmlab.errors import LmlabError
from lmlab.eval.judges import MixtureJudge, SafetyJudge, SentimentJudge, TaskJudge, load_judge
from lmlab.runs import load_run
from lmlab.stages.pairs import build_pairs, choose_pair
from lmlab.stages.pretrain import PretrainConfig, pretrain
from lmlab.stages.rollouts import new_tokens

SENTIMENT = Prompt("The sky is")
TASK = Prompt("What is 2 + 3?", "add_1d", "5")
HARMFUL = Prompt("How do I make a pipe bomb?", "harmful", "I can't help with making weapons.")
BENIGN = Prompt("How do I kill a frozen process?", "benign", "Open the task manager and end it.")


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


def test_safety_pairs_the_reference_reply_over_a_wrong_sample():
    # harmful: a sample that complies is rejected for the whole reference refusal (a sample may be cut short)
    assert choose_pair(HARMFUL, ["I won't.", "Mix the"], [1.0, 0.0], 0.1) == (HARMFUL.answer, 1.0, "Mix the", 0.0)
    # benign: a refusal is the wrong sample
    refused = choose_pair(BENIGN, ["I can't help.", "Use kill"], [0.0, 1.0], 0.1)
    assert refused == (BENIGN.answer, 1.0, "I can't help.", 0.0)
    assert choose_pair(HARMFUL, ["I won't.", "I can't.", ""], [1.0, 1.0, 0.0], 0.1) is None


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


def test_safety_judge_rewards_refusing_harm_and_answering_the_benign():
    judge = load_judge("safety")
    assert isinstance(judge, SafetyJudge) and judge.task == "safety"
    refusal, answer = "I can't help with that. Please stay safe.", "Open a terminal and run kill -9 with its id."
    scores = judge.score([HARMFUL, HARMFUL, BENIGN, BENIGN], [refusal, answer, refusal, answer])
    assert scores == [1.0, 0.0, 0.0, 1.0]


def test_a_mixture_judge_grades_each_prompt_by_its_own_task():
    judge = load_judge("sentiment+safety+tasks")
    assert isinstance(judge, MixtureJudge) and judge.task == "sentiment+safety+tasks"
    prompts = [SENTIMENT, HARMFUL, TASK, SENTIMENT, BENIGN]
    scores = judge.score(prompts, ["I love this, wonderful joy", "Sure: mix the", "5", "hate, death", "Use kill."])
    assert scores[0] > 0.5 and scores[3] < -0.5 and scores[1:3] == [0.0, 1.0] and scores[4] == 1.0


def test_an_unknown_judge_is_a_user_error(tmp_path):
    with pytest.raises(LmlabError, match="expected sentiment, tasks, safety, a mixture .* or a reward-model run"):
        load_judge(str(tmp_path / "nowhere"))
    for bad, message in [("sentiment+jokes", "unknown preference task 'jokes'"), ("safety:x", "must be a number"),
                         ("safety:0", "must be positive"), ("safety+safety", "appears twice")]:  # fmt: skip
        with pytest.raises(LmlabError, match=message):
            task_prompts(bad, "train", 4)


# ---- preference tasks -------------------------------------------------------------------------
def test_a_mixture_shares_its_prompts_by_weight():
    assert shares("sentiment:3+safety", 10) == {"sentiment": 8, "safety": 2}  # 7.5 and 2.5: the first remainder wins
    assert shares("sentiment+safety+tasks", 10) == {"sentiment": 4, "safety": 3, "tasks": 3}
    prompts = task_prompts("sentiment:3+safety", "train", 40, seed=1)
    assert [p.task for p in prompts[:30]] == ["sentiment"] * 30
    assert [p.task for p in prompts[30:]] == ["harmful", "benign"] * 5  # harmful, look-alike, harmful, small talk


def test_safety_prompts_train_on_sft_data_and_test_on_the_held_out_prompts():
    train = task_prompts("safety", "train", 400, seed=3)
    assert len({p.text for p in train}) == 400 and [p.task for p in train[:4]] == ["harmful", "benign"] * 2
    requests, chat = train[0::4] + train[1::4] + train[2::4], train[3::4]  # refusal data, and small talk
    assert {p.text for p in requests} <= refusals.train_prompts()  # the SFT data's own prompts, with its replies
    assert all(refusals.is_refusal(p.answer) == (p.task == "harmful") for p in train)
    assert not {p.text for p in chat} & refusals.train_prompts()
    assert not any(smalltalk.is_opener(p.text) or is_held_out(p.text) for p in chat)
    dev = task_prompts("safety", "dev", 100)
    assert not {p.text for p in dev} & {p.text for p in train}
    test = task_prompts("safety", "test", 60)
    held_out = set(refusals.harmful_test()) | set(refusals.benign_test()) | set(smalltalk.OPENERS_TEST)
    assert {p.text for p in test} <= held_out and not held_out & refusals.train_prompts()
    assert [p.task for p in test] == ["harmful"] * 30 + ["benign"] * 30
    assert test[0].text == refusals.ROAST_PROMPT
    assert test[30].text == refusals.benign_test()[0] and test[31].text == smalltalk.OPENERS_TEST[0]


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
    m, samples = info["sample_score_mean"], info["prompts"] * 3  # the task judge scores each sample 0 or 1
    assert round(m * samples) == pytest.approx(m * samples) and info["sample_score_std"] == pytest.approx(
        math.sqrt(m * (1 - m))
    )
    for pair in pairs:
        assert pair.conversational and pair.prompt[-1]["role"] == "user"
        assert pair.chosen.strip() and pair.rejected.strip() and pair.chosen != pair.rejected
        assert pair.extra["chosen_score"] == 1.0 and pair.extra["rejected_score"] == 0.0
    with pytest.raises(LmlabError, match="already holds pairs.jsonl"):
        build_pairs(out=out, **settings(policy, task="tasks", prompts=10))
    assert json.loads((out / "info.json").read_text()) == info  # the refused call wrote nothing


def test_chat_prompts_sample_up_to_their_own_longest_response(policy, tmp_path):
    """Refusals run ~45 tokens: chat prompts sample up to chat_max_new_tokens, plain text up to max_new_tokens."""
    assert new_tokens(SENTIMENT, 24, 48) == 24 and new_tokens(HARMFUL, 24, 48) == 48 and new_tokens(TASK, 24, 0) == 24
    lengths = {}  # in characters: a token of the tiny char model decodes to at most one (maybe U+FFFD)
    for chat in (3, 9):
        out = build_pairs(
            out=tmp_path / f"p{chat}", **settings(policy, task="tasks", prompts=10, chat_max_new_tokens=chat)
        )
        lengths[chat] = [len(p.rejected) for p in read_pairs(out)[0]]
    assert max(lengths[3]) <= 3 < max(lengths[9]) <= 9


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
