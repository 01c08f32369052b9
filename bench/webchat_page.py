"""The web chat page on a cheap phone: transfer size and time to interactive under Chrome DevTools' "Slow
4G" profile (Network.emulateNetworkConditions: 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up) with
the CPU slowed 4x (Emulation.setCPUThrottlingRate, as Lighthouse's mobile run), in Debian's Chromium,
against the real app (SQLite in a temporary directory), every load with an empty cache.

"Interactive": from the start of navigation until the page has asked the server for the chat's history,
greeted and shown its language buttons (the page marks `<html data-ready>`): the first tap works.

Usage: .venv/bin/python -m bench.webchat_page [loads] [lang]
Prints, for a first visit and a reload mid-conversation in Urdu (the font is needed), the bytes
transferred before the font, the font's bytes, and the median and worst time to interactive.
Targets (issue 18): at most 150 KB before the font, interactive within 2 s.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

from bot.app import create_app
from bot.shared.config import load_settings
from storage.repository import Storage
from tests.browser import ARGS, CHROMIUM, serve
from tests.conftest import SECRET

SLOW_4G = {
    "offline": False,
    "latency": 562.5,
    "downloadThroughput": 1.6 * 1024 * 1024 / 8 * 0.9,
    "uploadThroughput": 750 * 1024 / 8 * 0.9,
}
CPU_SLOWDOWN = 4


async def load(browser: Browser, url: str, lang: str | None) -> dict[str, Any]:
    """One load with an empty cache; with `lang`, the conversation is first taken to that language (not
    throttled) and the page is then reloaded throttled, as a phone reloads a tab mid-report."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    if lang:
        await page.goto(url)
        await page.wait_for_selector("html[data-ready]")
        await page.locator(f'[data-choice="lang:{lang}"]').click()
        await page.wait_for_selector(f"html[lang='{lang}']")
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    await cdp.send("Network.emulateNetworkConditions", SLOW_4G)
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
    urls: dict[str, str] = {}
    sizes: dict[str, float] = {}
    cdp.on("Network.requestWillBeSent", lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    if lang:
        await page.reload(wait_until="commit")
    else:
        await page.goto(url, wait_until="commit")
    await page.wait_for_selector("html[data-ready] .buttons button:not([disabled])")
    # from the start of navigation (performance.timeOrigin) to the page's own mark
    interactive = await page.evaluate("performance.getEntriesByName('raabta-ready')[0].startTime") / 1000
    await page.evaluate("document.fonts.ready.then(() => true)")
    await page.wait_for_timeout(300)
    font = sum(v for k, v in sizes.items() if urls.get(k, "").endswith(".woff2"))
    rest = sum(v for k, v in sizes.items() if not urls.get(k, "").endswith(".woff2"))
    await context.close()
    return {"interactive": interactive, "bytes": rest, "font": font, "requests": len(sizes)}


def line(name: str, runs: list[dict[str, Any]]) -> str:
    times = sorted(r["interactive"] for r in runs)
    return (
        f"{name:<28} {statistics.median(r['bytes'] for r in runs) / 1024:8.1f} KB "
        f"{statistics.median(r['font'] for r in runs) / 1024:8.1f} KB "
        f"{statistics.median(r['requests'] for r in runs):5.0f} "
        f"{statistics.median(times):8.2f} s {times[-1]:8.2f} s"
    )


async def main(loads: int, lang: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        storage = Storage(url)
        await storage.upgrade()
        settings = load_settings(
            database_url=url,
            secret_key=SECRET,
            data_dir=Path(tmp) / "data",
            webchat_ip_limit=0,
            webchat_new_sessions_per_hour=0,
        )
        try:
            async with serve(create_app(settings, storage)) as base, async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                first = [await load(browser, f"{base}/chat", None) for _ in range(loads)]
                reload = [await load(browser, f"{base}/chat", lang) for _ in range(loads)]
                await browser.close()
        finally:
            await storage.close()
    print(f"== Web chat page, Slow 4G + CPU/{CPU_SLOWDOWN}, empty cache, 390x844, {loads} loads each")
    print(f"{'load':<28} {'before font':>11} {'font':>11} {'reqs':>5} {'median TTI':>10} {'worst TTI':>10}")
    print(line("first visit (greeting)", first))
    print(line(f"reload mid-chat ({lang})", reload))


if __name__ == "__main__":
    asyncio.run(
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, sys.argv[2] if len(sys.argv) > 2 else "ur")
    )
