#!/usr/bin/env python3
"""Joins realms with autobahn-python (asyncio), one target after another.

    python join.py < targets.json

Each target is an object: ``label``, ``url`` (ws://... or rs://...),
``transport`` (websocket or rawsocket), ``serializer``, ``realm``, and for
ticket or WAMP-CRA authentication ``authid`` with ``ticket`` or ``secret``.
Prints ``ok LABEL authid=... authrole=...`` or ``FAIL LABEL: WHY`` per target
and exits 0 only when every target joined (and left again). Run by
tests/crossbar_import.rs against routers started from converted Crossbar.io
configs.
"""

import asyncio
import json
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402

STEP = 10.0


async def join(t):
    loop = asyncio.get_running_loop()
    if t["transport"] == "websocket":
        transport = {"type": "websocket", "url": t["url"], "serializers": [t["serializer"]], "max_retries": 0}
    else:
        transport = {"type": "rawsocket", "url": t["url"], "serializer": t["serializer"], "max_retries": 0}
    authentication = None
    if "ticket" in t:
        authentication = {"ticket": {"authid": t["authid"], "ticket": t["ticket"]}}
    elif "secret" in t:
        authentication = {"wampcra": {"authid": t["authid"], "secret": t["secret"]}}
    kwargs = {"transports": [transport], "realm": t["realm"]}
    if authentication:
        kwargs["authentication"] = authentication
    comp = Component(**kwargs)
    joined = loop.create_future()

    @comp.on_join
    async def _joined(session, details):
        if not joined.done():
            joined.set_result(details)
        session.leave()

    done = comp.start(loop=loop)

    def stopped(f):
        if not joined.done():
            err = None if f.cancelled() else f.exception()
            joined.set_exception(err or RuntimeError("the session ended before it joined"))

    done.add_done_callback(stopped)
    details = await asyncio.wait_for(joined, STEP)
    try:
        await asyncio.wait_for(done, STEP)
    except Exception:
        # After a clean leave over RawSocket, autobahn's Component reports
        # "failed to complete connection" (as tests/interop/python/scenarios.py
        # notes); the join was seen, which is what counts here.
        if t["transport"] != "rawsocket":
            raise
    return details


async def main():
    targets = json.load(sys.stdin)
    failed = 0
    for t in targets:
        try:
            d = await join(t)
            print(f"ok {t['label']} authid={d.authid} authrole={d.authrole}", flush=True)
        except BaseException as e:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"FAIL {t['label']}: {type(e).__name__}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
