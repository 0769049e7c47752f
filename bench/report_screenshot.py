"""A screenshot of the top of an `lmlab run` report (RUN/report.md rendered as HTML with its PNGs), for the README.

Renders the Markdown with the `markdown` package (tables on) into RUN/report.html, opens it in headless Chromium
at 1000 x HEIGHT and saves a PNG of what the window shows.

    python bench/report_screenshot.py RUN [--out docs/report.png] [--height 1400] [--scroll-to HEADING]
"""

import argparse
import time
from pathlib import Path

import markdown
from chat_screenshot import headless_chromium

WIDTH = 1000
STYLE = """body { font-family: sans-serif; max-width: 940px; margin: 16px auto; font-size: 14px; line-height: 1.4 }
table { border-collapse: collapse; font-size: 12px } td, th { border: 1px solid #ccc; padding: 2px 6px }
img { max-width: 460px; display: inline-block } pre { background: #f4f4f4; padding: 6px; white-space: pre-wrap }
blockquote { border-left: 3px solid #9ab; margin-left: 0; padding-left: 10px; color: #333 }"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="an lmlab run folder holding report.md")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "report.png"))
    ap.add_argument("--height", type=int, default=1400)
    ap.add_argument("--scroll-to", default="", help="the id-less heading text to scroll to first (default: the top)")
    args = ap.parse_args()
    run = Path(args.run).resolve()
    body = markdown.markdown((run / "report.md").read_text(), extensions=["tables", "fenced_code"])
    page = run / "report.html"
    page.write_text(f"<!doctype html><meta charset=utf-8><style>{STYLE}</style>{body}")
    driver = headless_chromium()
    try:
        metrics = {"width": WIDTH, "height": args.height, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(page.as_uri())
        time.sleep(1)  # the images load
        if args.scroll_to:
            driver.execute_script(
                "for (const h of document.querySelectorAll('h1,h2,h3')) if (h.textContent.includes(arguments[0]))"
                " { h.scrollIntoView(); break; }",
                args.scroll_to,
            )
        driver.save_screenshot(args.out)
    finally:
        driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
