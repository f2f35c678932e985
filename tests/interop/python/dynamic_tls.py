#!/usr/bin/env python3
"""Dynamic ``tls`` and ``cryptosign`` authenticators with autobahn-python
(asyncio), over ``wss://``.

    python dynamic_tls.py --url ws://127.0.0.1:PORT/ws \
        --tls-url wss://localhost:PORT2/ws --cryptosign-url wss://localhost:PORT3/ws \
        --pki DIR --serializer json --privkey HEX --stranger HEX

The router (tests/interop.rs, ``python_dynamic_tls_*``) serves ``realm1``:
``--url`` admits anonymous sessions (role ``anonymous``); ``--tls-url``
requires a client certificate signed by ``DIR/client-ca.crt`` and
authenticates it with the dynamic authenticator
``com.interop.authenticate_tls``; ``--cryptosign-url`` authenticates
cryptosign with ``com.interop.authenticate_cryptosign``. The role ``chosen``
exists on ``realm1``. Both TLS transports present a certificate for
``localhost`` signed by ``DIR/ca.crt``.

A service session joins anonymously and registers both authenticators:

* tls: the certificate whose SHA-1 fingerprint is ``DIR/alice.crt``'s
  (``details.client_cert.sha1``, Crossbar.io's ``certificate-sha1`` form)
  is welcomed as authid ``alice-cert``, role ``chosen``; any other raises
  ``com.interop.unknown_certificate``;
* cryptosign: the public key of ``--privkey`` (``details.authextra.pubkey``)
  is welcomed as authid ``kim``, role ``chosen`` (the answer carries the
  ``pubkey``); any other raises ``com.interop.unknown_key``.

Scenarios: alice (client certificate, ``authmethods = ["tls"]``) joins as
``alice-cert``/``chosen``; mallory (another certificate of the same CA) is
aborted with ``com.interop.unknown_certificate``; the cryptosign key joins as
``kim``/``chosen`` (the router verified the signature); the stranger key is
aborted with ``com.interop.unknown_key``.

autobahn's Component has no ``tls`` authenticator, so the tls scenarios use
an ApplicationSession that joins with ``authmethods=["tls"]`` over an
``ssl.SSLContext`` carrying the client certificate.

Prints one line per scenario (``ok NAME`` or ``FAIL NAME: WHY``) and exits 0
only when every scenario passed.
"""

import argparse
import asyncio
import hashlib
import os
import ssl
import sys
import time
import traceback
import urllib.parse

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import ComponentConfig  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

STEP = 10.0


class Fail(Exception):
    pass


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


async def step(aw, what):
    try:
        return await asyncio.wait_for(aw, STEP)
    except asyncio.TimeoutError:
        raise Fail(f"timed out after {STEP}s waiting for {what}") from None


def sha1_of(pem_file):
    """The certificate's SHA-1 fingerprint as Crossbar.io writes it."""
    with open(pem_file) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha1(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def serializer(name):
    return {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}[name]()


def start(url, ser, authentication=None, trust_root=None):
    """Starts a component; returns (joined future: (session, details), left future: details)."""
    loop = asyncio.get_running_loop()
    transport = {"type": "websocket", "url": url, "serializers": [ser], "max_retries": 0}
    if trust_root:
        u = urllib.parse.urlsplit(url)
        transport["endpoint"] = {
            "type": "tcp", "host": u.hostname, "port": u.port,
            "tls": {"hostname": "localhost", "trust_root": trust_root},
        }
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
            left.set_result(details)

    done = comp.start(loop=loop)

    def stopped(f):
        for fut in (joined, left):
            if not fut.done():
                err = None if f.cancelled() else f.exception()
                fut.set_exception(err or Fail("component stopped"))

    done.add_done_callback(stopped)
    return joined, left


class TlsJoin(ApplicationSession):
    """Joins with ``authmethods=["tls"]`` and reports the outcome."""

    outcome = None

    def onConnect(self):
        self.join(self.config.realm, authmethods=["tls"])

    def onChallenge(self, challenge):
        raise Exception(f"unexpected CHALLENGE {challenge.method}")

    async def onJoin(self, details):
        if not self.outcome.done():
            self.outcome.set_result(("joined", details))
        self.leave()

    def onLeave(self, details):
        if not self.outcome.done():
            self.outcome.set_result(("left", details))
        self.disconnect()


async def tls_attempt(ctx, who):
    """Connects to --tls-url with the client certificate ``who``; returns
    ("joined", SessionDetails) or ("left", CloseDetails)."""
    loop = asyncio.get_running_loop()
    args = ctx.args
    tls = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH,
                                     cafile=os.path.join(args.pki, "ca.crt"))
    tls.load_cert_chain(os.path.join(args.pki, f"{who}.crt"), os.path.join(args.pki, f"{who}.key"))
    outcome = loop.create_future()

    def make():
        s = TlsJoin(ComponentConfig(realm="realm1"))
        s.outcome = outcome
        return s

    factory = WampWebSocketClientFactory(make, url=args.tls_url, serializers=[serializer(args.serializer)])
    u = urllib.parse.urlsplit(args.tls_url)
    transport, _ = await step(loop.create_connection(factory, u.hostname, u.port, ssl=tls,
                                                     server_hostname="localhost"), "connecting")
    try:
        return await step(outcome, f"{who} to join or be refused")
    finally:
        transport.close()


class Service:
    def __init__(self, args):
        self.alice = sha1_of(os.path.join(args.pki, "alice.crt"))
        self.pubkey = SigningKey(bytes.fromhex(args.privkey)).verify_key.encode().hex()
        self.asked = []

    def authenticate_tls(self, realm, authid, details):
        self.asked.append(("tls", realm, details.get("authmethod")))
        cert = details.get("client_cert") or {}
        if cert.get("sha1") == self.alice:
            return {"authid": "alice-cert", "role": "chosen", "extra": {"subject": cert.get("subject")}}
        raise ApplicationError("com.interop.unknown_certificate", f"no principal for {cert.get('sha1')}")

    def authenticate_cryptosign(self, realm, authid, details):
        self.asked.append(("cryptosign", realm, details.get("authmethod")))
        pubkey = (details.get("authextra") or {}).get("pubkey")
        if pubkey == self.pubkey:
            return {"authid": "kim", "role": "chosen", "pubkey": pubkey}
        raise ApplicationError("com.interop.unknown_key", "no principal for this key")


async def scenario_tls_certificate_welcomed(ctx):
    kind, details = await tls_attempt(ctx, "alice")
    eq(kind, "joined", f"outcome ({details})")
    eq(details.authid, "alice-cert", "authid (the authenticator's)")
    eq(details.authrole, "chosen", "authrole (the authenticator's)")
    eq(details.authmethod, "tls", "authmethod")
    eq(details.authprovider, "dynamic", "authprovider")
    eq(ctx.service.asked[-1], ("tls", "realm1", "tls"), "authenticator arguments")


async def scenario_tls_certificate_denied(ctx):
    kind, details = await tls_attempt(ctx, "mallory")
    eq(kind, "left", "outcome")
    eq(details.reason, "com.interop.unknown_certificate", "ABORT reason")


async def scenario_cryptosign_welcomed(ctx):
    a = ctx.args
    joined, _ = start(a.cryptosign_url, a.serializer, {"cryptosign": {"privkey": a.privkey}},
                      trust_root=os.path.join(a.pki, "ca.crt"))
    session, details = await step(joined, "the cryptosign key to join")
    eq(details.authid, "kim", "authid (the authenticator's)")
    eq(details.authrole, "chosen", "authrole (the authenticator's)")
    eq(details.authmethod, "cryptosign", "authmethod")
    eq(details.authprovider, "dynamic", "authprovider")
    eq(ctx.service.asked[-1], ("cryptosign", "realm1", "cryptosign"), "authenticator arguments")
    await step(session.leave(), "leaving")


async def scenario_cryptosign_denied(ctx):
    a = ctx.args
    joined, left = start(a.cryptosign_url, a.serializer, {"cryptosign": {"privkey": a.stranger}},
                         trust_root=os.path.join(a.pki, "ca.crt"))
    details = await step(left, "the stranger key to be refused")
    eq(details.reason, "com.interop.unknown_key", "ABORT reason")
    if joined.done() and joined.exception() is None:
        raise Fail("the stranger joined")


SCENARIOS = [
    ("tls_certificate_welcomed", scenario_tls_certificate_welcomed),
    ("tls_certificate_denied", scenario_tls_certificate_denied),
    ("cryptosign_welcomed", scenario_cryptosign_welcomed),
    ("cryptosign_denied", scenario_cryptosign_denied),
]


class Ctx:
    pass


async def main(args):
    ctx = Ctx()
    ctx.args = args
    ctx.service = Service(args)
    try:
        joined, _ = start(args.url, args.serializer)
        svc, _ = await step(joined, "the service session to join")
        await step(svc.register(ctx.service.authenticate_tls, "com.interop.authenticate_tls"), "register")
        await step(svc.register(ctx.service.authenticate_cryptosign, "com.interop.authenticate_cryptosign"),
                   "register")
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
    if svc.is_attached():
        svc.leave()
    print(f"{'FAILED' if failed else 'passed'}: autobahn-python dynamic tls/cryptosign over wss/{args.serializer}"
          f"{' (' + ', '.join(failed) + ')' if failed else ''}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--tls-url", required=True)
    ap.add_argument("--cryptosign-url", required=True)
    ap.add_argument("--pki", required=True)
    ap.add_argument("--serializer", choices=["json", "msgpack", "cbor"], required=True)
    ap.add_argument("--privkey", required=True)
    ap.add_argument("--stranger", required=True)
    args = ap.parse_args()
    if os.environ.get("INTEROP_DEBUG"):
        txaio.start_logging(level="debug")
    sys.exit(asyncio.run(main(args)))
