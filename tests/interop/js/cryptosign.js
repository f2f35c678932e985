#!/usr/bin/env node
// WAMP-cryptosign interop: autobahn-js (Node; tweetnacl) joins a running
// shardwamp with cryptosign.
//
//   node cryptosign.js --url ws://127.0.0.1:PORT/ws --transport websocket --serializer json \
//       --privkey HEX --stranger HEX --router-pubkey HEX
//
// The router (tests/interop.rs, `cryptosign_router`) lists the public key of
// --privkey under principal `client` (role `anonymous`) and has the node key
// whose public key is --router-pubkey; nobody lists --stranger. Prints
// `ok NAME` or `FAIL NAME: WHY` per scenario and exits 0 only when every
// scenario passed. autobahn-js has no channel binding (its cryptosign signs
// the bare challenge), so none is asked for here.
'use strict';

let autobahn;
try {
   autobahn = require('autobahn');
} catch (e) {
   console.log(`FAIL setup: cannot load autobahn-js (run tests/interop/setup.sh, set NODE_PATH): ${e.message}`);
   process.exit(1);
}
const nacl = autobahn.nacl;
const hex = autobahn.util;

const STEP = 10000;

class Fail extends Error {}

function eq(got, want, what) {
   if (got !== want) throw new Fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

function parseArgs(argv) {
   const args = { realm: 'realm1' };
   const known = ['url', 'transport', 'serializer', 'realm', 'privkey', 'stranger', 'router-pubkey'];
   for (let i = 2; i < argv.length; i += 2) {
      const key = argv[i].replace(/^--/, '');
      if (!known.includes(key) || argv[i + 1] === undefined) {
         console.error(`usage: node cryptosign.js --url URL --transport T --serializer S --privkey HEX --stranger HEX --router-pubkey HEX`);
         process.exit(2);
      }
      args[key] = argv[i + 1];
   }
   return args;
}

function transportConfig(args) {
   const ser = {
      json: () => new autobahn.serializer.JSONSerializer(),
      msgpack: () => new autobahn.serializer.MsgpackSerializer(),
      cbor: () => new autobahn.serializer.CBORSerializer(),
   }[args.serializer];
   if (args.transport === 'websocket') {
      return { type: 'websocket', url: args.url, serializers: [ser()] };
   }
   const u = new URL(args.url.replace(/^rs:/, 'http:'));
   return { type: 'rawsocket', host: u.hostname, port: Number(u.port) };
}

// Joins with the key of seed `seedHex`; resolves ['joined', details] (after
// leaving again) or ['closed', reason, details] when the router refused it.
// `authextra` is added to the HELLO's; `challenges` collects CHALLENGE extras.
function attempt(args, seedHex, authid, authextra, challenges) {
   const key = nacl.sign.keyPair.fromSeed(hex.htob(seedHex));
   return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Fail(`timed out after ${STEP}ms`)), STEP);
      let joined = null;
      const connection = new autobahn.Connection({
         realm: args.realm,
         transports: [transportConfig(args)],
         max_retries: 0,
         retry_if_unreachable: false,
         authmethods: ['cryptosign'],
         authid: authid,
         authextra: Object.assign({ pubkey: autobahn.auth_cryptosign.public_key(key) }, authextra || {}),
         onchallenge: (session, method, extra) => {
            if (challenges) challenges.push(extra);
            eq(method, 'cryptosign', 'CHALLENGE method');
            return autobahn.auth_cryptosign.sign_challenge(key, extra);
         },
      });
      connection.onopen = (session, details) => {
         joined = details;
         connection.close();
      };
      connection.onclose = (reason, details) => {
         clearTimeout(timer);
         resolve(joined ? ['joined', joined] : ['closed', reason, details]);
         return true;
      };
      connection.open();
   });
}

const scenarios = {
   async join_inferred_authid(args) {
      const [kind, details] = await attempt(args, args.privkey);
      eq(kind, 'joined', 'outcome');
      eq(details.authid, 'client', 'authid inferred from the public key');
      eq(details.authmethod, 'cryptosign', 'authmethod');
      eq(details.authrole, 'anonymous', 'authrole');
   },
   async join_named_authid(args) {
      const [kind, details] = await attempt(args, args.privkey, 'client');
      eq(kind, 'joined', 'outcome');
      eq(details.authid, 'client', 'authid');
   },
   async unknown_key_denied(args) {
      const [kind, , details] = await attempt(args, args.stranger);
      eq(kind, 'closed', 'outcome');
      eq(details.reason, 'wamp.error.authentication_denied', 'ABORT reason');
   },
   async router_authentication(args) {
      // The client's own challenge: the CHALLENGE carries the router's key and
      // its signature (64 bytes + the 32 signed) over that challenge.
      const mine = nacl.randomBytes(32);
      const seen = [];
      const [kind] = await attempt(args, args.privkey, undefined, { challenge: hex.btoh(mine) }, seen);
      eq(kind, 'joined', 'outcome');
      eq(seen.length, 1, 'CHALLENGEs');
      eq(seen[0].pubkey, args['router-pubkey'], 'CHALLENGE.extra.pubkey');
      const signed = hex.htob(seen[0].signature);
      eq(signed.length, 96, 'signature length');
      eq(hex.btoh(signed.slice(64)), hex.btoh(mine), 'the message signed');
      const ok = nacl.sign.detached.verify(signed.slice(64), signed.slice(0, 64), hex.htob(args['router-pubkey']));
      eq(ok, true, "the router's signature verifies");
   },
};

(async () => {
   const args = parseArgs(process.argv);
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
   console.log(`${failed.length ? 'FAILED' : 'passed'}: autobahn-js cryptosign ${args.transport}/${args.serializer}${failed.length ? ' (' + failed.join(', ') + ')' : ''}`);
   process.exit(failed.length ? 1 : 0);
})();
