"""Replies measured for what a person sees: how likely a model finds good replies, and whether its own read as words.

Exact-match accuracy grades drills; a chat model is judged by its replies, which have no single right answer.
Two kinds of figure stand in for a reader here:

- reply loss: the teacher-forced loss of a reference reply given its prompt as a one-turn chat, over the reply's
  tokens and its <|end|> exactly as SFT's loss mask has them (lmlab.stages.sft), on held-out small-talk
  exchanges (lmlab.data.smalltalk.chitchat_test_pairs) and how-to answers (lmlab.data.howto.HOWTO_TEST).
  In nats per token, and in bits per byte,
      bpb = sum_t -ln p(x_t | x_<t) / ln 2 / sum_replies (UTF-8 bytes + 1)
  (the <|end|> counts one byte, as the token cache counts <|eos|>), which compares models with different
  tokenizers: the same text costs the same bytes however it is cut into tokens.
- what the model says to the 100 held-out openers (lmlab.data.smalltalk.OPENERS_TEST), greedily: the share of
  its words that are real words (lmlab.data.words), and the share of replies that refuse or are drill answers.
"""

import math
from pathlib import Path

from lmlab.data.conversations import render_all
from lmlab.data.howto import HOWTO_TEST
from lmlab.data.refusals import is_refusal
from lmlab.data.smalltalk import OPENERS_TEST, chitchat_test_pairs, is_off_task
from lmlab.data.words import known_words, words
from lmlab.eval.task_accuracy import answer
from lmlab.stages.sft import masked_loss_sum
from lmlab.tokenizer import Tokenizer

REPLY_TOKENS = 40  # the budget of a greedy reply to an opener, as the smalltalk task grades it

# The figures of measure_replies and their units, in the order they print.
UNITS = {
    "smalltalk_reply_nats": "nats/token",
    "smalltalk_reply_bpb": "bits/byte",
    "smalltalk_reply_pairs": "pairs",
    "howto_reply_nats": "nats/token",
    "howto_reply_bpb": "bits/byte",
    "howto_reply_pairs": "pairs",
    "word_rate": "%",
    "openers_refused": "%",
    "openers_off_task": "%",
}
ALL = "replies"  # the name that asks for every figure (lmlab eval --tasks replies)


def reply_loss(model, tokenizer: Tokenizer, pairs, batch_size: int = 32) -> dict:
    """The loss of each reference reply given its prompt, pairs [(prompt, reply)]: {"nats_per_token",
    "bits_per_byte", "pairs"}. A pair longer than the model's context is left out, not truncated (a cut reply would
    not be the reference); "pairs" counts those measured, and with none both losses are nan."""
    chats = [[{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}] for prompt, reply in pairs]
    rendered = render_all(tokenizer, chats)  # (ids, loss mask) per pair, as SFT renders its conversations
    fits = [i for i, (ids, _) in enumerate(rendered) if len(ids) <= model.config.block_size + 1]
    if not fits:
        return {"nats_per_token": math.nan, "bits_per_byte": math.nan, "pairs": 0}
    device = next(model.parameters()).device
    nats, tokens = masked_loss_sum(
        model, [rendered[i] for i in fits], batch_size, tokenizer.special_id("<|pad|>"), device
    )
    n_bytes = sum(len(pairs[i][1].encode()) + 1 for i in fits)  # + 1: the <|end|> closing the reply
    return {"nats_per_token": nats / tokens, "bits_per_byte": nats / math.log(2) / n_bytes, "pairs": len(fits)}


def opener_replies(model, tokenizer: Tokenizer, prompts) -> list[str]:
    """The model's greedy reply to each prompt, as a one-turn chat, of at most REPLY_TOKENS tokens."""
    return [answer(model, tokenizer, prompt, REPLY_TOKENS) for prompt in prompts]


def word_rate(replies) -> float:
    """The share of the words of all replies that are known words (lmlab.data.words.known_words).

    Pooled over words, not averaged over replies. Replies with no word at all make 0/0, counted 0.0: an empty or
    wordless reply ("71", "") must not help a model.
    """
    said = [w for reply in replies for w in words(reply)]
    known = known_words()
    return sum(w in known for w in said) / len(said) if said else 0.0


def measure_replies(model, tokenizer: Tokenizer, n: int | None = None) -> dict:
    """Every figure of UNITS for one model: reply losses on the first n held-out small-talk exchanges and how-to
    answers, and the greedy replies to the first n held-out openers (n None: all of each)."""
    figures = {}
    for name, pairs in (("smalltalk", chitchat_test_pairs()[:n]), ("howto", HOWTO_TEST[:n])):
        loss = reply_loss(model, tokenizer, pairs)
        figures.update(
            {
                f"{name}_reply_nats": loss["nats_per_token"],
                f"{name}_reply_bpb": loss["bits_per_byte"],
                f"{name}_reply_pairs": loss["pairs"],
            }
        )
    replies = opener_replies(model, tokenizer, OPENERS_TEST[:n])
    figures["word_rate"] = word_rate(replies)
    figures["openers_refused"] = sum(map(is_refusal, replies)) / len(replies)
    figures["openers_off_task"] = sum(map(is_off_task, replies)) / len(replies)
    return figures


def measure_run(run: str | Path, n: int | None = None, device="auto") -> dict:
    """measure_replies() of a run folder's model (pre-trained or fine-tuned)."""
    from lmlab.device import pick_device
    from lmlab.runs import load_run

    model, tokenizer, _ = load_run(run, pick_device(device))
    return measure_replies(model, tokenizer, n)


def figures_asked(names) -> list[str]:
    """The figures of UNITS that names ask for, by their own name or by ALL, in UNITS order."""
    return [figure for figure in UNITS if figure in names or ALL in names]


def format_figure(name: str, value: float) -> str:
    """One figure of measure_replies with its unit: "1.234 bits/byte", "87.0%", "278 pairs"."""
    unit = UNITS[name]
    if unit == "%":
        return f"{value:.1%}"
    if unit == "pairs":
        return f"{value} pairs"
    return f"{value:.3f} {unit}"
