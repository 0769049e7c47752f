"""The chat page (lmlab/serve/chat.html) in a real headless Chromium, against a real server over a tiny random GPT.

The model's replies are gibberish, but the page's behaviour is what is tested: streaming, what it sends, Reset,
Stop, errors and the API key. Skipped only when no Chromium or chromedriver can be started.
"""

import json
import shutil
import time
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

from lmlab.models.config import ModelConfig
from lmlab.models.gpt import GPT
from lmlab.serve.app import Service, running_server
from lmlab.tokenizer import SPECIAL_TOKENS, train_char

TEXT = "the quick brown fox jumps over the lazy dog, and asks: why?"
STEP_SECONDS = 0.01  # per decoding step: a 100-token reply streams for about a second, long enough to watch
KEY = "sk-test-key"


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


@pytest.fixture(scope="module")
def tiny_model():
    tok = train_char([TEXT])
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=128, vocab_size=tok.vocab_size))
    allowed = sorted({i for c in set(TEXT) for i in tok.encode(c)})
    assert all(tok.special_id(t) not in allowed for t in SPECIAL_TOKENS)
    return PlainTextModel(model, allowed), tok


@pytest.fixture(scope="module")
def service(tiny_model):
    model, tok = tiny_model
    return Service(model, tok, "tiny", 4)


@pytest.fixture(scope="module")
def url(service):
    with running_server(service) as base_url:
        yield base_url


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
    """From now on, the page's chat requests are kept (as parsed JSON) in window.sent."""
    browser.execute_script("""window.sent = [];
        const fetchBefore = window.fetch;
        window.fetch = (url, options) => {
            if (String(url).includes('/v1/chat/completions')) window.sent.push(JSON.parse(options.body));
            return fetchBefore(url, options);
        };""")


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
