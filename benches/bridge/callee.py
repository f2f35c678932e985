#!/usr/bin/env python3
"""A callee for the bridge benchmark: registers com.bench.echo (shared,
round-robin, so several of these processes split the calls) and answers
each call with its arguments. Prints "ready" once registered.

    callee.py ws://127.0.0.1:PORT/ws REALM
"""
import sys

from autobahn.asyncio.component import Component, run
from autobahn.wamp.types import RegisterOptions

url, realm = sys.argv[1], sys.argv[2]
comp = Component(transports=[{"url": url, "serializers": ["msgpack", "json"]}], realm=realm)


@comp.on_join
async def joined(session, details):
    await session.register(lambda *a, **kw: a[0] if a else None, "com.bench.echo",
                           options=RegisterOptions(invoke="roundrobin"))
    print("ready", flush=True)


run([comp], log_level="warn")
