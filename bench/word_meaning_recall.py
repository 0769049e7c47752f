"""Word meanings (lmlab.data.wordnet) a fine-tuned run recalls: the share of words whose reply names WordNet's first
sense (chrF >= 50 against the first definition, as `lmlab eval --tasks word_meaning` grades), on the held-out words
(the issue's figure) and on as many words the SFT data trains on (first in common order). A model that cannot recall
the trained words' definitions cannot know the held-out ones, whose definitions are in none of its data.

    python bench/word_meaning_recall.py --run SFT [--n 200]

Needs WordNet 3.0 (Debian's wordnet-base, or LMLAB_WORDNET).
"""

import argparse
import sys

from common import environment, print_environment, save_result

from lmlab.data import wordnet
from lmlab.eval.task_accuracy import answer
from lmlab.runs import load_run


def recall(model, tokenizer, words: list[str]) -> tuple[float, list[tuple[str, str, str]]]:
    """(share of words whose reply's first sense matches, the first three (word, definition, reply))."""
    hits, shown = 0, []
    for word in words:
        prompt, _ = wordnet.meaning_example(word)
        definition = wordnet.senses(word)[0].definition
        reply = answer(model, tokenizer, prompt, 48)
        hits += wordnet.first_sense_matches(reply, definition)
        if len(shown) < 3:
            shown.append((word, definition, reply))
    return hits / max(len(words), 1), shown


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a fine-tuned run folder (lmlab sft --data chat)")
    ap.add_argument("--n", type=int, default=200, help="words of each kind")
    args = ap.parse_args(argv)
    info = environment()
    print_environment(info)
    model, tokenizer, _ = load_run(args.run, "cpu")
    held_out = wordnet.held_out_words()[: args.n]
    skip = set(held_out)
    trained = [w for w in wordnet.common_words(wordnet.WORD_POOL) if w not in skip][: args.n]
    result = {**info, "run": args.run}
    for name, words in (("held_out", held_out), ("trained", trained)):
        share, shown = recall(model, tokenizer, words)
        result[name] = share
        print(f"{name:>8} words: first sense matches in {share:.1%} of {len(words)}")
        for word, definition, reply in shown:
            print(f"    {word!r}: WordNet {definition!r}\n    {' ' * len(repr(word))}  reply   {reply[:90]!r}")
    print("saved", save_result("word_meaning_recall", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
