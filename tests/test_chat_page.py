"""The chat page (lmlab/serve/chat.html) in a real headless Chromium, against a real server over a tiny random GPT.

The model's replies are gibberish, but the page's behaviour is what is tested: streaming, what it sends, Reset,
Stop, errors, the API key, and a conversation that outgrows the context. Skipped only when no Chromium or
chromedriver can be started.
"""

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from lmlab.data.conversations import render_prompt
from lmlab.inference.chat import ChatSession
from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.serve.app import Service, running_server
from lmlab.tokenizer import SPECIAL_TOKENS, train_char

TEXT = "the quick brown fox jumps over the lazy dog, and asks: why?"
STEP_SECONDS = 0.01  # per decoding step: a 100-token reply streams for about a second, long enough to watch
KEY = "sk-test-key"
SMALL_CONTEXT = 64  # a model whose context a 10-turn conversation outgrows


class PlainTextModel(torch.nn.Module):
    """A random GPT that only writes characters of TEXT, STEP_SECONDS per step: no special token ends a reply early
    and no byte token makes half a character, so a reply of max_tokens tokens is max_tokens characters."""

    def __init__(self, model: GPT, allowed: list[int]):
        super().__init__()
        self.model, self.config = model, model.config
        mask = torch.full((model.config.vocab_size,), float("-inf"))
        mask[allowed] = 0.0
        self.register_buffer("mask", mask)

    def forward(self, idx, **kwargs):
        time.sleep(STEP_SECONDS)
        return self.model(idx, **kwargs) + self.mask  # (B, T, V) + (V,)


def plain_text_model(tok, block_size: int) -> PlainTextModel:
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=block_size, vocab_size=tok.vocab_size))
    allowed = sorted({i for c in set(TEXT) for i in tok.encode(c)})
    assert all(tok.special_id(t) not in allowed for t in SPECIAL_TOKENS)
    return PlainTextModel(model, allowed)


@pytest.fixture(scope="module")
def tiny_model():
    tok = train_char([TEXT])
    return plain_text_model(tok, 128), tok


@pytest.fixture(scope="module")
def service(tiny_model):
    model, tok = tiny_model
    return Service(model, tok, "tiny", 4)


@pytest.fixture(scope="module")
def url(service):
    with running_server(service) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def small_context(tiny_model):
    """(url, model, tokenizer) of a server over a model with a SMALL_CONTEXT-token context."""
    tok = tiny_model[1]
    model = plain_text_model(tok, SMALL_CONTEXT)
    with running_server(Service(model, tok, "tiny", 4)) as base_url:
        yield base_url, model, tok


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,760"):
        options.add_argument(arg)
    driver_path = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
    try:
        driver = webdriver.Chrome(options=options, service=DriverService(driver_path) if driver_path else None)
    except (WebDriverException, OSError) as e:
        pytest.skip(f"no headless Chromium with chromedriver could be started: {str(e).strip().splitlines()[0]}")
    yield driver
    driver.quit()


# ---- driving the page --------------------------------------------------------------------------------------
def open_page(browser, url):
    browser.get(url)
    wait_for(browser, lambda b: b.find_element(By.ID, "status").get_attribute("data-connected") == "true")


def wait_for(browser, condition, timeout=10):
    return WebDriverWait(browser, timeout, poll_frequency=0.02).until(condition)


def set_value(browser, element_id, value):
    browser.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, str(value))  # fmt: skip


def say(browser, text):
    browser.find_element(By.ID, "input").send_keys(text, Keys.ENTER)


def bubbles(browser, kind) -> list[str]:
    """The texts of the bubbles of one kind (user, assistant, error), in order, exactly as the page holds them."""
    script = "return [...document.querySelectorAll('#messages .' + arguments[0])].map(e => e.textContent)"
    return browser.execute_script(script, kind)


def last_reply(browser) -> tuple[str | None, str | None]:
    """The last assistant bubble's (text, data-streaming), or (None, None) when there is none."""
    script = """const all = document.querySelectorAll('#messages .assistant');
                const last = all[all.length - 1];
                return last ? [last.textContent, last.dataset.streaming] : [null, null];"""
    return tuple(browser.execute_script(script))


def wait_for_reply(browser, n) -> str:
    """The text of the n-th assistant reply, once it has finished streaming."""
    wait_for(browser, lambda b: len(bubbles(b, "assistant")) == n and last_reply(b)[1] == "false")
    return last_reply(browser)[0]


def record_requests(browser):
    """From now on, the page's chat requests are kept (as parsed JSON) in window.sent, and the HTTP status each got
    in window.statuses (null while it has none)."""
    browser.execute_script("""window.sent = []; window.statuses = [];
        const fetchBefore = window.fetch;
        window.fetch = async (url, options) => {
            if (!String(url).includes('/v1/chat/completions')) return fetchBefore(url, options);
            const i = window.sent.push(JSON.parse(options.body)) - 1;
            window.statuses.push(null);
            const response = await fetchBefore(url, options);
            window.statuses[i] = response.status;
            return response;
        };""")


def accepted_requests(browser) -> list[dict]:
    """The bodies of the chat requests the server accepted (200), in order."""
    sent, statuses = browser.execute_script("return [window.sent, window.statuses]")
    return [body for body, status in zip(sent, statuses) if status == 200]


def converse(browser, turns: int) -> list[dict]:
    """Say "turn 1" ... "turn N", each after the last reply; the conversation as messages. Fails at the first error
    the page shows, rather than waiting for a reply that will not come."""
    messages = []
    for n in range(1, turns + 1):
        say(browser, f"turn {n}")
        wait_for(browser, lambda b: bubbles(b, "error") or (len(bubbles(b, "assistant")) == n
                                                             and last_reply(b)[1] == "false"))  # fmt: skip
        assert bubbles(browser, "error") == [], f"turn {n} got an error"
        messages += [{"role": "user", "content": f"turn {n}"}, {"role": "assistant", "content": last_reply(browser)[0]}]
    return messages


def left_out_notes(browser) -> list[str]:
    return [note for note in bubbles(browser, "note") if "no longer fit" in note]


def in_flight(url) -> int:
    with urllib.request.urlopen(f"{url}/health") as response:
        return json.load(response)["in_flight"]


# ---- the tests ---------------------------------------------------------------------------------------------
def test_the_page_shows_the_model_name_and_context_size(browser, url):
    open_page(browser, url)
    assert browser.find_element(By.ID, "model-name").text == "tiny"
    assert browser.find_element(By.ID, "context-size").text == "128"
    assert int(browser.find_element(By.ID, "max-tokens").get_attribute("value")) <= 128
    assert not browser.find_element(By.ID, "api-key").is_displayed()  # this server has no key
    assert bubbles(browser, "message") == []


def test_enter_sends_the_message_and_the_reply_streams_in_token_by_token(browser, url):
    open_page(browser, url)
    set_value(browser, "max-tokens", 100)
    # Shift+Enter is a new line in the message; Enter sends it. Text is shown as text, never as HTML.
    browser.find_element(By.ID, "input").send_keys("<b>hello</b>", Keys.SHIFT, Keys.ENTER, Keys.NULL, "there",
                                                   Keys.ENTER)  # fmt: skip
    wait_for(browser, lambda b: bubbles(b, "user") == ["<b>hello</b>\nthere"])
    assert browser.find_elements(By.CSS_SELECTOR, "#messages b") == []
    assert browser.find_element(By.ID, "input").get_attribute("value") == ""

    seen, deadline = set(), time.monotonic() + 20
    while time.monotonic() < deadline:
        text, streaming = last_reply(browser)
        if streaming == "false":
            break
        if streaming == "true" and text:
            seen.add(len(text))
    assert len(seen) >= 2, f"the reply did not grow while streaming (lengths seen: {sorted(seen)})"
    text = wait_for_reply(browser, 1)
    assert len(text) == 100  # every token arrived, each one character (PlainTextModel)
    assert browser.find_element(By.ID, "send").is_displayed() and not browser.find_element(By.ID, "stop").is_displayed()


def test_the_conversation_system_prompt_and_temperature_are_sent_and_temperature_0_repeats_itself(browser, url):
    open_page(browser, url)
    record_requests(browser)
    set_value(browser, "system", "Answer briefly.")
    set_value(browser, "temperature", 0)
    set_value(browser, "max-tokens", 20)
    say(browser, "hi")
    first = wait_for_reply(browser, 1)
    say(browser, "and?")
    wait_for_reply(browser, 2)
    sent = browser.execute_script("return window.sent")
    assert sent[0]["messages"] == [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "hi"}]
    assert sent[0]["temperature"] == 0 and sent[0]["max_tokens"] == 20 and sent[0]["stream"] is True
    assert sent[1]["messages"] == [*sent[0]["messages"], {"role": "assistant", "content": first},
                                   {"role": "user", "content": "and?"}]  # fmt: skip

    browser.find_element(By.ID, "reset").click()
    say(browser, "hi")
    assert wait_for_reply(browser, 1) == first  # greedy: the same conversation, the same reply
    assert browser.execute_script("return window.sent")[2] == sent[0]


def test_reset_clears_the_conversation_and_stops_the_reply_in_progress(browser, url, service):
    open_page(browser, url)
    set_value(browser, "max-tokens", 100)
    decoded_before = service.engine.rows_decoded
    say(browser, "tell me a long story")
    wait_for(browser, lambda b: last_reply(b)[0])  # the reply has started
    browser.find_element(By.ID, "reset").click()
    assert bubbles(browser, "message") == []
    wait_for(browser, lambda b: in_flight(url) == 0, timeout=5)
    assert service.engine.rows_decoded - decoded_before < 99  # the request was cancelled, not decoded to the end
    time.sleep(0.3)
    assert bubbles(browser, "message") == []  # and nothing of it comes back
    assert browser.find_element(By.ID, "send").is_displayed()


def test_stop_ends_the_reply_and_keeps_what_was_written(browser, url, service):
    open_page(browser, url)
    record_requests(browser)
    set_value(browser, "max-tokens", 100)
    decoded_before = service.engine.rows_decoded
    say(browser, "go on")
    wait_for(browser, lambda b: last_reply(b)[0])
    browser.find_element(By.ID, "stop").click()
    text = wait_for_reply(browser, 1)
    assert 0 < len(text) < 100
    wait_for(browser, lambda b: in_flight(url) == 0, timeout=5)
    assert service.engine.rows_decoded - decoded_before < 99
    set_value(browser, "max-tokens", 5)
    say(browser, "more")
    wait_for_reply(browser, 2)
    assert browser.execute_script("return window.sent")[1]["messages"][1] == {"role": "assistant", "content": text}


def test_a_message_longer_than_the_context_shows_an_error_and_reset_recovers(browser, url):
    open_page(browser, url)
    set_value(browser, "max-tokens", 10)
    say(browser, "why " * 40)  # 160 characters: more than the 128-token context
    wait_for(browser, lambda b: bubbles(b, "error"))
    assert "maximum context length is 128 tokens" in bubbles(browser, "error")[0]
    assert bubbles(browser, "assistant") == []
    assert browser.find_element(By.ID, "send").is_displayed()

    browser.find_element(By.ID, "reset").click()
    assert bubbles(browser, "message") == []
    say(browser, "hi")
    assert len(wait_for_reply(browser, 1)) == 10


def test_with_an_api_key_the_page_asks_for_it_and_sends_it(browser, tiny_model):
    model, tok = tiny_model
    with running_server(Service(model, tok, "tiny", 4), api_key=KEY) as keyed_url:
        open_page(browser, keyed_url)
        key_field = browser.find_element(By.ID, "api-key")
        wait_for(browser, lambda b: key_field.is_displayed())
        set_value(browser, "max-tokens", 10)
        say(browser, "hi")
        wait_for(browser, lambda b: bubbles(b, "error"))
        assert "Unauthorized" in bubbles(browser, "error")[0]

        key_field.send_keys(KEY)
        say(browser, "hi")
        try:
            assert len(wait_for_reply(browser, 1)) == 10
        except TimeoutException:
            pytest.fail(f"no reply with the key; the page shows {bubbles(browser, 'message')}")
        assert browser.execute_script("return sessionStorage.getItem('lmlab-api-key')") == KEY


def test_a_ten_turn_conversation_outgrowing_the_context_goes_on_and_says_so_once(browser, small_context):
    url = small_context[0]
    open_page(browser, url)
    max_tokens = int(browser.find_element(By.ID, "max-tokens").get_attribute("value"))
    assert max_tokens == SMALL_CONTEXT // 2  # the room lmlab chat keeps for a reply
    messages = converse(browser, 10)
    assert [len(m["content"]) for m in messages[1::2]] == [max_tokens] * 10  # every reply arrived, whole
    assert left_out_notes(browser) == [f"Older messages no longer fit the model's {SMALL_CONTEXT}-token context; "
                                       "the model now sees only the latest ones, as lmlab chat does."]  # fmt: skip
    assert len(bubbles(browser, "message")) == 20  # what the model no longer sees is still on screen

    # The API itself keeps OpenAI's contract: the whole conversation, as the page once sent it, is refused.
    body = {"messages": messages[:-1], "max_tokens": max_tokens}
    request = urllib.request.Request(f"{url}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    error = json.load(refused.value)["error"]
    assert refused.value.code == 400 and error["code"] == "context_length_exceeded"
    assert f"maximum context length is {SMALL_CONTEXT} tokens" in error["message"]


def test_what_the_page_sends_fits_keeps_the_system_prompt_and_matches_lmlab_chat(browser, small_context):
    url, model, tok = small_context
    open_page(browser, url)
    record_requests(browser)
    set_value(browser, "system", "Be brief.")
    set_value(browser, "max-tokens", 6)  # room for a few exchanges in the context, not for ten
    conversation = converse(browser, 10)

    # lmlab chat's own rule (ChatSession.prompt_ids), replayed over the same conversation
    session = ChatSession(model, tok, system="Be brief.", max_new_tokens=6)
    expected = []
    for user, assistant in zip(conversation[::2], conversation[1::2]):
        session.history.append(user)
        session.prompt_ids()  # drops the oldest exchanges that no longer fit
        expected.append(session.messages())
        session.history.append(assistant)
    accepted = accepted_requests(browser)
    assert [body["messages"] for body in accepted] == expected
    for body in accepted:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert len(render_prompt(tok, body["messages"])) + body["max_tokens"] <= SMALL_CONTEXT
    assert max(len(body["messages"]) for body in accepted) > 4  # more than the latest exchange was kept when it fit
    assert len(accepted[-1]["messages"]) < 20  # and the oldest were left out
    assert len(left_out_notes(browser)) == 1

    # the messages the model no longer sees are dimmed, the others not
    seen = len(accepted[-1]["messages"])  # the last request's turns (less the system prompt), and its reply
    dimmed = browser.execute_script("return [...document.querySelectorAll('#messages .message')]"
                                    ".map(e => e.classList.contains('unseen'))")  # fmt: skip
    assert dimmed == [True] * (20 - seen) + [False] * seen


def test_a_call_the_server_runs_shows_in_the_reply(browser):
    from test_tools import Scripted, calls_then_echoes

    tok = train_char(["What is 0123456789 + - * ? and"])
    with running_server(Service(Scripted(tok, calls_then_echoes), tok, "calculating", 2)) as base_url:
        open_page(browser, base_url)
        set_value(browser, "temperature", 0)
        say(browser, "What is 12 + 30?")
        wait_for_reply(browser, 1)
        script = "return [...document.querySelectorAll('#messages .assistant .tool')].map(e => e.textContent)"
        assert browser.execute_script(script) == ["calculator: 12 + 30 = 42"]
        assert last_reply(browser)[0] == "calculator: 12 + 30 = 4242"  # the call's line, then the answer
        say(browser, "What is 7 * 6?")  # the next request sends the answer (the call is not part of the history)
        wait_for_reply(browser, 2)
        assert browser.execute_script(script) == ["calculator: 12 + 30 = 42", "calculator: 7 * 6 = 42"]
