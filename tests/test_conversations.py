import json

import pytest
import torch

from lmlab.inference.chat import ChatSession
from lmlab.data.conversations import check_messages, read_conversations, render, render_prompt, truncate
from lmlab.errors import LmlabError
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.tokenizer import train_char


@pytest.fixture(scope="module")
def tok():
    return train_char(["abcdefghijklmnopqrstuvwxyz ?!.0123456789"])


def test_multi_turn_template_and_mask_token_by_token(tok):
    messages = [
        {"role": "system", "content": "be"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": "ok?"},
        {"role": "assistant", "content": "k"},
    ]
    ids, mask = render(tok, messages)
    s = tok.special_id
    expected = [
        (s("<|bos|>"), 0), (s("<|system|>"), 0), *[(i, 0) for i in tok.encode("be")], (s("<|end|>"), 0),
        (s("<|user|>"), 0), *[(i, 0) for i in tok.encode("hi")], (s("<|end|>"), 0),
        (s("<|assistant|>"), 0), *[(i, 1) for i in tok.encode("yo")], (s("<|end|>"), 1),
        (s("<|user|>"), 0), *[(i, 0) for i in tok.encode("ok?")], (s("<|end|>"), 0),
        (s("<|assistant|>"), 0), *[(i, 1) for i in tok.encode("k")], (s("<|end|>"), 1),
    ]  # fmt: skip
    assert list(zip(ids, mask)) == expected
    assert tok.decode(ids) == "<|bos|><|system|>be<|end|><|user|>hi<|end|><|assistant|>yo<|end|><|user|>ok?<|end|><|assistant|>k<|end|>"


def test_prompt_ends_with_the_assistant_tag(tok):
    ids = render_prompt(tok, [{"role": "user", "content": "hi"}])
    assert tok.decode(ids) == "<|bos|><|user|>hi<|end|><|assistant|>"


def test_truncation_keeps_the_first_tokens_and_drops_conversations_with_nothing_to_learn(tok):
    ids, mask = render(tok, [{"role": "user", "content": "abcdef"}, {"role": "assistant", "content": "xyz"}])
    kept_ids, kept_mask = truncate(ids, mask, 12)  # bos user a..f end assistant x y: 2 assistant tokens left
    assert kept_ids == ids[:12] and kept_mask == mask[:12] and sum(kept_mask) == 2
    assert truncate(ids, mask, 10) is None  # cut before the answer: dropped


@pytest.mark.parametrize(
    "messages,message",
    [
        ([{"role": "user", "content": "hi"}], "no assistant turn"),
        ([{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}], "unknown role 'robot'"),
        ([{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}], "must be a string, got int"),
        ([{"role": "user", "content": "a"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "x"}], "only the first message"),
        ([], "non-empty list"),
    ],
)
def test_bad_conversations_are_user_errors_naming_where(messages, message):
    with pytest.raises(LmlabError, match=message) as e:
        check_messages(messages, "f.jsonl:7")
    assert str(e.value).startswith("f.jsonl:7: ")


def test_reads_both_jsonl_formats_and_names_the_line_of_a_malformed_one(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}) + "\n\n" + json.dumps({"prompt": "p", "completion": "c"}) + "\n")
    assert read_conversations(good)[1] == [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"messages": [\n')
    with pytest.raises(LmlabError, match=r"bad.jsonl:4: not valid JSON"):
        read_conversations(bad)
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "x"}\n')
    with pytest.raises(LmlabError, match=r"other.jsonl:1: expected"):
        read_conversations(other)


def tiny_session(tok, block_size=48, **kw):
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=block_size, vocab_size=tok.vocab_size)).eval()
    return ChatSession(model, tok, max_new_tokens=8, seed=0, **kw)


def test_chat_history_drops_oldest_exchanges_but_never_the_system_prompt(tok):
    session = tiny_session(tok, system="sys")
    for i in range(6):
        session.history += [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
        session.history.append({"role": "user", "content": "next"})
        ids = session.prompt_ids()
        assert len(ids) <= 48 - 8  # room left for the reply
        assert tok.decode(ids).startswith("<|bos|><|system|>sys<|end|><|user|>")  # whole exchanges dropped
        assert tok.decode(ids).endswith(f"answer {i}<|end|><|user|>next<|end|><|assistant|>")
        session.history.pop()
    assert len(session.history) < 12
    "".join(session.reply("hi"))  # a real reply goes through the same rule
    assert session.history[-2] == {"role": "user", "content": "hi"}


def test_chat_commands(tok):
    session = tiny_session(tok)
    "".join(session.reply("hi"))
    assert session.command("/reset") == "(history cleared)" and session.history == []
    session.command("/system be brief")
    assert session.messages()[0] == {"role": "system", "content": "be brief"}
    session.command("/temperature 0")
    assert session.temperature == 0.0
    assert "not a number" in session.command("/temperature hot")
    assert session.command("/quit") is None


def test_reads_a_datasets_save_to_disk_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"prompt": "p", "completion": "c"}]).save_to_disk(str(tmp_path / "ds"))
    assert read_conversations(tmp_path / "ds") == [[{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]]


def test_a_folder_without_datasets_installed_or_saved_is_a_user_error(tmp_path):
    with pytest.raises(LmlabError, match=str(tmp_path)):
        read_conversations(tmp_path)
