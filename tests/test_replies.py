import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmlab.cli import main
from lmlab.data import tasks
from lmlab.data.conversations import render
from lmlab.data.howto import HOWTO_TEST, HOWTO_TRAIN
from lmlab.data.smalltalk import OPENERS_TEST, chitchat_test_pairs
from lmlab.data.words import known_words, words
from lmlab.eval.replies import UNITS, format_figure, measure_replies, reply_loss, word_rate
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.tokenizer import train_char


def tiny_gpt(tok, block_size: int) -> GPT:
    torch.manual_seed(0)
    config = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=block_size, vocab_size=tok.vocab_size)
    return GPT(config).eval()


def test_words_are_lower_cased_letter_runs_with_one_inner_apostrophe():
    assert words("I'm fine, don't WORRY: it's 3pm!") == ["i'm", "fine", "don't", "worry", "it's", "pm"]


def test_known_words_hold_everyday_words_and_not_gibberish_or_lone_letters():
    known = known_words()
    assert 15_000 < len(known) < 20_000
    assert {"hello", "weekend", "i'm", "don't", "thanks", "a", "i"} <= known
    assert not {"mopiting", "gree", "r", "e", "kksskksskksskkss"} & known


def test_word_rate_pools_the_words_of_all_replies():
    assert word_rate(["I am doing well, thanks!"]) == 1.0
    # of, mi (7 times in the corpus) are words; gree, mopiting and the lone letters r, e, e are not
    assert word_rate(["Gree of mi mopiting r e e"]) == pytest.approx(2 / 7)
    assert word_rate(["I am doing well, thanks!", "Gree of mi mopiting r e e"]) == pytest.approx(7 / 12)


def test_word_rate_of_replies_without_words_is_zero():
    assert word_rate([]) == 0.0
    assert word_rate(["", "71", "3, 17, 42"]) == 0.0


@pytest.fixture(scope="module")
def tok():
    return train_char(["abcdefghijklmnopqrstuvwxyz ?!.,'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"])


def test_reply_loss_is_the_masked_loss_of_the_reply_and_its_end_token(tok):
    model = tiny_gpt(tok, block_size=32)
    prompt, reply = "How are you?", "Fine, thanks."
    ids, mask = render(tok, [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}])
    with torch.no_grad():
        logps = F.log_softmax(model(torch.tensor([ids[:-1]]))[0].float(), -1)  # (T, V)
    learned = torch.tensor(mask[1:], dtype=torch.bool)
    targets = torch.tensor(ids[1:])
    nats = -logps.gather(1, targets[:, None])[:, 0][learned].sum().item()
    assert int(learned.sum()) == len(reply) + 1  # char tokens of the reply, and <|end|>

    loss = reply_loss(model, tok, [(prompt, reply)])

    assert loss["pairs"] == 1
    assert loss["nats_per_token"] == pytest.approx(nats / (len(reply) + 1), abs=1e-5)
    assert loss["bits_per_byte"] == pytest.approx(nats / math.log(2) / (len(reply.encode()) + 1), abs=1e-5)


def test_reply_loss_leaves_out_pairs_longer_than_the_context(tok):
    model = tiny_gpt(tok, block_size=32)
    short, long = ("Hi", "Hello there."), ("Tell me a story.", "Once upon a time there was a very small model.")
    assert reply_loss(model, tok, [short, long]) == reply_loss(model, tok, [short])
    alone = reply_loss(model, tok, [long])
    assert alone["pairs"] == 0 and math.isnan(alone["nats_per_token"]) and math.isnan(alone["bits_per_byte"])


def test_measure_replies_of_a_tiny_random_model_gives_every_figure_in_range():
    texts = [t for pair in chitchat_test_pairs() + HOWTO_TEST for t in pair] + list(OPENERS_TEST)
    tok = train_char(texts)
    model = tiny_gpt(tok, block_size=256)  # every held-out pair fits whole

    figures = measure_replies(model, tok)

    assert list(figures) == list(UNITS)
    assert figures["smalltalk_reply_pairs"] == len(chitchat_test_pairs()) > 200
    assert figures["howto_reply_pairs"] == len(HOWTO_TEST) == 60
    # An untrained model is near uniform: about ln V nats a token, and a char is a byte or more.
    for name in ("smalltalk", "howto"):
        assert figures[f"{name}_reply_nats"] == pytest.approx(math.log(tok.vocab_size), rel=0.1)
        assert 0 < figures[f"{name}_reply_bpb"] <= figures[f"{name}_reply_nats"] / math.log(2) * (1 + 1e-12)  # rounding
    for name in ("word_rate", "openers_refused", "openers_off_task"):
        assert 0.0 <= figures[name] <= 1.0
    assert figures["word_rate"] < 0.5  # random characters are seldom words


def test_figures_print_with_their_units():
    assert format_figure("smalltalk_reply_bpb", 1.23456) == "1.235 bits/byte"
    assert format_figure("howto_reply_nats", 2.0) == "2.000 nats/token"
    assert format_figure("word_rate", 0.875) == "87.5%"
    assert format_figure("howto_reply_pairs", 60) == "60 pairs"


def test_howto_task_tests_on_the_held_out_questions_that_training_never_draws():
    test = tasks.test_examples("howto", 1000)
    assert test == list(HOWTO_TEST) and len(test) == 60
    rng = np.random.default_rng(0)
    drawn = {tasks.train_example("howto", rng) for _ in range(5000)}
    assert drawn <= set(HOWTO_TRAIN) and len(drawn) > 400  # 441 questions, nearly all drawn
    assert not {prompt for prompt, _ in drawn} & {prompt for prompt, _ in test}


def test_howto_task_is_right_when_the_reply_is_not_a_refusal():
    prompt, reference = HOWTO_TEST[0]
    assert tasks.grade_task("howto", "Use a sharp knife and go slowly.", reference)
    assert not tasks.grade_task("howto", "I'm sorry, but I can't help with that.", reference)


def test_eval_prints_task_accuracy_and_reply_figures_side_by_side(text_file, tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--preset", "tiny", "--no-progress", "--dtype", "float32", "--max-iters", "2"]
    assert main(["pretrain", *tiny, "--data", str(text_file), "--out", str(run)]) == 0
    capsys.readouterr()

    assert main(["eval", str(run), "--tasks", "add_1d,word_rate,smalltalk_reply_bpb", "--n", "5"]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["task", "add_1d", "smalltalk_reply_bpb", "word_rate"]  # UNITS order
    assert lines[1].endswith("%") and lines[2].endswith("bits/byte") and lines[3].endswith("%")
