import re

import numpy as np
import pytest

from lmlab.data import wordnet
from lmlab.data.wordnet import Sense
from lmlab.errors import LmlabError

HEADER = [
    "  1 This software and database is being provided to you, the LICENSEE, by  ",
    "  2 Princeton University under the following license.  By obtaining, using  ",
]
SLOPE = 'sloping land (especially the slope beside a body of water); "they pulled the canoe up on the bank"'
FINANCE = (
    'a financial institution that accepts deposits; "he cashed a check at the bank"; "that bank holds my mortgage"'
)
# The verb's example holds a ";" inside its quotes and an attribution after them; its second example uses "banks".
DEAL = 'do business with a bank; keep an account at a bank; "where do you bank; here?" - Anon; "he banks with us"'
# suffix -> [(lemma, tagsense_cnt, glosses most frequent first)]; "ox" and "ice_cream" are no common words.
ENTRIES = {
    "noun": [
        ("bank", 2, [SLOPE, FINANCE]),
        ("ice_cream", 5, ['frozen dessert; "ice cream melts"']),
        ("ox", 4, ["an adult castrated bull"]),
        ("river", 1, ['a large natural stream of water; "the stream flooded"']),
    ],
    "verb": [("bank", 1, [DEAL])],
    "adj": [],
    "adv": [("quickly", 1, ['with rapid movements; "he works quickly"'])],
}


def write_wordnet(directory, entries=ENTRIES):
    """WordNet's files for the entries, in wndb(5) format with true byte offsets. The synsets are written in reverse
    order, so that the sense order can only come from the index."""
    directory.mkdir(exist_ok=True)
    for suffix, lemmas in entries.items():
        letter = dict(wordnet.PARTS_OF_SPEECH.values())[suffix]
        synsets = [(lemma, i, gloss) for lemma, _, glosses in lemmas for i, gloss in enumerate(glosses)]
        data, offsets = "".join(line + "\n" for line in HEADER), {}
        for lemma, i, gloss in reversed(synsets):
            offsets[lemma, i] = len(data.encode())
            data += f"{len(data.encode()):08d} 03 {letter} 01 {lemma} 0 000 | {gloss}  \n"
        index = HEADER + [
            f"{lemma} {letter} {len(glosses)} 1 @ {len(glosses)} {tagged} "
            + " ".join(f"{offsets[lemma, i]:08d}" for i in range(len(glosses)))
            + "  "
            for lemma, tagged, glosses in lemmas
        ]
        (directory / f"data.{suffix}").write_text(data)
        (directory / f"index.{suffix}").write_text("".join(line + "\n" for line in index))
    return directory


@pytest.fixture
def tiny(tmp_path):
    return write_wordnet(tmp_path / "wordnet")


# ---- the files ------------------------------------------------------------------------------
def test_senses_come_in_index_order_with_their_examples(tiny):
    assert wordnet.senses("bank", tiny) == [
        Sense(
            "noun",
            "sloping land (especially the slope beside a body of water)",
            ("they pulled the canoe up on the bank",),
        ),
        Sense(
            "noun",
            "a financial institution that accepts deposits",
            ("he cashed a check at the bank", "that bank holds my mortgage"),
        ),
        Sense(
            "verb",
            "do business with a bank; keep an account at a bank",
            ("where do you bank; here?", "he banks with us"),
        ),
    ]
    assert wordnet.senses("ice cream", tiny) == [Sense("noun", "frozen dessert", ("ice cream melts",))]
    assert wordnet.senses("Quickly", tiny)[0].pos == "adverb"
    assert wordnet.senses("unknown", tiny) == []


def test_the_environment_variable_chooses_the_directory(tiny, monkeypatch):
    monkeypatch.setenv("LMLAB_WORDNET", str(tiny))
    assert wordnet.wordnet_dir() == tiny
    assert wordnet.senses("river")[0].definition == "a large natural stream of water"


def test_missing_wordnet_is_none_or_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_WORDNET", str(tmp_path / "absent"))
    assert wordnet.wordnet_dir() is None
    message = f"WordNet not found in {tmp_path / 'absent'} (apt-get install wordnet-base, or set LMLAB_WORDNET)"
    for call in (wordnet.require_wordnet, lambda: wordnet.senses("bank"), lambda: wordnet.common_words(5)):
        with pytest.raises(LmlabError) as error:
            call()
        assert str(error.value) == message
    partial = write_wordnet(tmp_path / "partial")
    (partial / "data.adv").unlink()
    monkeypatch.setenv("LMLAB_WORDNET", str(partial))
    assert wordnet.wordnet_dir() is None


def test_a_malformed_index_line_is_named_by_file_and_line(tiny):
    lines = (tiny / "index.noun").read_text().splitlines()
    lines[4] = lines[4].replace(" n 1 1 ", " n 2 1 ")  # "ox": two synsets announced, one offset given
    (tiny / "index.noun").write_text("\n".join(lines) + "\n")
    with pytest.raises(
        LmlabError, match=rf"^{re.escape(str(tiny / 'index.noun'))}:5: expected 'lemma n synset_cnt p_cnt"
    ):
        wordnet.senses("bank", tiny)


def test_a_malformed_data_line_is_named_by_file_and_line(tiny):
    text = (tiny / "data.verb").read_text()
    (tiny / "data.verb").write_text(text.replace(" | ", " # "))  # same length: the offsets still hold
    with pytest.raises(
        LmlabError, match=rf"^{re.escape(str(tiny / 'data.verb'))}:3: expected the synset of byte offset"
    ):
        wordnet.senses("bank", tiny)


def test_an_offset_inside_a_line_is_a_user_error(tiny):
    index = (tiny / "index.adv").read_text()
    offset = index.split()[-1]
    (tiny / "index.adv").write_text(index.replace(offset, f"{int(offset) + 1:08d}"))
    with pytest.raises(LmlabError, match=rf"^{re.escape(str(tiny / 'data.adv'))}:3: "):
        wordnet.senses("quickly", tiny)


# ---- conversations ---------------------------------------------------------------------------
def test_meaning_lists_the_common_senses_in_order(tiny):
    assert wordnet.meaning_example("bank", tiny) == (
        "What does 'bank' mean?",
        'As a noun: sloping land (especially the slope beside a body of water), as in "they pulled the canoe up on the '
        'bank". As a noun: a financial institution that accepts deposits.',
    )  # with its example the second sense would make 41 words; the verb would pass MAX_REPLY_WORDS too
    assert wordnet.meaning_example("river", tiny)[1] == "As a noun: a large natural stream of water."  # no "river"
    assert (
        wordnet.meaning_example("quickly", tiny)[1] == 'As an adverb: with rapid movements, as in "he works quickly".'
    )
    with pytest.raises(LmlabError, match="'unknown' is not in WordNet"):
        wordnet.meaning_example("unknown", tiny)


def test_meaning_drops_examples_then_senses_to_stay_short(tiny, monkeypatch):
    first = "As a noun: sloping land (especially the slope beside a body of water)."  # 13 words
    monkeypatch.setattr(wordnet, "MAX_REPLY_WORDS", 15)
    assert wordnet.meaning_example("bank", tiny)[1] == first
    monkeypatch.setattr(wordnet, "MAX_REPLY_WORDS", 5)
    assert wordnet.meaning_example("bank", tiny)[1] == first  # the first sense answers however long it is
    monkeypatch.setattr(wordnet, "MAX_REPLY_WORDS", 100)
    assert wordnet.meaning_example("bank", tiny)[1].count("As a ") == wordnet.MAX_SENSES


def test_which_meaning_asks_about_an_example_that_uses_the_word(tiny):
    assert wordnet.which_meaning_example("bank", 1, 1, tiny) == (
        "Which meaning of 'bank' is used in \"that bank holds my mortgage\"?",
        "a financial institution that accepts deposits",
    )
    prompt, reply = wordnet.which_meaning_example("bank", 2, 1, tiny)
    assert '"he banks with us"' in prompt and reply == "do business with a bank; keep an account at a bank"
    with pytest.raises(LmlabError, match="sense 0 of 'river' has 0 example"):
        wordnet.which_meaning_example("river", 0, directory=tiny)


# ---- common words and the held-out split -------------------------------------------------------
def test_common_words_rank_single_words_by_tagged_senses(tiny):
    assert wordnet.common_words(10, tiny) == ["bank", "quickly", "river"]  # 3 tagged; then 1 each, alphabetical
    assert wordnet.common_words(1, tiny) == ["bank"]


def test_held_out_words_are_never_trained_on(tiny, monkeypatch):
    monkeypatch.setattr(wordnet, "N_HELD_OUT", 1)
    (held,) = wordnet.held_out_words(tiny)
    assert wordnet.wordnet_test(tiny) == [(held, wordnet.senses(held, tiny)[0].definition)]
    rng = np.random.default_rng(0)
    prompts = {wordnet.wordnet_train_example(rng, tiny)[0] for _ in range(200)}
    assert {p.split("'")[1] for p in prompts} == {"bank", "quickly", "river"} - {held}
    monkeypatch.setattr(wordnet, "N_HELD_OUT", 3)
    with pytest.raises(LmlabError, match="no common words left to train on"):
        wordnet.wordnet_train_example(rng, tiny)


# ---- grading --------------------------------------------------------------------------------
def test_first_sense_is_read_from_a_meaning_reply(tiny):
    reply = wordnet.meaning_example("bank", tiny)[1]
    assert wordnet.first_sense(reply) == "sloping land (especially the slope beside a body of water)"
    assert wordnet.first_sense("a river's edge.") == "a river's edge"  # a reply in another shape is taken whole
    definition = wordnet.senses("bank", tiny)[0].definition
    assert wordnet.first_sense_matches(reply, definition)
    assert not wordnet.first_sense_matches("As a noun: a financial institution that accepts deposits.", definition)
    assert wordnet.first_sense_matches("As a noun: sloping land beside a body of water.", definition)


# ---- the real WordNet, where installed ---------------------------------------------------------
real = pytest.mark.skipif(
    wordnet.wordnet_dir() is None, reason="WordNet is not installed (apt-get install wordnet-base)"
)


@real
def test_bank_is_first_a_slope_and_a_financial_institution():
    first_two = [s.definition for s in wordnet.senses("bank")[:2]]
    assert any(d.startswith("sloping land") for d in first_two)
    assert any(d.startswith("a financial institution") for d in first_two)
    assert all(s.pos == "noun" for s in wordnet.senses("bank")[:10]) and wordnet.senses("bank")[10].pos == "verb"


@real
def test_common_words_are_everyday_words():
    words = wordnet.common_words(300)
    assert words == wordnet.common_words(300) and len(set(words)) == 300
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 12 for w in words)
    everyday = {"run", "take", "make", "give", "time", "good", "house", "hand", "head", "light", "work", "see", "life"}
    assert everyday <= set(words)
    assert not {"aardvark", "zygote", "abaca"} & set(words)


@real
def test_real_held_out_words_and_definitions_never_reach_training():
    held = wordnet.held_out_words()
    assert len(held) == 200 and set(held) <= set(wordnet.common_words(wordnet.WORD_POOL))
    test = wordnet.wordnet_test()
    assert [w for w, _ in test] == held and test[0][1] == wordnet.senses(held[0])[0].definition
    rng = np.random.default_rng(0)
    examples = [wordnet.wordnet_train_example(rng) for _ in range(3000)]
    assert not {p.split("'")[1] for p, _ in examples} & set(held)
    shown = {  # every definition a reply shows: a which-meaning reply is one, a meaning reply lists some
        wordnet.first_sense(sense)
        for _, reply in examples
        for sense in re.split(r" (?=As an? (?:noun|verb|adjective|adverb): )", reply)
    }
    assert not shown & {d for _, d in test} and {d for _, d in test[:5]} <= {
        wordnet.senses(w)[0].definition for w in held
    }
    assert max(len(p.split()) for p, _ in examples) <= wordnet.MAX_PROMPT_WORDS
    assert max(len(r.split()) for _, r in examples) <= wordnet.MAX_REPLY_WORDS
    assert 0.4 < np.mean([p.startswith("Which meaning") for p, _ in examples]) < 0.6


@real
def test_the_threshold_tells_the_first_sense_from_the_second():
    words = [w for w in wordnet.common_words(100) if len({s.definition for s in wordnet.senses(w)[:2]}) == 2][:30]
    for word in words:
        first, second = wordnet.senses(word)[:2]
        assert wordnet.first_sense_matches(wordnet.meaning_example(word)[1], first.definition)
        assert not wordnet.first_sense_matches(f"As a {second.pos}: {second.definition}.", first.definition), word
