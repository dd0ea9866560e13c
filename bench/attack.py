"""The attacker of `serve_under_attack`, in its own process (so its work does not slow the
bench's fakes): raw HTTP/1.1 over asyncio streams against a serve on 127.0.0.1, for a bounded
time, with forged credentials only.

    python -m bench.attack '{"url": "http://127.0.0.1:PORT", "duration": 20, ...}'

- `slow`: connections that announce a 100 KB signed-looking body and send one byte every
  2 s, coming back 2 s after being cut or refused, until the end;
- `chunked`: bodies of `chunked_mib` MiB without a Content-Length, sent as fast as serve
  takes them, spread over the duration;
- `presses` and `deliveries`: forged Slack presses and Sentry deliveries (fresh timestamps,
  wrong signatures), spread evenly over the duration.

Prints "ready" once the slow connections are open, and on its last line a JSON summary: the
answers each kind got, and the bytes the chunked bodies got through.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

SLOW_BODY = 100_000
DRIP_SECONDS = 2.0
PIECE = 64 * 1024


class Attack:
    def __init__(self, settings: dict[str, Any]) -> None:
        parts = urlsplit(settings["url"])
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.duration = float(settings.get("duration", 20.0))
        self.slow = int(settings.get("slow", 200))
        self.chunked = int(settings.get("chunked", 20))
        self.chunked_bytes = int(settings.get("chunked_mib", 50)) * 1024 * 1024
        self.presses = int(settings.get("presses", 1000))
        self.deliveries = int(settings.get("deliveries", 1000))
        self.answers: dict[str, Counter[str]] = {k: Counter() for k in (
            "slow", "chunked", "presses", "deliveries")}
        self.chunked_sent: list[int] = []
        self.started = 0.0
        self.end = 0.0

    @staticmethod
    def _signed(path: str) -> str:
        """Headers any forger can send: a fresh timestamp and a made-up signature."""
        now = int(time.time())
        if path == "/slack/actions":
            return (f"X-Slack-Request-Timestamp: {now}\r\nX-Slack-Signature: v0={'0' * 64}\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\n")
        return (f"Sentry-Hook-Timestamp: {now}\r\nSentry-Hook-Signature: {'0' * 64}\r\n"
                f"Sentry-Hook-Resource: event_alert\r\nRequest-ID: forged-{now}\r\n"
                "Content-Type: application/json\r\n")

    def _head(self, path: str, framing: str) -> bytes:
        return (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self._signed(path)}"
                f"{framing}\r\n").encode()

    @staticmethod
    def _status(data: bytes) -> str:
        return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "none"

    async def _answer(self, reader: asyncio.StreamReader, wait: float) -> str:
        try:
            line = await asyncio.wait_for(reader.readline(), wait)
        except (TimeoutError, OSError):
            return "none"
        return self._status(line)

    # ------------------------------------------------------------ the four kinds

    async def slow_one(self, index: int, opened: asyncio.Event, count: list[int]) -> None:
        path = "/slack/actions" if index % 2 else "/alerts/sentry"
        first = True
        while time.monotonic() < self.end:
            writer = None
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(self._head(path, f"Content-Length: {SLOW_BODY}\r\n"))
                await writer.drain()
                if first:
                    first = False
                    count[0] += 1
                    if count[0] >= self.slow:
                        opened.set()
                status = "none"
                while time.monotonic() < self.end:
                    writer.write(b"x")
                    await writer.drain()
                    status = await self._answer(reader, DRIP_SECONDS)
                    if status != "none" or reader.at_eof():
                        break
                self.answers["slow"][status] += 1
            except OSError as exc:
                self.answers["slow"][type(exc).__name__] += 1
            finally:
                if writer is not None:
                    writer.close()
            # Cut or refused: the same connection comes back, at the drip's pace (200
            # connections held open, not a flood of new ones).
            await asyncio.sleep(min(DRIP_SECONDS, max(0.0, self.end - time.monotonic())))

    async def chunked_one(self, index: int) -> None:
        await self._at(index * self.duration / max(1, self.chunked))
        path = "/slack/actions" if index % 2 else "/alerts/sentry"
        chunk = f"{PIECE:x}\r\n".encode() + b"x" * PIECE + b"\r\n"
        sent = 0
        writer = None
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self._head(path, "Transfer-Encoding: chunked\r\n"))
            answer: asyncio.Task[bytes] = asyncio.ensure_future(reader.readline())
            while sent < self.chunked_bytes and not answer.done():
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 10)
                sent += PIECE
            status = self._status(await asyncio.wait_for(answer, 10))
        except (OSError, TimeoutError) as exc:
            status = type(exc).__name__
        finally:
            if writer is not None:
                writer.close()
        self.chunked_sent.append(sent)
        self.answers["chunked"][status] += 1

    async def small_one(self, kind: str, index: int, total: int) -> None:
        await self._at(index * self.duration / max(1, total))
        path = "/slack/actions" if kind == "presses" else "/alerts/sentry"
        body = (b"payload=" + b'{"type":"block_actions","user":{"id":"U0EVIL"}}' * 10
                if kind == "presses" else b'{"action":"triggered","data":{}}' * 10)
        writer = None
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            writer.write(self._head(path, f"Content-Length: {len(body)}\r\n") + body)
            await writer.drain()
            status = await self._answer(reader, 10)
        except OSError as exc:
            status = type(exc).__name__
        finally:
            if writer is not None:
                writer.close()
        self.answers[kind][status] += 1

    async def _at(self, offset: float) -> None:
        delay = self.started + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self.end = self.started + self.duration
        opened, count = asyncio.Event(), [0]
        tasks = [asyncio.ensure_future(self.slow_one(i, opened, count))
                 for i in range(self.slow)]
        try:
            await asyncio.wait_for(opened.wait(), 10)
        except TimeoutError:
            pass
        print("ready", flush=True)
        tasks += [asyncio.ensure_future(self.chunked_one(i)) for i in range(self.chunked)]
        tasks += [asyncio.ensure_future(self.small_one("presses", i, self.presses))
                  for i in range(self.presses)]
        tasks += [asyncio.ensure_future(self.small_one("deliveries", i, self.deliveries))
                  for i in range(self.deliveries)]
        _, pending = await asyncio.wait(tasks, timeout=self.duration + 15)
        for task in pending:
            task.cancel()
        return {"answers": {k: dict(v) for k, v in self.answers.items()},
                "chunked_bytes_sent_max": max(self.chunked_sent, default=0),
                "chunked_bytes_sent_total": sum(self.chunked_sent),
                "unfinished_tasks": len(pending),
                "seconds": round(time.monotonic() - self.started, 1)}


def main(argv: list[str]) -> int:
    summary = asyncio.run(Attack(json.loads(argv[0])).run())
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
