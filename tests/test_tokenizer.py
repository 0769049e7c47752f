import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from lmlab.tokenizer import SPECIAL_TOKENS, StreamDecoder, Tokenizer, train_bpe, train_char

CORPUS = ["In the beginning God created the heavens and the earth.\n", "Genesis 1:2 Now the earth was formless 1234.\n"] * 20


@functools.cache
def _bpe():
    return train_bpe(CORPUS, vocab_size=400)


@functools.cache
def _char():
    return train_char(CORPUS)


@pytest.fixture
def bpe():
    return _bpe()


@pytest.fixture
def char():
    return _char()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bpe_round_trips_any_text(text):
    tok = _bpe()
    assert tok.decode(tok.encode(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_char_round_trips_any_text_with_byte_fallback(text):
    tok = _char()
    assert tok.decode(tok.encode(text)) == text


def test_bpe_splits_digits_one_by_one(bpe):
    ids = bpe.encode("1234")
    assert [bpe.decode([i]) for i in ids] == ["1", "2", "3", "4"]


def test_special_tokens_are_reserved_and_single_ids(bpe, char):
    for tok in (bpe, char):
        for s in SPECIAL_TOKENS:
            assert tok.encode(s) == [tok.special_id(s)]
        assert [tok.special_id(s) for s in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))


def test_char_tokenizer_uses_one_token_per_seen_character(char):
    assert len(char.encode("the earth")) == 9


def test_saved_file_loads_in_tokenizers_and_transformers(bpe, tmp_path):
    path = tmp_path / "tokenizer.json"
    bpe.save(path)
    assert HFTokenizer.from_file(str(path)).encode("the earth").ids == bpe.encode("the earth")
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    assert fast("the earth", add_special_tokens=False).input_ids == bpe.encode("the earth")
    assert Tokenizer.load(path).sha256() == bpe.sha256()


def test_stream_decoder_holds_back_partial_characters(char):
    ids = char.encode("a☃b")  # ☃ is unseen: three fallback bytes
    dec = StreamDecoder(char)
    pieces = [dec.push(i) for i in ids]
    assert "".join(pieces) == "a☃b"
    assert pieces[1] == "" and pieces[2] == ""
