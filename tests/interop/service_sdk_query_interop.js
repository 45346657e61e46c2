#!/usr/bin/env node
// Interoperability of `azhub emulate` with Microsoft's official Node.js service SDK
// (azure-iothub, unmodified, pinned by package-lock.json) for twin queries, registry statistics
// and bulk registry operations (docs/protocol.md §16); every result is checked at the hub with a
// second, raw HTTPS request. The SDK is pointed at the emulator as in service_sdk_interop.js.
//
// Checked: Registry.addDevices (create 12 devices, tags through updateTwin), createQuery with a
// page size of 5 over several pages with nextAsTwin (Twin objects) and next (raw rows of a
// projection), hasMoreResults ending the loop, a GROUP BY query, a syntax error reaching the
// SDK as an error, getRegistryStatistics, updateDevices (forced: importMode Update, status
// disabled) and removeDevices (forced: Delete), and addDevices over an existing id reporting
// the per-device DeviceAlreadyExists error.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/service_sdk_query_interop.js
'use strict';

const { assert, iothub, errors, within, startEmulator, routeHttpsTo, hubGet, call, expectError } = require('./service_sdk_harness');

// Every page of `query`, fetched with `method` ('nextAsTwin' or 'next').
async function allPages(query, method) {
  const pages = [];
  while (query.hasMoreResults) {
    const page = await call(`Query.${method}`, (cb) => query[method](cb));
    pages.push(page);
    assert.ok(pages.length < 50, 'the query ends');
  }
  return pages;
}

async function main() {
  const emu = await startEmulator();
  let failed = false;
  try {
    routeHttpsTo(emu.ready.ports.https, emu.ca);
    const registry = iothub.Registry.fromConnectionString(emu.ready.serviceConnectionString);
    const ids = Array.from({ length: 12 }, (_, i) => `qi${String(i).padStart(2, '0')}`);

    const added = await call('Registry.addDevices', (cb) => registry.addDevices(ids.map((deviceId) => ({ deviceId })), cb));
    assert.deepEqual(added, { isSuccessful: true, errors: [], warnings: [] });
    const listed = await hubGet(emu, '/devices');
    assert.deepEqual(listed.body.map((d) => d.deviceId).sort(), ids);
    assert.ok(listed.body.every((d) => d.authentication.symmetricKey.primaryKey), 'the hub generated the keys');
    for (const [i, id] of ids.entries()) {
      await call('Registry.updateTwin', (cb) => registry.updateTwin(id, { tags: { n: i, even: i % 2 === 0 } }, '*', cb));
    }

    // SELECT * as Twin objects, 5 a page: 5 + 5 + 2.
    const twinPages = await allPages(registry.createQuery('SELECT * FROM devices', 5), 'nextAsTwin');
    assert.deepEqual(twinPages.map((p) => p.length), [5, 5, 2]);
    const twins = twinPages.flat();
    assert.deepEqual(twins.map((t) => t.deviceId), ids);
    assert.equal(twins[0].constructor.name, 'Twin');
    const atHub = await hubGet(emu, '/twins/qi03');
    assert.equal(twins[3].etag, atHub.body.etag);
    assert.deepEqual(twins[3].tags, atHub.body.tags);

    // A projection with WHERE, as raw rows.
    const rows = (await allPages(registry.createQuery('SELECT deviceId, tags.n FROM devices WHERE tags.even = true', 5), 'next')).flat();
    assert.deepEqual(rows, ids.filter((_, i) => i % 2 === 0).map((deviceId, i) => ({ deviceId, n: 2 * i })));
    const groups = (await allPages(registry.createQuery(
      'SELECT tags.even AS even, COUNT() AS devices FROM devices GROUP BY tags.even'), 'next')).flat();
    assert.deepEqual(groups.sort((a, b) => Number(a.even) - Number(b.even)),
                     [{ even: false, devices: 6 }, { even: true, devices: 6 }]);
    const bad = await expectError('createQuery (syntax error)', call('next', (cb) => registry.createQuery('SELECT * FORM devices').next(cb)),
                                  errors.ArgumentError);
    assert.match(bad.message, /FORM/);

    let stats = await call('Registry.getRegistryStatistics', (cb) => registry.getRegistryStatistics(cb));
    assert.deepEqual(stats, { totalDeviceCount: 12, enabledDeviceCount: 12, disabledDeviceCount: 0 });

    const updated = await call('Registry.updateDevices', (cb) => registry.updateDevices(
      ids.slice(0, 3).map((deviceId) => ({ deviceId, status: 'disabled' })), true, cb));
    assert.equal(updated.isSuccessful, true, JSON.stringify(updated));
    assert.equal((await hubGet(emu, '/devices/qi01')).body.status, 'disabled');
    stats = await call('Registry.getRegistryStatistics', (cb) => registry.getRegistryStatistics(cb));
    assert.deepEqual(stats, { totalDeviceCount: 12, enabledDeviceCount: 9, disabledDeviceCount: 3 });
    const disabled = (await allPages(registry.createQuery("SELECT deviceId FROM devices WHERE status = 'disabled'", 2), 'next')).flat();
    assert.deepEqual(disabled.map((d) => d.deviceId), ids.slice(0, 3));

    const again = await call('Registry.addDevices (exists)', (cb) => registry.addDevices([{ deviceId: 'qi00' }, { deviceId: 'qnew' }], cb));
    assert.equal(again.isSuccessful, false);
    assert.deepEqual(again.errors.map((e) => [e.deviceId, e.errorCode]), [['qi00', 'DeviceAlreadyExists']]);
    assert.equal((await hubGet(emu, '/devices/qnew')).status, 200);

    const removed = await call('Registry.removeDevices', (cb) => registry.removeDevices(
      ids.slice(6).concat(['qnew']).map((deviceId) => ({ deviceId })), true, cb));
    assert.equal(removed.isSuccessful, true, JSON.stringify(removed));
    assert.equal((await hubGet(emu, '/devices/qi11')).status, 404);
    assert.deepEqual((await hubGet(emu, '/devices')).body.map((d) => d.deviceId).sort(), ids.slice(0, 6));
    console.log('service_sdk_query_interop: queries, statistics and bulk operations OK with azure-iothub ' +
                require('azure-iothub/package.json').version);
  } catch (err) {
    failed = true;
    console.error(`service_sdk_query_interop: FAILED: ${err.stack || err}`);
  } finally {
    emu.proc.kill('SIGTERM');
    await within(emu.exited, 'the emulator to stop', 10000).catch(() => emu.proc.kill('SIGKILL'));
  }
  process.exit(failed ? 1 : 0);
}

main();
