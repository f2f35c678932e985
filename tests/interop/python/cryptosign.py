#!/usr/bin/env python3
"""WAMP-cryptosign interop: autobahn-python (asyncio, ``autobahn[encryption]``:
PyNaCl) joins a running shardwamp with cryptosign.

    python cryptosign.py --url ws://127.0.0.1:PORT/ws --transport websocket \
        --serializer json --privkey HEX --stranger HEX --router-pubkey HEX

The router (tests/interop.rs, ``cryptosign_router``) lists the public key of
``--privkey`` under principal ``client`` (role ``anonymous``) and has the node
key whose public key is ``--router-pubkey``; nobody lists ``--stranger``.
Prints ``ok NAME`` or ``FAIL NAME: WHY`` per scenario and exits 0 only when
every scenario passed.

With ``--trust-root CA`` the URL is ``wss://`` or ``rss://`` (TLS, the
router's certificate for ``localhost`` signed by CA). Channel binding:
autobahn-python binds with ``tls-unique`` only. On a plain connection the
router has no channel to bind to; over TLS it has no ``tls-unique`` (rustls
does not expose it, and TLS 1.3 defines none): either way the router must
refuse (ABORT ``wamp.error.authentication_failed``, the message naming the
binding), never continue silently unbound. Cryptosign without binding works
over both.
"""

import argparse
import asyncio
import binascii
import os
import sys
import time
import traceback
import urllib.parse

import txaio

txaio.use_asyncio()

import autobahn.wamp.auth as wamp_auth  # noqa: E402
from autobahn.asyncio.component import Component  # noqa: E402
from nacl.signing import VerifyKey  # noqa: E402

STEP = 10.0


class Fail(Exception):
    pass


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def transport(args):
    if args.transport == "websocket":
        t = {"type": "websocket", "url": args.url, "serializers": [args.serializer], "max_retries": 0}
    else:
        t = {"type": "rawsocket", "url": args.url, "serializer": args.serializer, "max_retries": 0}
    if args.trust_root:
        # TLS: trust the test's CA, check the name localhost
        u = urllib.parse.urlsplit(args.url)
        t["endpoint"] = {
            "type": "tcp",
            "host": u.hostname,
            "port": u.port,
            "tls": {"hostname": "localhost", "trust_root": args.trust_root},
        }
    return t


async def attempt(args, cryptosign):
    """Starts a component authenticating with ``cryptosign`` (autobahn's
    authentication dict); returns ("joined", details) after leaving again, or
    ("left", CloseDetails) when the router refused it."""
    loop = asyncio.get_running_loop()
    comp = Component(transports=[transport(args)], realm=args.realm,
                     authentication={"cryptosign": cryptosign})
    outcome = loop.create_future()

    @comp.on_join
    async def _joined(session, details):
        if not outcome.done():
            outcome.set_result(("joined", details))
        await session.leave()

    @comp.on_leave
    async def _left(session, details):
        if not outcome.done():
            outcome.set_result(("left", details))

    done = comp.start(loop=loop)

    def stopped(f):
        if not outcome.done():
            err = None if f.cancelled() else f.exception()
            outcome.set_exception(err or Fail("the component stopped without joining or leaving"))

    done.add_done_callback(stopped)
    try:
        res = await asyncio.wait_for(outcome, STEP)
    except asyncio.TimeoutError:
        raise Fail(f"timed out after {STEP}s") from None
    try:
        await asyncio.wait_for(done, STEP)
    except Exception:
        pass  # a refused component ends with an error; what counts is the outcome
    return res


async def scenario_join_inferred_authid(args):
    kind, details = await attempt(args, {"privkey": args.privkey})
    eq(kind, "joined", "outcome")
    eq(details.authid, "client", "authid inferred from the public key")
    eq(details.authmethod, "cryptosign", "authmethod")
    eq(details.authrole, "anonymous", "authrole")
    eq(details.authprovider, "static", "authprovider")


async def scenario_join_named_authid(args):
    kind, details = await attempt(args, {"privkey": args.privkey, "authid": "client"})
    eq(kind, "joined", "outcome")
    eq(details.authid, "client", "authid")


async def scenario_unknown_key_denied(args):
    kind, details = await attempt(args, {"privkey": args.stranger})
    eq(kind, "left", "outcome")
    eq(details.reason, "wamp.error.authentication_denied", "ABORT reason")


async def scenario_wrong_authid_denied(args):
    kind, details = await attempt(args, {"privkey": args.privkey, "authid": "someone-else"})
    eq(kind, "left", "outcome")
    eq(details.reason, "wamp.error.authentication_denied", "ABORT reason")


async def scenario_router_authentication(args):
    """The client sends its own challenge; the CHALLENGE must carry the
    router's public key and its Ed25519 signature over that challenge
    (verified here with PyNaCl: autobahn's AuthCryptoSign does not check it)."""
    mine = os.urandom(32)
    seen = []
    orig = wamp_auth.AuthCryptoSign.on_challenge

    def checking(self, session, challenge):
        seen.append(dict(challenge.extra))
        return orig(self, session, challenge)

    wamp_auth.AuthCryptoSign.on_challenge = checking
    try:
        kind, details = await attempt(args, {
            "privkey": args.privkey,
            "authextra": {"challenge": binascii.b2a_hex(mine).decode()},
        })
    finally:
        wamp_auth.AuthCryptoSign.on_challenge = orig
    eq(kind, "joined", "outcome")
    eq(len(seen), 1, "CHALLENGEs")
    extra = seen[0]
    eq(extra.get("pubkey"), args.router_pubkey, "CHALLENGE.extra.pubkey (the router's key)")
    signed = binascii.a2b_hex(extra.get("signature", ""))
    eq(len(signed), 96, "signature length (64 bytes + the 32 signed)")
    message = VerifyKey(binascii.a2b_hex(args.router_pubkey)).verify(signed[64:], signed[:64])
    eq(message, mine, "the message the router signed")


async def scenario_tls_unique_refused(args):
    """autobahn-python's binding, ``tls-unique``: refused at HELLO, over a
    plain connection (no channel) and over TLS (no tls-unique)."""
    kind, details = await attempt(args, {
        "privkey": args.privkey,
        "authextra": {"channel_binding": "tls-unique"},
    })
    eq(kind, "left", "outcome")
    eq(details.reason, "wamp.error.authentication_failed", "ABORT reason")
    if "tls-unique" not in (details.message or ""):
        raise Fail(f"the ABORT message does not name the binding: {details.message!r}")


SCENARIOS = [
    ("join_inferred_authid", scenario_join_inferred_authid),
    ("join_named_authid", scenario_join_named_authid),
    ("unknown_key_denied", scenario_unknown_key_denied),
    ("wrong_authid_denied", scenario_wrong_authid_denied),
    ("router_authentication", scenario_router_authentication),
    ("tls_unique_refused", scenario_tls_unique_refused),
]


async def main(args):
    failed = []
    for name, fn in SCENARIOS:
        t0 = time.monotonic()
        try:
            await fn(args)
            print(f"ok {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Fail as e:
            failed.append(name)
            print(f"FAIL {name}: {e}", flush=True)
        except Exception as e:
            failed.append(name)
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
    tls = " over TLS" if args.trust_root else ""
    print(f"{'FAILED' if failed else 'passed'}: autobahn-python cryptosign {args.transport}{tls}/{args.serializer}"
          f"{' (' + ', '.join(failed) + ')' if failed else ''}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--transport", choices=["websocket", "rawsocket"], required=True)
    ap.add_argument("--serializer", choices=["json", "msgpack", "cbor"], required=True)
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--privkey", required=True)
    ap.add_argument("--stranger", required=True)
    ap.add_argument("--router-pubkey", required=True)
    ap.add_argument("--trust-root", help="a CA file (PEM) to trust: TLS (wss://, rss://)")
    args = ap.parse_args()
    if os.environ.get("INTEROP_DEBUG"):
        txaio.start_logging(level="debug")
    sys.exit(asyncio.run(main(args)))
