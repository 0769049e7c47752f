import re

import numpy as np
import pytest

from lmlab.data import elements, tasks
from lmlab.data.conversations import render
from lmlab.errors import LmlabError
from lmlab.tokenizer import train_bpe


def all_prompts(phrasings) -> set[str]:
    """Every prompt the phrasings make, N from 1 to 20 in digits and in words."""
    return {elements.elements_prompt(p, n, w) for p in phrasings for n in range(1, 21) for w in (False, True)}


def test_the_table_has_the_118_elements_in_order():
    assert len(elements.ELEMENTS) == 118
    assert [number for number, _, _ in elements.ELEMENTS] == list(range(1, 119))
    names = {number: name for number, _, name in elements.ELEMENTS}
    assert (names[1], names[6], names[26], names[79], names[118]) == ("Hydrogen", "Carbon", "Iron", "Gold", "Oganesson")
    assert elements.ELEMENTS[78] == (79, "Au", "Gold")
    assert (names[13], names[16], names[55]) == ("Aluminium", "Sulfur", "Caesium")  # IUPAC spellings
    assert len({symbol for _, symbol, _ in elements.ELEMENTS}) == len({name for _, _, name in elements.ELEMENTS}) == 118


@pytest.mark.parametrize(
    "lines, where, what",
    [
        (["1\tH\tHydrogen", "3\tLi\tLithium"], ":3:", "expected '2<TAB>symbol<TAB>name'"),  # a gap
        (["1\tH\tHydrogen", "2 He Helium"], ":3:", "expected '2<TAB>"),  # spaces, not tabs
        (["1\tH\tHydrogen", ""], ":3:", "expected '2<TAB>"),  # a blank line
        (["1\tH\tHydrogen", "2\the\tHelium"], ":3:", "a symbol like 'He'"),
        (["1\tH\tHydrogen", "2\tHe\tHelium"], ":4:", "expected 118 elements, found 2"),  # too short
    ],
)
def test_a_malformed_table_names_its_line(tmp_path, lines, where, what):
    path = tmp_path / "bad.tsv"
    path.write_text("\n".join([elements.HEADER, *lines]) + "\n")
    with pytest.raises(LmlabError, match=re.escape(f"bad.tsv{where}") + ".*" + re.escape(what)):
        elements.read_elements(path)


def test_a_table_without_its_header_is_refused(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("1\tH\tHydrogen\n")
    with pytest.raises(LmlabError, match=r"bad\.tsv:1: expected the header"):
        elements.read_elements(path)


def test_the_shipped_table_reads_the_same_through_its_path():
    assert elements.read_elements(elements.TABLE) == elements.ELEMENTS


def test_phrasings_are_distinct_and_the_poem_prompt_is_held_out():
    assert len(elements.TRAIN_PHRASINGS) == 12 and len(elements.TEST_PHRASINGS) == 4
    assert len(set(elements.TRAIN_PHRASINGS) | set(elements.TEST_PHRASINGS)) == 16
    assert not all_prompts(elements.TRAIN_PHRASINGS) & all_prompts(elements.TEST_PHRASINGS)
    assert elements.POEM_PROMPT == (
        "Write a poem that gives each of the first ten elements of the periodic table its own line, with its number."
    )
    assert elements.POEM_PROMPT in all_prompts(elements.TEST_PHRASINGS)


def test_training_examples_never_use_a_held_out_phrasing_and_answer_n_numbered_lines():
    rng = np.random.default_rng(0)
    train = [elements.elements_train_example(rng) for _ in range(2000)]
    prompts = {p for p, _ in train}
    assert prompts <= all_prompts(elements.TRAIN_PHRASINGS)
    assert not prompts & all_prompts(elements.TEST_PHRASINGS)
    ns = []
    for prompt, answer in train:
        lines = answer.split("\n")
        assert [line.split(". ")[0] for line in lines] == [str(i) for i in range(1, len(lines) + 1)]
        assert [line.split(". ")[1] for line in lines] == [name for _, _, name in elements.ELEMENTS[: len(lines)]]
        assert str(len(lines)) in prompt or elements.NUMBER_WORDS[len(lines)] in prompt.split()
        ns.append(len(lines))
    assert set(ns) == set(range(1, elements.TRAIN_MAX_N + 1))
    assert abs(np.mean(np.array(ns) > 10) - elements.TRAIN_LONG_SHARE) < 0.03
    assert any(re.search(r"first \d+ ", p) for p in prompts) and any(" first ten " in p for p in prompts)


def test_the_held_out_set_covers_n_1_to_10_in_digits_and_words():
    test = elements.elements_test(1000)
    assert test == elements.elements_test(1000) and test[:7] == elements.elements_test(7)
    assert len(test) == len({p for p, _ in test}) == 4 * 10 * 2
    assert {len(answer.split("\n")) for _, answer in test} == set(range(1, 11))
    assert dict(test)[elements.POEM_PROMPT] == elements.elements_answer(10)
    assert any("first 3 elements" in p for p, _ in test) and any("first three elements" in p for p, _ in test)
    assert {p for p, _ in test} <= all_prompts(elements.TEST_PHRASINGS)


def test_the_answer_lists_numbered_lines():
    assert elements.elements_answer(3) == "1. Hydrogen\n2. Helium\n3. Lithium"
    assert elements.elements_prompt(elements.TRAIN_PHRASINGS[0], 1, as_word=True) == (
        "List the first one element of the periodic table, each on its own line, with its number."
    )


def test_lines_match_wants_every_line_in_order_one_a_line():
    reference = elements.elements_answer(3)
    assert elements.lines_match(reference, reference)
    assert elements.lines_match("  1. Hydrogen \n\n2.  Helium\n   \n3. Lithium\n", reference)
    assert not elements.lines_match("1. Hydrogen 2. Helium 3. Lithium", reference)  # one line
    assert not elements.lines_match("1. Hydrogen\n3. Lithium", reference)  # an element missing
    assert not elements.lines_match("1. Hydrogen\n2. Helium\n4. Lithium", reference)  # a wrong number
    assert not elements.lines_match(reference + "\n4. Beryllium", reference)  # one too many
    assert not elements.lines_match("1. hydrogen\n2. Helium\n3. Lithium", reference)  # case counts


def test_the_task_is_registered_with_its_held_out_set_and_grader():
    test = tasks.test_examples("elements", 1000)
    assert test == elements.elements_test(1000)
    assert {p for p, _ in test} <= all_prompts(elements.TEST_PHRASINGS)
    assert tasks.grade_task("elements", "1. Hydrogen\n\n2. Helium ", "1. Hydrogen\n2. Helium")
    assert not tasks.grade_task("elements", "1. Hydrogen 2. Helium", "1. Hydrogen\n2. Helium")
    rng = np.random.default_rng(1)
    assert not {tasks.train_example("elements", rng)[0] for _ in range(500)} & {p for p, _ in test}
    sizes = [len(elements.ELEMENTS), len(elements.TRAIN_PHRASINGS), len(elements.TEST_PHRASINGS), len(test)]
    assert all(re.search(rf"\b{size}\b", tasks.task("elements").description) for size in sizes)
    assert f"up to {elements.TRAIN_MAX_N} " in tasks.task("elements").description


@pytest.fixture(scope="module")
def web_tokenizer():
    """The default pipeline's tokenizer: a 4,096-token byte-level BPE of the WEB Bible (about a second)."""
    from lmlab.data.corpus import bible_verses

    return train_bpe([v.text for v in bible_verses("web")], 4096)


def test_the_reply_budget_holds_ten_elements_and_the_newlines_survive_the_chat_template(web_tokenizer):
    tokenizer = web_tokenizer
    prompt, answer = elements.POEM_PROMPT, elements.elements_answer(10)
    ids, mask = render(tokenizer, [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}])
    learned = [t for t, m in zip(ids, mask) if m]  # the answer's tokens and <|end|>
    assert tokenizer.decode(learned, skip_special_tokens=True) == answer
    assert tokenizer.decode(learned[:-1]).count("\n") == 9
    assert len(learned) <= tasks.task("elements").max_new_tokens  # greedy decoding must reach <|end|>
    # every conversation of the tested lengths fits the 128-token context whole: the longest prompt, a system
    # prompt and 10 elements (the 11 and 12 of training are cut at the end only now and then)
    longest = max(
        all_prompts(elements.TRAIN_PHRASINGS + elements.TEST_PHRASINGS), key=lambda p: len(tokenizer.encode(p))
    )
    messages = [{"role": "system", "content": tasks.SYSTEM_PROMPT}, {"role": "user", "content": longest}]
    ids, _ = render(tokenizer, [*messages, {"role": "assistant", "content": answer}])
    assert len(ids) <= 128 + 1
