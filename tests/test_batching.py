"""storage.batching: calls waiting together go in one batch; each caller gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from storage.batching import Batcher


async def test_calls_made_while_a_batch_runs_go_together_in_the_next() -> None:
    seen: list[list[int]] = []
    gate = asyncio.Event()

    async def run(items: list[int]) -> list[int | BaseException]:
        seen.append(items)
        if len(seen) == 1:
            await gate.wait()  # the first batch is busy while the others arrive
        return [item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(run)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40]
    assert seen == [[1], [2, 3, 4]]
    assert (batcher.batches, batcher.items) == (2, 4)


async def test_an_item_fails_alone_and_a_failed_run_fails_its_whole_batch() -> None:
    async def run(items: list[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("the write failed")
        return [ValueError(str(item)) if item < 0 else item for item in items]

    batcher: Batcher[int, int] = Batcher(run)
    ok, bad = await asyncio.gather(batcher.submit(5), batcher.submit(-1), return_exceptions=True)
    assert ok == 5 and isinstance(bad, ValueError)
    failed = await asyncio.gather(batcher.submit(1), batcher.submit(99), return_exceptions=True)
    assert all(isinstance(f, RuntimeError) for f in failed)
    assert await batcher.submit(7) == 7  # the next batch runs as usual


async def test_at_most_most_items_a_batch() -> None:
    sizes: list[int] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return list(items)

    batcher: Batcher[int, int] = Batcher(run, most=3)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(8))) == list(range(8))
    assert sizes == [3, 3, 2]


async def test_a_cancelled_caller_does_not_stop_its_batch() -> None:
    done: list[int] = []

    async def run(items: list[int]) -> list[int | BaseException]:
        await asyncio.sleep(0.01)
        done.extend(items)
        return list(items)

    batcher: Batcher[int, int] = Batcher(run)
    gone = asyncio.ensure_future(batcher.submit(1))
    kept = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == 2
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert done == [1, 2]  # what the cancelled caller asked for was done all the same
