"""The request bounds on their own: a streamed body is cut off at the limit."""

from __future__ import annotations

import asyncio
from typing import Any

from onthaal.web.limits import BodyLimit, GateFull, HashGate


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit() -> None:
    read: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:  # like a framework reading the whole body into memory
            message = await receive()
            read.append(len(message["body"]))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})

    chunks = iter([b"x" * 600_000] * 10)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": next(chunks), "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await BodyLimit(app, max_bytes=1_000_000)({"type": "http", "headers": []}, receive, send)
    assert sent[0]["status"] == 413
    assert sum(read) <= 1_200_000, "stopped reading right after the limit"


async def test_sign_ins_beyond_the_gate_are_refused_at_once() -> None:
    gate = HashGate(concurrency=1, queue=1)
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_check() -> str:
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=5)
        return "ok"

    first = asyncio.create_task(gate.run(slow_check))
    second = asyncio.create_task(gate.run(slow_check))
    await asyncio.sleep(0.05)
    try:
        await gate.run(slow_check)
        raise AssertionError("a third sign-in should not queue")
    except GateFull:
        pass
    release.set()
    assert await first == "ok" and await second == "ok"
