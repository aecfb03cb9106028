"""A TCP relay on 127.0.0.1 that makes loopback look like a distant link.

Each chunk read from one side is held ``delay`` seconds before it is written
to the other (one-way delay). Per connection and direction at most
``window`` bytes may be held at once, so one TCP stream moves at most
window / delay bytes a second, like a long fat pipe limited by its window.
All connections share one ``rate`` cap per direction (the link itself).

Run it as ``python -m bench.relay LISTEN_PORT TARGET_PORT DELAY_MS WINDOW_KIB
RATE_MBS``; it prints one line ``ready PORT`` when it listens.
"""

import asyncio
import sys
import time
from dataclasses import dataclass

READ_SIZE = 64 * 1024


@dataclass(frozen=True)
class LinkParams:
    """One-way delay (s), bytes in flight per connection and direction, rate (B/s)."""

    delay: float = 0.025
    window: int = 256 * 1024
    rate: float = 60e6

    def describe(self) -> str:
        """Return the parameters as a user reads them."""
        per = self.window / self.delay / 1e6
        return (f"one-way delay {self.delay * 1000:.0f} ms, {self.window // 1024} KiB in "
                f"flight per connection (<= {per:.1f} MB/s per stream), "
                f"{self.rate / 1e6:.0f} MB/s per direction in all")


class Pacer:
    """A shared rate cap: ``wait(n)`` returns when ``n`` more bytes may pass."""

    def __init__(self, rate: float):
        self.rate, self.free_at = rate, 0.0

    async def wait(self, count: int) -> None:
        now = time.monotonic()
        start = max(self.free_at, now)
        self.free_at = start + count / self.rate
        if start > now:
            await asyncio.sleep(start - now)


async def _pump(reader, writer, params: LinkParams, pacer: Pacer) -> None:
    """Copy ``reader`` to ``writer`` with delay, window and rate applied."""
    held: asyncio.Queue = asyncio.Queue()
    room = asyncio.Condition()
    flight = [0]

    async def deliver() -> None:
        """Write what is due; a peer that hangs up ends it quietly."""
        try:
            while True:
                due, data = await held.get()
                if data is None:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await pacer.wait(len(data))
                writer.write(data)
                await writer.drain()
                async with room:
                    flight[0] -= len(data)
                    room.notify_all()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass

    task = asyncio.ensure_future(deliver())
    try:
        while True:
            async with room:
                await room.wait_for(lambda: flight[0] < params.window)
            data = await reader.read(min(READ_SIZE, params.window - flight[0]))
            if not data:
                break
            flight[0] += len(data)
            held.put_nowait((time.monotonic() + params.delay, data))
    except (ConnectionError, OSError):
        pass
    held.put_nowait((0.0, None))
    try:
        await task
    except (ConnectionError, OSError):
        task.cancel()


async def serve(listen: int, target: int, params: LinkParams) -> None:
    """Relay every connection to ``listen`` on to ``target`` until cancelled."""
    up, down = Pacer(params.rate), Pacer(params.rate)

    async def handle(reader, writer) -> None:
        try:
            t_reader, t_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pump(reader, t_writer, params, up),
                             _pump(t_reader, writer, params, down))
        writer.close()
        t_writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv) -> None:
    """Parse LISTEN TARGET DELAY_MS WINDOW_KIB RATE_MBS and serve forever."""
    listen, target = int(argv[0]), int(argv[1])
    params = LinkParams(float(argv[2]) / 1000, int(argv[3]) * 1024, float(argv[4]) * 1e6)
    asyncio.run(serve(listen, target, params))


if __name__ == "__main__":
    main(sys.argv[1:])
