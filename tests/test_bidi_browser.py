"""Urdu numbers read in the right order in a real browser (issue 18): every Urdu text of the catalog with a
digit or an @handle, as the bot sends it (placeholders filled like the flows fill them), is laid out by
headless Chromium in a `dir="rtl" lang="ur"` element, and for every run of digits (a helpline, a phone
number, a date, a reference code), every @handle, link and e-mail address the glyph boxes, read from left to
right, must spell the run in its logical order: "0800-39393", never "39393-0800".

The same check on the texts without their isolates must fail on the DRF-style numbers: that is the bug, and
it keeps the check honest.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright

from responses.bidi import isolate, strip
from tests.browser import ARGS, CHROMIUM, HAVE_CHROMIUM
from tests.test_bidi import ISSUE, every_text

pytestmark = pytest.mark.asyncio(loop_scope="module")

PAGE = '<!doctype html><html lang="ur"><meta charset="utf-8"><title>bidi</title><body></body></html>'

# For each text: its runs (found on the logical text), each character's glyph box from a Range, and the
# characters sorted by their boxes' left edges. Spaces are skipped (a space has no glyph to see). Lines
# never wrap (white-space: pre), so a run sits on one line.
ORDER = r"""
(texts) => {
  const runs = new RegExp([
    "[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)+",
    "(?:https?://|www\\.)[^\\s\\u2066-\\u2069]*[^\\s\\u2066-\\u2069.,;:!?)\\u06d4\\u060c]",
    "@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?",
    "(?<![0-9A-Za-z])[0-9A-Z]{4}-[0-9A-Z]{4}(?![0-9A-Za-z])",
    "\\+?[0-9\\u06f0-\\u06f9]+(?:[ \\-.,/:][0-9\\u06f0-\\u06f9]+)*",
  ].join("|"), "g");
  document.body.replaceChildren();
  const wrong = [];
  let checked = 0;
  texts.forEach((text, n) => {
    const div = document.createElement("div");
    div.dir = "rtl";
    div.lang = "ur";
    div.style.whiteSpace = "pre";
    div.textContent = text;
    document.body.append(div);
    const node = div.firstChild;
    for (const match of text.matchAll(runs)) {
      const boxes = [];
      for (let i = match.index; i < match.index + match[0].length; i++) {
        if (text[i] === " ") continue;
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        boxes.push({ char: text[i], left: rect.left, top: rect.top });
      }
      checked += 1;
      const logical = boxes.map((b) => b.char).join("");
      const visual = [...boxes].sort((a, b) => a.left - b.left).map((b) => b.char).join("");
      const lines = new Set(boxes.map((b) => Math.round(b.top))).size;
      if (visual !== logical || lines !== 1) wrong.push({ n, run: match[0], visual });
    }
  });
  return { wrong, checked };
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page() -> AsyncIterator[Page]:
    if not HAVE_CHROMIUM:
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = await browser.new_page(viewport={"width": 390, "height": 844})
        await tab.set_content(PAGE)
        yield tab
        await browser.close()


def with_numbers() -> dict[str, str]:
    """Every Urdu text with a digit or an @handle, as sent."""
    return {key: text for key, text in every_text("ur").items() if re.search(r"\d|@", text)}


async def misordered(page: Page, texts: list[str]) -> tuple[list[dict[str, Any]], int]:
    result = await page.evaluate(ORDER, texts)
    return result["wrong"], result["checked"]


async def test_every_urdu_number_code_and_handle_reads_in_its_logical_order(page: Page) -> None:
    texts = with_numbers()
    assert {"help.helplines", "report.done", "status.invalid", "emergency.now", "family.ask_phone"} <= set(
        texts
    )
    keys = list(texts)
    wrong, checked = await misordered(page, list(texts.values()))
    assert checked > 100  # every helpline, date, code and time of day, not a handful
    assert not wrong, [f"{keys[w['n']]}: {w['run']!r} reads {w['visual']!r}" for w in wrong]


async def test_the_issues_four_examples_read_right_once_isolated_and_wrong_before(page: Page) -> None:
    texts = [text for text, _ in ISSUE]
    assert not (await misordered(page, [isolate(t, "ur") for t in texts]))[0]
    wrong, _ = await misordered(page, texts)
    assert {w["run"] for w in wrong} == {run for _, run in ISSUE}


async def test_without_isolates_the_drf_style_numbers_read_backwards(page: Page) -> None:
    texts = with_numbers()
    keys = list(texts)
    wrong, _ = await misordered(page, [strip(t) for t in texts.values()])
    backwards = {(keys[w["n"]], w["run"], w["visual"]) for w in wrong}
    assert ("help.helplines", "0800-39393", "39393-0800") in backwards, sorted(backwards)[:20]
    assert ("help.helplines", "0800 011 3764", "37640110800") in backwards, sorted(backwards)[:20]
    assert ("family.ask_phone", "0300 1234567", "12345670300") in backwards
