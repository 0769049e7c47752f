"""The sense test's data (lmlab/data/senses.jsonl, read with checked errors) and its measure on a model."""

import json
from itertools import combinations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmlab.data.senses import MIN_SENTENCES, read_senses
from lmlab.errors import LmlabError
from lmlab.inspect.senses import sense_separation
from lmlab.inspect.text import tokenize, word_positions
from lmlab.inspect.trace import trace
from lmlab.models import build_model
from lmlab.models.config import ModelConfig
from lmlab.tokenizer import train_char


def test_the_shipped_senses_hold_enough_words_and_sentences():
    sets = read_senses()
    assert len(sets) >= 3 and "bank" in [s.word for s in sets]
    for s in sets:
        assert min(len(group) for group in s.sentences) >= MIN_SENTENCES
        assert len({*s.sentences[0], *s.sentences[1]}) == sum(map(len, s.sentences))  # no sentence twice


@pytest.mark.parametrize(
    "lines,message",
    [
        ([{"word": "bank", "sense": "river"}], ":1: 'sentence' must be non-empty text"),
        ([{"word": "bank", "sense": "river", "sentence": "the banks were high"}], ":1: the sentence does not hold"),
        ([{"word": "bank", "sense": "river", "sentence": "the bank"}] * 4, "needs two senses of at least 4"),
    ],
)
def test_a_bad_senses_file_names_its_line_or_word(tmp_path, lines, message):
    path = tmp_path / "senses.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(LmlabError, match=message):
        read_senses(path)


def test_sense_separation_compares_same_sense_pairs_with_cross_sense_pairs():
    s = read_senses()[0]
    sentences = [*s.sentences[0], *s.sentences[1]]
    tokenizer = train_char(sentences)
    model = build_model(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=96, vocab_size=tokenizer.vocab_size))
    result = sense_separation(model.eval(), tokenizer, s)
    states = []
    for sentence in sentences:  # the word's last token after the last layer, computed here directly
        tokens = tokenize(tokenizer, sentence, 96)
        states.append(trace(model, torch.tensor([tokens.ids])).hidden[-1][0, word_positions(tokens, s.word)[-1]])
    n0 = len(s.sentences[0])
    sims = {
        (a, b): float(F.cosine_similarity(states[a], states[b], dim=0)) for a, b in combinations(range(len(states)), 2)
    }
    within = np.mean([v for (a, b), v in sims.items() if (a < n0) == (b < n0)])
    across = np.mean([v for (a, b), v in sims.items() if (a < n0) != (b < n0)])
    assert result.within[-1] == pytest.approx(within, abs=1e-5) and result.across[-1] == pytest.approx(across, abs=1e-5)
    assert result.mixing[-1] == pytest.approx(np.mean(list(sims.values())), abs=1e-5)
    assert result.splits == len(list(combinations(range(len(states)), n0))) // 2
