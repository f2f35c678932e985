#!/usr/bin/env python3
"""Dynamic authentication and authorization with autobahn-python (asyncio).

    python dynamic.py --url ws://127.0.0.1:PORT/ws --ticket-url ws://127.0.0.1:PORT2/ws \
        --serializer json

The router (tests/interop.rs, ``python_dynamic_*``) serves ``realm1`` on two
WebSocket transports: ``--url`` admits anonymous sessions (role
``anonymous``, allowed everything), ``--ticket-url`` authenticates tickets
with the dynamic authenticator ``com.interop.authenticate``. The role
``dyn`` of ``realm1`` has the dynamic authorizer ``com.interop.authorize``.

A service session joins anonymously and registers both procedures: the
authenticator accepts ``secret-<authid>`` (role ``dyn``, authextra
``{"greeting": "hi"}``) and raises ``com.interop.invalid_ticket`` otherwise;
the authorizer allows URIs under ``com.interop.allowed.`` and denies the
rest, always with ``cache: true``, and counts how often it is asked per
(uri, action). Scenarios: a good ticket joins as ``dyn``, a bad one is
aborted with the authenticator's error; ``dyn``'s allowed call, publish and
subscribe succeed, denied ones fail with ``wamp.error.not_authorized``, and
repeating each action asks the authorizer only once (the router caches).

Prints one line per scenario (``ok NAME`` or ``FAIL NAME: WHY``) and exits 0
only when every scenario passed.
"""

import argparse
import asyncio
import sys
import time
import traceback

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402

STEP = 10.0


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


async def step(aw, what):
    try:
        return await asyncio.wait_for(aw, STEP)
    except asyncio.TimeoutError:
        raise Fail(f"timed out after {STEP}s waiting for {what}") from None


async def expect_error(aw, uri, what):
    try:
        res = await step(aw, what)
    except ApplicationError as e:
        if e.error != uri:
            raise Fail(f"{what}: error {e.error!r} {list(e.args)!r}, want {uri!r}") from None
        return e
    raise Fail(f"{what}: succeeded with {res!r}, want error {uri!r}")


def start(url, serializer, authentication=None):
    """Starts a component; returns (joined future: (session, details), left future: reason)."""
    loop = asyncio.get_running_loop()
    transport = {"type": "websocket", "url": url, "serializers": [serializer], "max_retries": 0}
    kw = {"authentication": authentication} if authentication else {}
    comp = Component(transports=[transport], realm="realm1", **kw)
    joined, left = loop.create_future(), loop.create_future()

    @comp.on_join
    async def _joined(session, details):
        if not joined.done():
            joined.set_result((session, details))

    @comp.on_leave
    async def _left(session, details):
        if not left.done():
            left.set_result((details.reason, details.message))

    done = comp.start(loop=loop)

    def stopped(f):
        for fut in (joined, left):
            if not fut.done():
                err = None if f.cancelled() else f.exception()
                fut.set_exception(err or Fail("component stopped"))

    done.add_done_callback(stopped)
    return joined, left


class Service:
    def __init__(self):
        self.asked = {}
        self.tickets = []

    def authenticate(self, realm, authid, details):
        self.tickets.append((realm, authid, details.get("authmethod")))
        if details.get("ticket") == f"secret-{authid}":
            return {"role": "dyn", "extra": {"greeting": "hi"}}
        raise ApplicationError("com.interop.invalid_ticket", "bad ticket")

    def authorize(self, session, uri, action, options):
        key = (uri, action)
        self.asked[key] = self.asked.get(key, 0) + 1
        check(session.get("authrole") == "dyn", f"authorizer's session dict: {session!r}")
        return {"allow": uri.startswith("com.interop.allowed."), "cache": True}


async def scenario_ticket_ok_and_denied(ctx):
    joined, _ = start(ctx.args.ticket_url, ctx.args.serializer,
                      {"ticket": {"authid": "dave", "ticket": "secret-dave"}})
    session, details = await step(joined, "dave to join with a good ticket")
    eq(details.authrole, "dyn", "authrole")
    eq(details.authid, "dave", "authid")
    eq(details.authmethod, "ticket", "authmethod")
    eq(details.authprovider, "dynamic", "authprovider")
    eq((details.authextra or {}).get("greeting"), "hi", "authextra")
    ctx.dave = session
    joined, left = start(ctx.args.ticket_url, ctx.args.serializer,
                         {"ticket": {"authid": "eve", "ticket": "guess"}})
    reason, _ = await step(left, "eve's bad ticket to be refused")
    eq(reason, "com.interop.invalid_ticket", "ABORT reason")
    check(not joined.done() or joined.exception() is not None, "eve must not join")
    eq(ctx.service.tickets[-1], ("realm1", "eve", "ticket"), "authenticator arguments")


async def scenario_authorizer_allows_denies_and_caches(ctx):
    dave, svc = ctx.dave, ctx.service
    for i in range(3):
        eq(await step(dave.call("com.interop.allowed.echo", i), "allowed call"), i, "echo")
        await step(dave.publish("com.interop.allowed.topic", i,
                                options=PublishOptions(acknowledge=True)), "allowed publish")
        await expect_error(dave.call("com.interop.denied.proc"), "wamp.error.not_authorized",
                           "denied call")
        await expect_error(dave.subscribe(lambda *a: None, "com.interop.denied.topic"),
                           "wamp.error.not_authorized", "denied subscribe")
    sub = await step(dave.subscribe(lambda *a: None, "com.interop.allowed.topic"), "allowed subscribe")
    await step(sub.unsubscribe(), "unsubscribe")
    # Each (uri, action) was asked once: the router answered the rest from its cache.
    eq(svc.asked, {
        ("com.interop.allowed.echo", "call"): 1,
        ("com.interop.allowed.topic", "publish"): 1,
        ("com.interop.denied.proc", "call"): 1,
        ("com.interop.denied.topic", "subscribe"): 1,
        ("com.interop.allowed.topic", "subscribe"): 1,
    }, "authorizer invocations")


SCENARIOS = [
    ("ticket_ok_and_denied", scenario_ticket_ok_and_denied),
    ("authorizer_allows_denies_and_caches", scenario_authorizer_allows_denies_and_caches),
]


class Ctx:
    pass


async def main(args):
    ctx = Ctx()
    ctx.args = args
    ctx.service = Service()
    try:
        joined, _ = start(args.url, args.serializer)
        svc, _ = await step(joined, "the service session to join")
        await step(svc.register(ctx.service.authenticate, "com.interop.authenticate"), "register")
        await step(svc.register(ctx.service.authorize, "com.interop.authorize"), "register")
        await step(svc.register(lambda x: x, "com.interop.allowed.echo"), "register")
    except Exception as e:
        print(f"FAIL service: {type(e).__name__}: {e}", flush=True)
        return 1
    failed = []
    for name, fn in SCENARIOS:
        t0 = time.monotonic()
        try:
            await fn(ctx)
            print(f"ok {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception as e:
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc()
            break
    for s in (getattr(ctx, "dave", None), svc):
        if s is not None and s.is_attached():
            s.leave()
    await asyncio.sleep(0.1)
    print(f"{'FAILED' if failed else 'passed'}: autobahn-python dynamic auth {args.serializer}",
          flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--ticket-url", required=True)
    ap.add_argument("--serializer", choices=["json", "msgpack", "cbor"], required=True)
    sys.exit(asyncio.run(main(ap.parse_args())))
