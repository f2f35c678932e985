#!/usr/bin/env node
// Dynamic ticket authentication with autobahn-js (Node).
//
//   node dynamic.js --url ws://127.0.0.1:PORT/ws --ticket-url ws://127.0.0.1:PORT2/ws --serializer json
//
// The router (tests/interop.rs, `js_dynamic_ticket_*`, `dynamic_router`)
// serves `realm1` on two WebSocket transports: --url admits anonymous
// sessions, --ticket-url authenticates tickets with the dynamic
// authenticator `com.interop.authenticate`; the role `dyn` exists on
// `realm1`. An autobahn-js service session joins anonymously and registers
// the authenticator: it accepts `secret-<authid>` (role `dyn`, authextra
// `{greeting: "hi"}`) and raises `com.interop.invalid_ticket` otherwise.
// Scenarios: an autobahn-js client with a good ticket joins as `dyn`
// (authprovider `dynamic`); one with a bad ticket is aborted with the
// authenticator's error. Prints `ok NAME` or `FAIL NAME: WHY` per scenario
// and exits 0 only when every scenario passed.
'use strict';

let autobahn;
try {
   autobahn = require('autobahn');
} catch (e) {
   console.log(`FAIL setup: cannot load autobahn-js (run tests/interop/setup.sh, set NODE_PATH): ${e.message}`);
   process.exit(1);
}

const STEP = 10000;

class Fail extends Error {}

function eq(got, want, what) {
   if (got !== want) throw new Fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function parseArgs(argv) {
   const args = {};
   const known = ['url', 'ticket-url', 'serializer'];
   for (let i = 2; i < argv.length; i += 2) {
      const key = argv[i].replace(/^--/, '');
      if (!known.includes(key) || argv[i + 1] === undefined) {
         console.error('usage: node dynamic.js --url URL --ticket-url URL --serializer S');
         process.exit(2);
      }
      args[key] = argv[i + 1];
   }
   return args;
}

function serializer(name) {
   return {
      json: () => new autobahn.serializer.JSONSerializer(),
      msgpack: () => new autobahn.serializer.MsgpackSerializer(),
      cbor: () => new autobahn.serializer.CBORSerializer(),
   }[name]();
}

function withTimeout(promise, what) {
   let timer;
   const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Fail(`timed out after ${STEP}ms waiting for ${what}`)), STEP);
   });
   return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Opens a connection; resolves ['joined', session, details, connection] or
// ['closed', reason, details] when the router refused it.
function open(url, ser, options) {
   return new Promise((resolve) => {
      let joined = false;
      const connection = new autobahn.Connection(Object.assign({
         realm: 'realm1',
         transports: [{ type: 'websocket', url: url, serializers: [serializer(ser)] }],
         max_retries: 0,
         retry_if_unreachable: false,
      }, options || {}));
      connection.onopen = (session, details) => {
         joined = true;
         resolve(['joined', session, details, connection]);
      };
      connection.onclose = (reason, details) => {
         if (!joined) resolve(['closed', reason, details]);
         return true;
      };
      connection.open();
   });
}

function ticket(authid, secret) {
   return {
      authmethods: ['ticket'],
      authid: authid,
      onchallenge: (session, method) => {
         eq(method, 'ticket', 'CHALLENGE method');
         return secret;
      },
   };
}

const asked = [];

function authenticate(args) {
   const [realm, authid, details] = args;
   asked.push([realm, authid, details.authmethod]);
   if (details.ticket === `secret-${authid}`) {
      return { role: 'dyn', extra: { greeting: 'hi' } };
   }
   throw new autobahn.Error('com.interop.invalid_ticket', ['bad ticket']);
}

const scenarios = {
   async good_ticket_joins_with_the_chosen_role(args) {
      const [kind, , details, connection] = await withTimeout(
         open(args['ticket-url'], args.serializer, ticket('dave', 'secret-dave')), 'dave to join');
      eq(kind, 'joined', 'outcome');
      eq(details.authid, 'dave', 'authid');
      eq(details.authrole, 'dyn', 'authrole (the authenticator\'s)');
      eq(details.authmethod, 'ticket', 'authmethod');
      eq(details.authprovider, 'dynamic', 'authprovider');
      eq((details.authextra || {}).greeting, 'hi', 'authextra');
      eq(JSON.stringify(asked[asked.length - 1]), JSON.stringify(['realm1', 'dave', 'ticket']),
         'authenticator arguments');
      connection.close();
   },
   async bad_ticket_is_aborted_with_the_authenticators_error(args) {
      const [kind, , details] = await withTimeout(
         open(args['ticket-url'], args.serializer, ticket('eve', 'guess')), 'eve to be refused');
      eq(kind, 'closed', 'outcome');
      eq(details.reason, 'com.interop.invalid_ticket', 'ABORT reason');
   },
};

(async () => {
   const args = parseArgs(process.argv);
   let service;
   try {
      const [kind, session, , connection] = await withTimeout(open(args.url, args.serializer), 'the service to join');
      eq(kind, 'joined', 'service outcome');
      await withTimeout(session.register('com.interop.authenticate', authenticate), 'register');
      service = connection;
   } catch (e) {
      console.log(`FAIL service: ${e instanceof Fail ? e.message : e.stack}`);
      process.exit(1);
   }
   const failed = [];
   for (const [name, fn] of Object.entries(scenarios)) {
      const t0 = Date.now();
      try {
         await fn(args);
         console.log(`ok ${name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
      } catch (e) {
         failed.push(name);
         console.log(`FAIL ${name}: ${e instanceof Fail ? e.message : e.stack}`);
      }
   }
   service.close();
   console.log(`${failed.length ? 'FAILED' : 'passed'}: autobahn-js dynamic ticket/${args.serializer}${failed.length ? ' (' + failed.join(', ') + ')' : ''}`);
   process.exit(failed.length ? 1 : 0);
})();
