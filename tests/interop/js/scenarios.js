#!/usr/bin/env node
// Interop scenarios: autobahn-js (Node) against a running shardwamp.
//
//   node scenarios.js --url ws://127.0.0.1:PORT/ws --transport websocket --serializer msgpack
//   node scenarios.js --url rs://127.0.0.1:PORT --transport rawsocket --serializer json
//
// Prints one line per scenario (`ok NAME` or `FAIL NAME: WHY`) and exits 0 only
// when every scenario passed. Run by tests/interop.rs with NODE_PATH pointing
// at the node_modules that tests/interop/setup.sh installs
// (target/interop/node/node_modules).
//
// What autobahn-js (26.3.1) itself cannot do, and so is not run here:
// - RawSocket with msgpack or cbor: lib/transport/rawsocket.js only speaks
//   JSON (`SERIALIZERS = { json: 1 }`, it refuses any other handshake reply).
// - WebSocket in Node < 22 needs the global WebSocket: tests/interop.rs passes
//   --experimental-websocket on Node 20/21.
// - CANCEL in mode skip/killnowait (or without a mode): Session.call's
//   cancel() drops the pending request at once, so the router's ERROR for the
//   canceled CALL (which the spec requires) is taken for a protocol violation
//   and the library closes the transport. Only mode 'kill' is usable.
// - The callee side announces no call_canceling and ignores INTERRUPT: its
//   invocations run to the end; the dealer must not send INTERRUPT to it.
// - WAMP's JSON binary convention ("\u0000" + base64) is not implemented by
//   its JSON serializer, so binary payloads are only checked with msgpack/cbor.
//
// Every assertion states WAMP spec behaviour (shardwamp follows the spec where
// it differs from Crossbar.io, see docs/ARCHITECTURE.md).
'use strict';

const assert = require('assert');
const util = require('util');

let autobahn;
try {
   autobahn = require('autobahn');
} catch (e) {
   console.log(`FAIL setup: cannot load autobahn-js (run tests/interop/setup.sh, set NODE_PATH): ${e.message}`);
   process.exit(1);
}

const STEP = 10000; // ms any single awaited step may take
const QUIET = 250; // ms to wait to be sure something did NOT arrive

function parseArgs(argv) {
   const args = { realm: 'realm1' };
   for (let i = 2; i < argv.length; i += 2) {
      const key = argv[i].replace(/^--/, '');
      if (!['url', 'transport', 'serializer', 'realm', 'only'].includes(key) || argv[i + 1] === undefined) {
         console.error(`usage: node scenarios.js --url URL --transport websocket|rawsocket --serializer json|msgpack|cbor [--realm R] [--only a,b]`);
         process.exit(2);
      }
      args[key] = argv[i + 1];
   }
   for (const k of ['url', 'transport', 'serializer']) {
      if (!args[k]) {
         console.error(`missing --${k}`);
         process.exit(2);
      }
   }
   return args;
}

class Fail extends Error {}

function check(cond, what) {
   if (!cond) throw new Fail(what);
}

function show(v) {
   return util.inspect(v, { depth: 6, breakLength: Infinity });
}

function eq(got, want, what) {
   try {
      assert.deepStrictEqual(got, want);
   } catch (e) {
      throw new Fail(`${what}: got ${show(got)}, want ${show(want)}`);
   }
}

function sleep(ms) {
   return new Promise((r) => setTimeout(r, ms));
}

async function step(p, what, ms = STEP) {
   let timer;
   const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Fail(`timed out after ${ms}ms waiting for ${what}`)), ms);
   });
   try {
      return await Promise.race([Promise.resolve(p), timeout]);
   } finally {
      clearTimeout(timer);
   }
}

async function until(pred, what, ms = STEP) {
   const deadline = Date.now() + ms;
   while (!pred()) {
      if (Date.now() > deadline) throw new Fail(`timed out after ${ms}ms waiting for ${what}`);
      await sleep(10);
   }
}

// Awaits `p` and returns the autobahn.Error it must fail with.
async function expectError(p, uri, what) {
   let res;
   try {
      res = await step(p, what);
   } catch (e) {
      if (e instanceof Fail) throw e;
      if (!(e instanceof autobahn.Error)) throw new Fail(`${what}: failed with ${show(e)}, want error ${uri}`);
      if (e.error !== uri) throw new Fail(`${what}: error ${e.error} ${show(e.args)}, want ${uri}`);
      return e;
   }
   throw new Fail(`${what}: succeeded with ${show(res)}, want error ${uri}`);
}

// Per-serializer transport config; rawsocket:// URLs are rs://HOST:PORT.
function transportConfig(args) {
   const ser = {
      json: () => new autobahn.serializer.JSONSerializer(),
      msgpack: () => new autobahn.serializer.MsgpackSerializer(),
      cbor: () => new autobahn.serializer.CBORSerializer(),
   }[args.serializer];
   if (!ser) throw new Fail(`unknown serializer ${args.serializer}`);
   if (args.transport === 'websocket') {
      return { type: 'websocket', url: args.url, serializers: [ser()] };
   }
   if (args.serializer !== 'json') {
      throw new Fail(`autobahn-js' RawSocket transport only speaks json, not ${args.serializer}`);
   }
   const u = new URL(args.url.replace(/^rs:/, 'http:'));
   return { type: 'rawsocket', host: u.hostname, port: Number(u.port) };
}

class Peer {
   constructor(name, connection, session, details) {
      this.name = name;
      this.connection = connection;
      this.session = session;
      this.details = details;
      this.id = session.id;
      this.closed = null; // [reason, details] once the connection closed
   }

   async leave() {
      const closed = new Promise((resolve) => {
         this.onClosed = resolve;
      });
      if (!this.closed) this.connection.close();
      await step(this.closed ? Promise.resolve() : closed, `${this.name} to close`);
      const [reason, details] = this.closed;
      eq(reason, 'closed', `${this.name}: connection close`);
      eq(details.reason, 'wamp.close.goodbye_and_out', `${this.name}: GOODBYE reply reason`);
   }
}

function connect(args, name) {
   return step(
      new Promise((resolve, reject) => {
         const connection = new autobahn.Connection({
            realm: args.realm,
            transports: [transportConfig(args)],
            max_retries: 0,
            retry_if_unreachable: false,
            on_user_error: (e, msg) => console.error(`${name}: user error: ${msg || ''} ${show(e)}`),
            on_internal_error: (e, msg) => console.error(`${name}: internal error: ${msg || ''} ${show(e)}`),
         });
         let peer = null;
         connection.onopen = (session, details) => {
            peer = new Peer(name, connection, session, details);
            resolve(peer);
         };
         connection.onclose = (reason, details) => {
            if (peer) {
               peer.closed = [reason, details];
               if (peer.onClosed) peer.onClosed();
            } else {
               reject(new Fail(`${name}: connection ${reason} before joining: ${show(details)}`));
            }
            return true; // no reconnect
         };
         connection.open();
      }),
      `${name} to join ${args.realm}`,
   );
}

class Inbox {
   constructor() {
      this.events = [];
      this.handler = (args, kwargs, details) => this.events.push({ args, kwargs, details });
   }

   firsts() {
      return this.events.map((e) => (e.args.length ? e.args[0] : null));
   }

   wait(n, what) {
      return until(() => this.events.length >= n, what);
   }
}

async function subscribe(peer, topic, match, options = {}) {
   const inbox = new Inbox();
   if (match) options = { ...options, match };
   const sub = await step(peer.session.subscribe(topic, inbox.handler, options), `SUBSCRIBED ${topic}`);
   check(sub instanceof autobahn.Subscription, `subscribe returned ${show(sub)}`);
   return [sub, inbox];
}

async function publish(peer, topic, args, options = {}, kwargs = undefined) {
   const pub = await step(peer.session.publish(topic, args, kwargs, { acknowledge: true, ...options }), `PUBLISHED ${topic}`);
   check(pub instanceof autobahn.Publication, `acknowledged publish returned ${show(pub)}, want a Publication`);
   check(Number.isInteger(pub.id) && pub.id > 0, `publication id ${show(pub.id)}`);
   return pub;
}

// ------------------------------------------------------------------ scenarios

const scenarios = {};

scenarios.join = async (ctx) => {
   for (const p of [ctx.a, ctx.b, ctx.c]) {
      eq(p.details.realm, ctx.args.realm, 'WELCOME.Details.realm');
      eq(p.details.authrole, 'anonymous', 'WELCOME.Details.authrole');
      check(Number.isInteger(p.id) && p.id > 0 && p.id <= 2 ** 53, `session id ${show(p.id)}`);
      eq(p.session._socket.serializer.SERIALIZER_ID, ctx.args.serializer, 'serializer in use');
      if (ctx.args.transport === 'websocket') {
         eq(p.details.transport.protocol, `wamp.2.${ctx.args.serializer}`, 'negotiated WebSocket subprotocol');
      }
   }
   eq(new Set([ctx.a.id, ctx.b.id, ctx.c.id]).size, 3, 'distinct session ids');
};

scenarios.pubsub_exact = async (ctx) => {
   const topic = ctx.uri('exact');
   const [sub, inbox] = await subscribe(ctx.b, topic);
   const payload = [1, 'two', 1.5, null, true, { n: [1, 2] }];
   if (ctx.binary) payload.push(Buffer.from([0, 1, 0xfe, 0xff]));
   const pub = await publish(ctx.a, topic, payload, {}, { k: { n: [1.5, null, true] } });
   await inbox.wait(1, 'EVENT on an exact subscription');
   const ev = inbox.events[0];
   eq(ctx.norm(ev.args), payload, 'EVENT args');
   eq(ev.kwargs, { k: { n: [1.5, null, true] } }, 'EVENT kwargs');
   eq(ev.details.publication, pub.id, 'EVENT publication id == PUBLISHED id');
   eq(ev.details.topic, topic, 'EVENT topic');
   await publish(ctx.a, ctx.uri('exact.other'), ['no']);
   await sleep(QUIET);
   eq(inbox.events.length, 1, 'events after publishing to another topic');
   await step(sub.unsubscribe(), 'UNSUBSCRIBED');
   await publish(ctx.a, topic, ['after']);
   await sleep(QUIET);
   eq(inbox.events.length, 1, 'events after UNSUBSCRIBE');
};

scenarios.pubsub_prefix = async (ctx) => {
   const base = ctx.uri('pre');
   const [sub, inbox] = await subscribe(ctx.b, base, 'prefix');
   await publish(ctx.a, ctx.uri('elsewhere.pre'), ['no']);
   await publish(ctx.a, `${base}.x.y`, ['deep']);
   await publish(ctx.a, base, ['itself']);
   await inbox.wait(2, 'EVENTs on a prefix subscription');
   await sleep(QUIET);
   eq(inbox.firsts(), ['deep', 'itself'], 'prefix subscription events');
   eq(inbox.events[0].details.topic, `${base}.x.y`, 'EVENT.Details.topic on a prefix match');
   eq(inbox.events[1].details.topic, base, 'EVENT.Details.topic on a prefix match');
   await step(sub.unsubscribe(), 'UNSUBSCRIBED');
};

scenarios.pubsub_wildcard = async (ctx) => {
   const [sub, inbox] = await subscribe(ctx.b, ctx.uri('w..end'), 'wildcard');
   await publish(ctx.a, ctx.uri('w.mid.other'), ['no']);
   await publish(ctx.a, ctx.uri('w.mid.end.more'), ['no']);
   await publish(ctx.a, ctx.uri('w.mid.end'), ['yes']);
   await inbox.wait(1, 'EVENT on a wildcard subscription');
   await sleep(QUIET);
   eq(inbox.firsts(), ['yes'], 'wildcard subscription events');
   eq(inbox.events[0].details.topic, ctx.uri('w.mid.end'), 'EVENT.Details.topic on a wildcard match');
   await step(sub.unsubscribe(), 'UNSUBSCRIBED');
};

scenarios.pubsub_exclude_me = async (ctx) => {
   const topic = ctx.uri('self');
   const [subA, self] = await subscribe(ctx.a, topic);
   const [subB, other] = await subscribe(ctx.b, topic);
   await publish(ctx.a, topic, ['default']);
   await publish(ctx.a, topic, ['explicit'], { exclude_me: true });
   await publish(ctx.a, topic, ['to-self'], { exclude_me: false });
   await self.wait(1, 'EVENT to the publisher itself with exclude_me=false');
   await other.wait(3, 'EVENTs at the other subscriber');
   await sleep(QUIET);
   eq(self.firsts(), ['to-self'], 'events the publisher got (default excludes it)');
   eq(other.firsts(), ['default', 'explicit', 'to-self'], 'events the other subscriber got');
   await step(subA.unsubscribe(), 'UNSUBSCRIBED');
   await step(subB.unsubscribe(), 'UNSUBSCRIBED');
};

scenarios.pubsub_eligible_exclude = async (ctx) => {
   const topic = ctx.uri('bw');
   const [subB, b] = await subscribe(ctx.b, topic);
   const [subC, c] = await subscribe(ctx.c, topic);
   await publish(ctx.a, topic, ['eligible-b'], { eligible: [ctx.b.id] });
   await publish(ctx.a, topic, ['exclude-b'], { exclude: [ctx.b.id] });
   await publish(ctx.a, topic, ['eligible-bc-exclude-c'], { eligible: [ctx.b.id, ctx.c.id], exclude: [ctx.c.id] });
   await publish(ctx.a, topic, ['all']);
   await b.wait(3, 'EVENTs at B');
   await c.wait(2, 'EVENTs at C');
   await sleep(QUIET);
   eq(b.firsts(), ['eligible-b', 'eligible-bc-exclude-c', 'all'], 'events at B');
   eq(c.firsts(), ['exclude-b', 'all'], 'events at C');
   await step(subB.unsubscribe(), 'UNSUBSCRIBED');
   await step(subC.unsubscribe(), 'UNSUBSCRIBED');
};

scenarios.pubsub_retained = async (ctx) => {
   const topic = ctx.uri('retained');
   await publish(ctx.a, topic, ['first'], { retain: true });
   await publish(ctx.a, topic, ['second'], { retain: true });
   await publish(ctx.a, topic, ['not-retained']);
   const [subB, b] = await subscribe(ctx.b, topic, undefined, { get_retained: true });
   const [subC, c] = await subscribe(ctx.c, topic);
   await b.wait(1, 'the retained EVENT');
   await sleep(QUIET);
   eq(b.firsts(), ['second'], 'events on subscribing with get_retained (the last retained one)');
   eq(b.events[0].details.retained, true, 'EVENT.Details.retained');
   eq(c.firsts(), [], 'events on subscribing without get_retained');
   await step(subB.unsubscribe(), 'UNSUBSCRIBED');
   await step(subC.unsubscribe(), 'UNSUBSCRIBED');
};

scenarios.rpc = async (ctx) => {
   const add = ctx.uri('add');
   const echo = ctx.uri('echo');
   const regAdd = await step(
      ctx.b.session.register(add, (args, kwargs) => args[0] + args[1] + (kwargs.c || 0)),
      'REGISTERED add',
   );
   check(regAdd instanceof autobahn.Registration, `register returned ${show(regAdd)}`);
   const regEcho = await step(
      ctx.b.session.register(echo, (args, kwargs) => new autobahn.Result(args, kwargs)),
      'REGISTERED echo',
   );
   eq(await step(ctx.a.session.call(add, [1, 2]), 'RESULT add'), 3, 'add(1, 2)');
   eq(await step(ctx.a.session.call(add, [1, 2], { c: 39 }), 'RESULT add'), 42, 'add(1, 2, c=39)');
   const payload = [0, -1, 2 ** 40, 1.25, 'é☃', null, true, [1, [2]], { x: {} }];
   if (ctx.binary) payload.push(Buffer.from([0, 1, 0xfe, 0xff]));
   const kwargs = { key: 'value', nested: { a: [1, 2] } };
   const res = await step(ctx.a.session.call(echo, payload, kwargs), 'RESULT echo');
   check(res instanceof autobahn.Result, `echo returned ${show(res)}, want a Result`);
   eq(ctx.norm(res.args), payload, 'RESULT args');
   eq(res.kwargs, kwargs, 'RESULT kwargs');
   await step(regAdd.unregister(), 'UNREGISTERED');
   await step(regEcho.unregister(), 'UNREGISTERED');
   await expectError(ctx.a.session.call(add, [1, 2]), 'wamp.error.no_such_procedure', 'call after UNREGISTER');
};

scenarios.rpc_application_error = async (ctx) => {
   const proc = ctx.uri('fail');
   const reg = await step(
      ctx.b.session.register(proc, (args) => {
         throw new autobahn.Error('com.interop.error.custom', [args[0], 42], { detail: { why: args[0] } });
      }),
      'REGISTERED fail',
   );
   const e = await expectError(ctx.a.session.call(proc, ['bad input']), 'com.interop.error.custom', 'call of fail');
   eq(e.args, ['bad input', 42], 'ERROR args');
   eq(e.kwargs, { detail: { why: 'bad input' } }, 'ERROR kwargs');
   await step(reg.unregister(), 'UNREGISTERED');
};

scenarios.rpc_no_such_procedure = async (ctx) => {
   await expectError(ctx.a.session.call(ctx.uri('nobody.here'), [1]), 'wamp.error.no_such_procedure', 'call of an unregistered procedure');
};

scenarios.progressive_results = async (ctx) => {
   const proc = ctx.uri('countdown');
   const progressCallbacks = [];
   const reg = await step(
      ctx.b.session.register(proc, async (args, kwargs, details) => {
         // autobahn-js sets details.progress only when INVOCATION.Details.receive_progress is true
         progressCallbacks.push(typeof details.progress === 'function');
         for (let i = args[0]; i > 0; i--) {
            details.progress([i], { left: i });
            await sleep(10);
         }
         return 'liftoff';
      }),
      'REGISTERED countdown',
   );
   const progress = [];
   const call = ctx.a.session.call(proc, [3], {}, { receive_progress: true });
   // when.js promises take the progress handler as then's third argument
   const res = await step(
      new Promise((resolve, reject) => call.then(resolve, reject, (p) => progress.push(p))),
      'final RESULT',
   );
   eq(res, 'liftoff', 'final result');
   eq(
      progress.map((p) => [p.args, p.kwargs]),
      [[[3], { left: 3 }], [[2], { left: 2 }], [[1], { left: 1 }]],
      'progressive results',
   );
   eq(await step(ctx.a.session.call(proc, [0]), 'RESULT without progress'), 'liftoff', 'result without receive_progress');
   eq(progressCallbacks, [true, false], 'INVOCATION.Details.receive_progress (with, without)');
   await step(reg.unregister(), 'UNREGISTERED');
};

// A procedure that answers after `ms` (autobahn-js callees cannot be interrupted).
function lateCallee(ms) {
   const state = { started: 0, finished: 0 };
   state.endpoint = async () => {
      state.started += 1;
      await sleep(ms);
      state.finished += 1;
      return 'finished';
   };
   return state;
}

scenarios.call_cancel = async (ctx) => {
   const proc = ctx.uri('slow');
   const slow = lateCallee(600);
   const reg = await step(ctx.b.session.register(proc, slow.endpoint), 'REGISTERED slow');
   const call = ctx.a.session.call(proc);
   await until(() => slow.started === 1, 'INVOCATION');
   const t0 = Date.now();
   // mode 'kill' is the only mode autobahn-js can use (see the header). The
   // callee announced no call_canceling, so the dealer treats kill as skip:
   // no INTERRUPT to the callee, ERROR wamp.error.canceled to the caller at once.
   call.cancel({ mode: 'kill' });
   await expectError(call, 'wamp.error.canceled', "call canceled with mode 'kill'");
   check(Date.now() - t0 < 500, `the canceled call was answered after ${Date.now() - t0}ms, before the callee finished`);
   // the callee's late YIELD is dropped by the dealer and the sessions go on
   await until(() => slow.finished === 1, 'the callee to finish');
   await sleep(QUIET);
   check(ctx.a.session.isOpen && ctx.b.session.isOpen, 'sessions open after a late YIELD');
   eq(await step(ctx.a.session.call('wamp.session.count'), 'a call after canceling'), 3, 'session count');
   await step(reg.unregister(), 'UNREGISTERED');
};

scenarios.call_timeout = async (ctx) => {
   const proc = ctx.uri('sleepy');
   const slow = lateCallee(1500);
   const reg = await step(ctx.b.session.register(proc, slow.endpoint), 'REGISTERED sleepy');
   // CALL.Options.timeout is in milliseconds (spec); autobahn-js passes it through
   const t0 = Date.now();
   await expectError(ctx.a.session.call(proc, [], {}, { timeout: 300 }), 'wamp.error.timeout', 'call with timeout=300');
   const elapsed = Date.now() - t0;
   check(elapsed >= 250 && elapsed < 5000, `timeout=300 (ms) answered after ${elapsed}ms, want about 300ms`);
   // the callee (no call_canceling) is not interrupted; its late YIELD is dropped
   await until(() => slow.finished === 1, 'the callee to finish');
   await sleep(QUIET);
   check(ctx.a.session.isOpen && ctx.b.session.isOpen, 'sessions open after a late YIELD');
   const fast = ctx.uri('fast');
   const regFast = await step(ctx.b.session.register(fast, () => 'quick'), 'REGISTERED fast');
   eq(await step(ctx.a.session.call(fast, [], {}, { timeout: 5000 }), 'RESULT'), 'quick', 'result within the timeout');
   await step(reg.unregister(), 'UNREGISTERED');
   await step(regFast.unregister(), 'UNREGISTERED');
};

scenarios.shared_registration = async (ctx) => {
   const proc = ctx.uri('shared');
   const regB = await step(ctx.b.session.register(proc, () => 'B', { invoke: 'roundrobin' }), 'REGISTERED (B)');
   const regC = await step(ctx.c.session.register(proc, () => 'C', { invoke: 'roundrobin' }), 'REGISTERED (C)');
   eq(regB.id, regC.id, 'a shared registration has one id');
   const got = [];
   for (let i = 0; i < 6; i++) got.push(await step(ctx.a.session.call(proc), 'RESULT'));
   eq([...new Set(got)].sort(), ['B', 'C'], `callees that answered ${got}`);
   check(got.every((x, i) => i === 0 || x !== got[i - 1]), `roundrobin alternates: ${got}`);
   await expectError(
      ctx.a.session.register(proc, () => 'A', { invoke: 'random' }),
      'wamp.error.procedure_exists_with_different_invocation_policy',
      'registering with another invocation policy',
   );
   await step(regB.unregister(), 'UNREGISTERED (B)');
   const after = [];
   for (let i = 0; i < 2; i++) after.push(await step(ctx.a.session.call(proc), 'RESULT'));
   eq(after, ['C', 'C'], 'answers once B unregistered');
   await step(regC.unregister(), 'UNREGISTERED (C)');
};

scenarios.meta_api = async (ctx) => {
   const a = ctx.a.session;
   const ids = [ctx.a.id, ctx.b.id, ctx.c.id].sort();
   eq(await step(a.call('wamp.session.count'), 'wamp.session.count'), 3, 'wamp.session.count');
   const listed = await step(a.call('wamp.session.list'), 'wamp.session.list');
   check(Array.isArray(listed), `wamp.session.list returned ${show(listed)}`);
   eq([...listed].sort(), ids, 'wamp.session.list');
   const info = await step(a.call('wamp.session.get', [ctx.b.id]), 'wamp.session.get');
   eq(info.session, ctx.b.id, 'wamp.session.get: session');
   eq(info.authrole, 'anonymous', 'wamp.session.get: authrole');
   await expectError(a.call('wamp.session.get', [1]), 'wamp.error.no_such_session', 'wamp.session.get of no session');

   const topic = ctx.uri('meta.topic');
   const [sub] = await subscribe(ctx.b, topic);
   const [psub] = await subscribe(ctx.c, ctx.uri('meta.pre'), 'prefix');
   eq(await step(a.call('wamp.subscription.lookup', [topic]), 'lookup'), sub.id, 'wamp.subscription.lookup');
   eq(
      await step(a.call('wamp.subscription.lookup', [ctx.uri('meta.pre'), { match: 'prefix' }]), 'lookup'),
      psub.id,
      'wamp.subscription.lookup with match=prefix',
   );
   eq(await step(a.call('wamp.subscription.lookup', [ctx.uri('meta.none')]), 'lookup'), null, 'lookup of no subscription');
   eq(
      await step(a.call('wamp.subscription.list_subscribers', [sub.id]), 'list_subscribers'),
      [ctx.b.id],
      'wamp.subscription.list_subscribers',
   );

   const proc = ctx.uri('meta.proc');
   const reg = await step(ctx.c.session.register(proc, () => null), 'REGISTERED');
   eq(await step(a.call('wamp.registration.lookup', [proc]), 'lookup'), reg.id, 'wamp.registration.lookup');
   eq(await step(a.call('wamp.registration.lookup', [ctx.uri('meta.none')]), 'lookup'), null, 'lookup of no registration');

   const joins = new Inbox();
   const leaves = new Inbox();
   const j = await step(a.subscribe('wamp.session.on_join', joins.handler), 'SUBSCRIBED on_join');
   const l = await step(a.subscribe('wamp.session.on_leave', leaves.handler), 'SUBSCRIBED on_leave');
   const d = await connect(ctx.args, 'D');
   const joinedD = () => joins.events.find((e) => e.args[0] && e.args[0].session === d.id);
   await until(joinedD, `wamp.session.on_join for session ${d.id}: got ${show(joins.events.map((e) => e.args))}`);
   eq(joinedD().args[0].authrole, 'anonymous', 'on_join details authrole');
   eq(await step(a.call('wamp.session.count'), 'wamp.session.count'), 4, 'wamp.session.count with D');
   await d.leave();
   await until(
      () => leaves.events.some((e) => e.args[0] === d.id),
      `wamp.session.on_leave for session ${d.id}: got ${show(leaves.events.map((e) => e.args))}`,
   );
   eq(await step(a.call('wamp.session.count'), 'wamp.session.count'), 3, 'wamp.session.count after D left');
   for (const x of [j, l, sub, psub]) await step(x.unsubscribe(), 'UNSUBSCRIBED');
   await step(reg.unregister(), 'UNREGISTERED');
};

async function main() {
   const args = parseArgs(process.argv);
   const only = args.only ? new Set(args.only.split(',')) : null;
   let peers;
   try {
      peers = [];
      for (const name of ['A', 'B', 'C']) peers.push(await connect(args, name));
   } catch (e) {
      console.log(`FAIL connect: ${e.message || show(e)}`);
      return 1;
   }
   const binary = args.serializer !== 'json';
   const ctx = {
      args,
      a: peers[0],
      b: peers[1],
      c: peers[2],
      binary,
      uri: (s) => `com.interop.js.${args.transport}.${args.serializer}.${s}`,
      // msgpack5 and cbor decode binary as Buffer (a Uint8Array subclass): compare as Buffer
      norm: (xs) => xs.map((x) => (x instanceof Uint8Array && !Buffer.isBuffer(x) ? Buffer.from(x) : x)),
   };
   const failed = [];
   for (const [name, fn] of Object.entries(scenarios)) {
      if (only && !only.has(name)) continue;
      const t0 = Date.now();
      try {
         await fn(ctx);
         console.log(`ok ${name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
      } catch (e) {
         failed.push(name);
         if (e instanceof Fail) {
            console.log(`FAIL ${name}: ${e.message}`);
         } else {
            console.log(`FAIL ${name}: ${show(e)}`);
            if (e && e.stack) console.error(e.stack);
         }
      }
      for (const p of peers) {
         if (p.closed || !p.session.isOpen) {
            console.log(`FAIL ${name}: session ${p.name} was closed: ${show(p.closed)}`);
            return 1;
         }
      }
   }
   for (const p of peers) {
      try {
         await p.leave();
      } catch (e) {
         failed.push(`leave ${p.name}`);
         console.log(`FAIL leave ${p.name}: ${e.message || show(e)}`);
      }
   }
   const tag = `autobahn-js ${args.transport}/${args.serializer}`;
   console.log(failed.length ? `FAILED: ${tag} (${failed.join(', ')})` : `passed: ${tag}`);
   return failed.length ? 1 : 0;
}

main().then(
   (code) => process.exit(code),
   (e) => {
      console.log(`FAIL: ${e && e.stack ? e.stack : show(e)}`);
      process.exit(1);
   },
);
