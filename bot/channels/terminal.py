"""`raabta chat`: the bot in a terminal. Buttons are numbered; typing a number presses one.

Reads standard input line by line, so it can be scripted when stdin is not a terminal.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

from bot.channels.fallback import handle_or_fallback
from bot.dialogue import Button, Inbound, Reply
from bot.pipeline import Pipeline

CHANNEL = "terminal"


def render(replies: list[Reply], out: TextIO) -> list[Button]:
    """Print replies; return the buttons now on offer, in their numbered order."""
    buttons: list[Button] = []
    for reply in replies:
        print(reply.text, file=out)
        for button in reply.buttons:
            buttons.append(button)
        if reply.buttons:
            print("  " + "   ".join(f"[{i}] {b.label}" for i, b in enumerate(buttons, 1)), file=out)
        print(file=out)
    return buttons


async def chat(
    pipeline: Pipeline, lang: str | None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout
) -> int:
    user = uuid.uuid4().hex
    counter = 0
    interactive = stdin.isatty()

    async def send(text: str | None = None, choice: str | None = None) -> list[Button]:
        nonlocal counter
        counter += 1
        inbound = Inbound(CHANNEL, user, f"{user}:{counter}", text=text, choice=choice)
        handled = await handle_or_fallback(pipeline, inbound, lang)
        return render(handled.replies, out)

    offered = await send(choice=f"lang:{lang}") if lang else await send(text="/start")
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            print("> ", end="", file=out, flush=True)
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return 0
        line = line.rstrip("\n")
        if line.strip() in ("/quit", "/exit"):
            return 0
        if not interactive:
            print(f"> {line}", file=out)
        number = line.strip()
        if number.isdigit() and 1 <= int(number) <= len(offered):
            offered = await send(choice=offered[int(number) - 1].id)
        else:
            offered = await send(text=line)
