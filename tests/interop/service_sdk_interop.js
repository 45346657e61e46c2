#!/usr/bin/env node
// Interoperability of `azhub emulate` with Microsoft's official Node.js service SDK
// (azure-iothub, unmodified, pinned by package-lock.json): the registry and twins over the REST
// API, every result checked at the hub through a second, raw HTTPS request.
//
// Pointing the SDK at the emulator: the SDK builds https://{HostName}/... and dials port 443. The
// least invasive redirection found is Node's https.Agent (the Registry uses its own keep-alive
// instance): its createConnection dials the emulator's HTTPS port on loopback, trusting the
// emulator's CA. The
// SDK, its requests and its error mapping are untouched; TLS still verifies `localhost`.
//
// Checked: Registry.create without keys (the SDK sends empty keys; the hub generates them),
// create of an existing id → DeviceAlreadyExistsError, get of a missing device →
// DeviceNotFoundError, addModule without keys, getTwin / updateTwin (tags and desired), an
// updateTwin with a stale etag → InvalidEtagError, delete then get → DeviceNotFoundError.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/service_sdk_interop.js
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const readline = require('node:readline');
const tls = require('node:tls');

let iothub;
let common;
try {
  iothub = require('azure-iothub');
  common = require('azure-iot-common');
} catch (err) {
  console.error('service_sdk_interop: the Azure IoT Node.js service SDK is not installed; run ' +
                '`npm ci --prefix tests/interop` (scripts/setup.sh does it): ' + err.message);
  process.exit(1);
}
const { errors } = common;

const AZHUB = process.env.AZHUB_BIN || path.join(__dirname, '..', '..', 'build', 'release', 'cli', 'azhub');
const STEP_TIMEOUT_MS = 20000;

function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function startEmulator() {
  const proc = childProcess.spawn(AZHUB, ['-o', 'json', 'emulate', '--in-memory', '--mqtt-port', '0',
                                          '--https-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const line = await within(new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('error', reject);
    exited.then((code) => reject(new Error(`azhub emulate exited (${code}) before its ready line`)));
  }), 'the emulator ready line', 30000);
  const ready = JSON.parse(line);
  assert.equal(ready.event, 'ready');
  return { proc, exited, ready, ca: fs.readFileSync(ready.caFile, 'utf8') };
}

// Every https request of this process goes to the emulator's HTTPS port: Node's https.Agent
// (the Registry makes its own keep-alive one) opens its TLS sockets there.
function routeHttpsTo(port, ca) {
  https.Agent.prototype.createConnection = (options, callback) =>
    tls.connect({ ...options, host: '127.0.0.1', port, servername: 'localhost', ca }, callback);
}

// The hub's view, without the SDK: GET on the REST API with the owner policy's SAS token.
function hubGet(emu, target) {
  const cs = common.ConnectionString.parse(emu.ready.serviceConnectionString);
  const expiry = Math.floor(Date.now() / 1000) + 600;
  const sas = common.SharedAccessSignature.create(cs.HostName, cs.SharedAccessKeyName, cs.SharedAccessKey, expiry);
  return within(new Promise((resolve, reject) => {
    const req = https.request({ host: cs.HostName, path: `${target}?api-version=2021-04-12`,
                                headers: { Authorization: sas.toString() } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: body ? JSON.parse(body) : null }));
    });
    req.on('error', reject);
    req.end();
  }), `GET ${target}`);
}

// The SDK's callback API as a promise resolving with the result, or rejecting with its error.
function call(what, fn) {
  return within(new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result)))), what);
}

// The SDK's packages each bring their own copy of azure-iot-common, so errors are compared by
// their class name, not with instanceof.
async function expectError(what, promise, type) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.constructor.name, type.name, `${what}: expected ${type.name}, got ${err.constructor.name}: ${err.message}`);
    return err;
  }
  throw new Error(`${what}: no error`);
}

async function main() {
  const emu = await startEmulator();
  let failed = false;
  try {
    routeHttpsTo(emu.ready.ports.https, emu.ca);
    const registry = iothub.Registry.fromConnectionString(emu.ready.serviceConnectionString);

    const created = await call('Registry.create', (cb) => registry.create({ deviceId: 'svc1' }, cb));
    assert.equal(created.deviceId, 'svc1');
    const atHub = await hubGet(emu, '/devices/svc1');
    assert.equal(atHub.status, 200);
    const keys = atHub.body.authentication.symmetricKey;
    assert.ok(keys.primaryKey && keys.secondaryKey, 'the hub generated both keys');
    assert.equal(created.authentication.symmetricKey.primaryKey, keys.primaryKey);

    await expectError('Registry.create (exists)', call('create again', (cb) => registry.create({ deviceId: 'svc1' }, cb)),
                      errors.DeviceAlreadyExistsError);
    const missing = await expectError('Registry.get (missing)', call('get missing', (cb) => registry.get('nope', cb)),
                                      errors.DeviceNotFoundError);
    assert.match(missing.message, /nope/);

    await call('Registry.addModule', (cb) => registry.addModule({ deviceId: 'svc1', moduleId: 'm1' }, cb));
    const module = await hubGet(emu, '/devices/svc1/modules/m1');
    assert.equal(module.status, 200);
    assert.ok(module.body.authentication.symmetricKey.primaryKey, 'the hub generated the module key');

    const twin = await call('Registry.getTwin', (cb) => registry.getTwin('svc1', cb));
    assert.equal(twin.deviceId, 'svc1');
    await call('Registry.updateTwin', (cb) => registry.updateTwin(
      'svc1', { tags: { site: 'lab' }, properties: { desired: { fw: '1.2' } } }, twin.etag, cb));
    const twinAtHub = await hubGet(emu, '/twins/svc1');
    assert.equal(twinAtHub.body.tags.site, 'lab');
    assert.equal(twinAtHub.body.properties.desired.fw, '1.2');
    await expectError('Registry.updateTwin (stale etag)', call('updateTwin stale', (cb) => registry.updateTwin(
      'svc1', { tags: { site: 'x' } }, twin.etag, cb)), errors.InvalidEtagError);

    await call('Registry.delete', (cb) => registry.delete('svc1', cb));
    assert.equal((await hubGet(emu, '/devices/svc1')).status, 404);
    await expectError('Registry.get (deleted)', call('get deleted', (cb) => registry.get('svc1', cb)),
                      errors.DeviceNotFoundError);
    console.log('service_sdk_interop: registry and twins OK with azure-iothub ' +
                require('azure-iothub/package.json').version);
  } catch (err) {
    failed = true;
    console.error(`service_sdk_interop: FAILED: ${err.stack || err}`);
  } finally {
    emu.proc.kill('SIGTERM');
    await within(emu.exited, 'the emulator to stop', 10000).catch(() => emu.proc.kill('SIGKILL'));
  }
  process.exit(failed ? 1 : 0);
}

main();
