#!/usr/bin/env python3
"""Waits until a router link carries events and calls: benches/links/run's
readiness check (any router: shardwamp or Crossbar.io).

    probe.py SINK_URL SOURCE_URL [TIMEOUT_S]

Subscribes to a probe topic and registers a probe procedure on the router at
SINK_URL, then, on the router at SOURCE_URL, publishes to the topic and calls
the procedure until both arrive across the link (exit 0), or gives up after
TIMEOUT_S seconds (default 90; exit 1). Both sessions join realm1
anonymously. Runs with the crossbar venv's python (its autobahn).
"""

import asyncio
import sys

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig, PublishOptions

TOPIC = "bench.links.probe"
PROCEDURE = "bench.links.probe.echo"


async def join(url):
    """An anonymous session on realm1 at url (ws://HOST:PORT/PATH)."""
    hostport = url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    joined = asyncio.get_running_loop().create_future()

    class Session(ApplicationSession):
        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError(f"{url}: left: {details.reason}"))
            super().onLeave(details)

    factory = WampWebSocketClientFactory(
        lambda: Session(ComponentConfig("realm1")), url=url
    )
    await asyncio.get_running_loop().create_connection(factory, host, int(port))
    return await joined


async def probe(sink_url, source_url, timeout):
    sink = await join(sink_url)
    got = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        if not got.done():
            got.set_result(True)

    await sink.subscribe(on_event, TOPIC)
    await sink.register(lambda x: x, PROCEDURE)
    source = await join(source_url)
    deadline = asyncio.get_running_loop().time() + timeout
    event_ok = call_ok = False
    while not (event_ok and call_ok):
        if asyncio.get_running_loop().time() > deadline:
            print(
                f"probe: the link does not carry {'events' if not event_ok else 'calls'} "
                f"after {timeout} s",
                file=sys.stderr,
            )
            return 1
        if not event_ok:
            await source.publish(TOPIC, 1, options=PublishOptions(acknowledge=True))
            try:
                await asyncio.wait_for(asyncio.shield(got), 0.5)
                event_ok = True
            except asyncio.TimeoutError:
                pass
        if not call_ok:
            try:
                call_ok = await source.call(PROCEDURE, 7) == 7
            except ApplicationError:
                await asyncio.sleep(0.5)
    source.leave()
    sink.leave()
    await asyncio.sleep(0.2)
    return 0


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    timeout = float(sys.argv[3]) if len(sys.argv) == 4 else 90.0
    sys.exit(asyncio.run(probe(sys.argv[1], sys.argv[2], timeout)))


if __name__ == "__main__":
    main()
