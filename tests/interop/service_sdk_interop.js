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

const { assert, iothub, errors, within, startEmulator, routeHttpsTo, hubGet, call, expectError } = require('./service_sdk_harness');

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
