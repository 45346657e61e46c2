#!/usr/bin/env node
// Agreement of `azhub sas` with the official Node.js SDK: azure-iot-common's
// SharedAccessSignature.create for device, module and policy tokens, and, for device and module
// connection strings, the token azure-iot-device's SharedAccessKeyAuthenticationProvider (what
// the Node device client sends) makes, including ids that need URL-encoding.
//
// Known, documented difference (docs/protocol.md §3.3): Node percent-encodes with
// encodeUriComponentStrict, which writes '*' as lowercase "%2a"; azhub (like azure-sdk-for-c
// and the Python SDK) writes "%2A". The hub signs sr exactly as sent, so for ids containing '*'
// the two tokens differ in sr and sig yet both are valid. For those cases this test checks that
// (1) both sr decode to the same resource URI and (2) Node, given azhub's uppercase sr, produces
// azhub's token exactly. Every other id must give a byte-identical signature.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/sas_agreement.js   (CTest sets AZHUB_BIN)
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const path = require('node:path');

let common;
try {
  common = require('azure-iot-common');
} catch (err) {
  console.error('sas_agreement: azure-iot-common is not installed; run ' +
                '`npm ci --prefix tests/interop` (scripts/setup.sh does it)');
  process.exit(1);
}
const { SharedAccessSignature, encodeUriComponentStrict } = common;
const { SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');

const AZHUB = process.env.AZHUB_BIN || path.join(__dirname, '..', '..', 'build', 'release', 'cli', 'azhub');
const HOST = 'contoso-hub.azure-devices.net';
const KEY = crypto.createHash('sha256').update('azhub interop key').digest('base64');
const EXPIRY = 1900000000;

function azhubSas(args) {
  const result = childProcess.spawnSync(AZHUB, ['sas', ...args, '--expiry', String(EXPIRY)], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `azhub sas ${args.join(' ')} failed: ${result.stderr}`);
  assert.equal(result.stderr, '');
  assert.ok(!result.stdout.includes(KEY), 'the key must never be printed');
  const lines = result.stdout.split('\n');
  assert.equal(lines.length, 2, `expected one line, got ${JSON.stringify(result.stdout)}`);
  return lines[0];
}

// The token the Node device client itself would send for connection string `cs`: its
// SharedAccessKeyAuthenticationProvider, with the clock pinned so that now + TTL = EXPIRY.
function deviceClientToken(cs) {
  return new Promise((resolve, reject) => {
    const realNow = Date.now;
    Date.now = () => (EXPIRY - 3600) * 1000;
    const done = (err, token) => {
      Date.now = realNow;
      if (err) reject(err);
      else resolve(token);
    };
    try {
      const provider = SharedAccessKeyAuthenticationProvider.fromConnectionString(cs, 3600, 600);
      provider.getDeviceCredentials((err, credentials) => {
        provider.stop();  // it arms a renewal timer
        done(err, credentials && credentials.sharedAccessSignature);
      });
    } catch (err) {
      done(err);
    }
  });
}

// The fields of a token as Node's parser sees them (and a check that it accepts azhub's token).
function fields(token) {
  const sas = SharedAccessSignature.parse(token, ['sr', 'sig', 'se']);
  return { sr: sas.sr, sig: sas.sig, se: String(sas.se), skn: sas.skn };
}

const IDS = ['thermostat-01', 'dev 1', 'a#b', 'x$y', 's*t', 'pump(1)!', "it's", '50%off',
             'dev:01@site.b', 'a+b=c;d', 'Weird*ID#$ 2'];

// Ids the registry accepts (docs/protocol.md §12.2) can come in a connection string, except
// with ';' (the separator); the others (a space) only through --device-id, which azhub sas
// does not restrict to the registry's set.
const REGISTRY_ID = /^[A-Za-z0-9\-:.+%_#*?!(),=@$']+$/;

const cases = [];
for (const id of IDS) {
  cases.push({
    name: `device '${id}'`,
    args: REGISTRY_ID.test(id) ? ['-c', `HostName=${HOST};DeviceId=${id};SharedAccessKey=${KEY}`]
                               : ['--hub', HOST, '--device-id', id, '--key', KEY],
    clientCs: `HostName=${HOST};DeviceId=${id};SharedAccessKey=${KEY}`,
    resource: `${HOST}/devices/${id}`,
    policy: null,
  });
  cases.push({
    name: `module 'gw'/'${id}'`,
    args: ['--hub', HOST, '--device-id', 'gw', '--module-id', id, '--key', KEY],
    clientCs: `HostName=${HOST};DeviceId=gw;ModuleId=${id};SharedAccessKey=${KEY}`,
    resource: `${HOST}/devices/gw/modules/${id}`,
    policy: null,
  });
  cases.push({
    name: `policy token for device '${id}'`,
    args: ['-c', `HostName=${HOST};SharedAccessKeyName=device;SharedAccessKey=${KEY}`, '--device-id', id],
    resource: `${HOST}/devices/${id}`,
    policy: 'device',
  });
}
cases.push({ name: 'service token for the hub (-c)', resource: HOST, policy: 'iothubowner',
             args: ['-c', `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`] });
cases.push({ name: 'service token for the hub (--policy)', resource: HOST, policy: 'registryRead',
             args: ['--hub', HOST, '--policy', 'registryRead', '--key', KEY] });

async function main() {
let identical = 0;
let caseDifference = 0;
let viaClient = 0;
for (const c of cases) {
  const ours = fields(azhubSas(c.args));
  // What the Node SDK sends: resource URI encoded with encodeUriComponentStrict, skn encoded.
  const nodeSr = encodeUriComponentStrict(c.resource);
  const node = fields(SharedAccessSignature.create(nodeSr, c.policy, KEY, EXPIRY).toString());
  try {
    assert.equal(ours.se, node.se);
    assert.equal(ours.skn, node.skn);
    assert.equal(decodeURIComponent(ours.sr), c.resource);
    assert.equal(decodeURIComponent(node.sr), decodeURIComponent(ours.sr));
    if (c.resource.includes('*')) {
      // Only the case of the '*' escape may differ; with azhub's sr Node signs identically.
      assert.equal(node.sr.replace(/%2a/g, '%2A'), ours.sr);
      assert.notEqual(node.sr, ours.sr);
      const nodeOnOurs = fields(SharedAccessSignature.create(ours.sr, c.policy, KEY, EXPIRY).toString());
      assert.deepEqual(nodeOnOurs, ours);
      ++caseDifference;
    } else {
      assert.deepEqual(ours, node);
      ++identical;
    }
    // The device client's own token path agrees too (ids with ';' cannot be in a connection
    // string, so those are covered by the SharedAccessSignature.create comparison only).
    if (c.clientCs && !c.clientCs.split(';').some((part) => !part.includes('='))) {
      const client = fields(await deviceClientToken(c.clientCs));
      assert.deepEqual(client, node);
      ++viaClient;
    }
  } catch (err) {
    console.error(`FAIL ${c.name}\n  azhub: ${JSON.stringify(ours)}\n  node:  ${JSON.stringify(node)}`);
    throw err;
  }
  console.log(`ok ${c.name}`);
}
console.log(`sas_agreement: ${cases.length} cases agree with azure-iot-common ` +
            `(${identical} byte-identical, ${caseDifference} differ only by Node's lowercase %2a); ` +
            `${viaClient} also checked against the device client's SharedAccessKeyAuthenticationProvider`);
assert.ok(viaClient >= 15, 'too few device-client comparisons');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
