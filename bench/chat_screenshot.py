"""A screenshot of the chat page (lmlab/serve/chat.html) talking to a real run, for the docs.

Serves RUN (lmlab.serve.app.load_service), opens the page in headless Chromium at 1000x760, sets a system prompt
and temperature 0 (so the picture is reproducible), sends the messages one by one, waits for each reply to finish
streaming, and saves a PNG.

    python bench/chat_screenshot.py RUN [--out docs/chat-page.png] [--system TEXT] [MESSAGE ...]
"""

import argparse
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from lmlab.serve.app import load_service, running_server

WIDTH, HEIGHT = 1000, 760
MESSAGES = ["What is 12 + 34?", "Spell 'lantern' backwards."]  # two of the SFT tasks (lmlab.data.tasks)
SYSTEM = "You are a helpful assistant."  # the system prompt the SFT data uses


def headless_chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(arg)
    driver_path = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
    driver = webdriver.Chrome(options=options, service=DriverService(driver_path) if driver_path else None)
    # the viewport itself, whatever the window around it
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    return driver


def set_value(driver, element_id: str, value):
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, str(value))  # fmt: skip


def reply_done(driver, n: int) -> bool:
    """Whether the n-th assistant reply (or an error) is on the page and has finished streaming."""
    return driver.execute_script(
        """const replies = document.querySelectorAll('#messages .assistant');
           return document.querySelector('#messages .error') !== null
               || (replies.length === arguments[0] && replies[arguments[0] - 1].dataset.streaming === 'false');""",
        n,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="the run folder to serve, e.g. runs/sft")
    ap.add_argument("messages", nargs="*", default=MESSAGES, help="the user messages to send, in order")
    ap.add_argument("--system", default=SYSTEM, help="the system prompt")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "chat-page.png"))
    args = ap.parse_args()

    service = load_service(args.run)
    with running_server(service) as url:
        driver = headless_chromium()
        try:
            driver.get(url)
            wait = WebDriverWait(driver, 60, poll_frequency=0.05)
            wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-connected") == "true")
            set_value(driver, "system", args.system)
            set_value(driver, "temperature", 0)
            set_value(driver, "temperature-slider", 0)
            for n, message in enumerate(args.messages, 1):
                driver.find_element(By.ID, "input").send_keys(message, Keys.ENTER)
                wait.until(lambda d: reply_done(d, n))
                replies = driver.execute_script(
                    "return [...document.querySelectorAll('#messages .assistant, #messages .error')]"
                    ".map(e => e.textContent)"
                )
                print(f"> {message}\n{replies[-1]}")
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
            print(f"saved {out}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
