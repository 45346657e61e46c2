#!/usr/bin/env node
// Interoperability of `azhub emulate` with Microsoft's official Node.js service SDK
// (azure-iothub, unmodified, pinned by package-lock.json) for IoT Hub jobs v2 (docs/protocol.md
// §17): JobClient schedules, reads, cancels and lists jobs; every outcome is checked at the hub
// with raw REST requests (GET /twins/{id}, GET /jobs/v2/{id}, FROM devices.jobs). The SDK is
// pointed at the emulator as in service_sdk_interop.js; the device answering a job's method is
// Microsoft's device SDK (azure-iot-device over azure-iot-device-mqtt, as in device_sdk_interop.js).
//
// Checked:
//   scheduleTwinUpdate "tags.floor = 2", callback form (startTime now, 3600 s) and promise form
//     with three arguments (startTime null, no maxExecutionTimeInSeconds): queued on create,
//     completed with deviceJobStatistics {deviceCount 2, succeededCount 2}; the two floor-2 twins
//     carry the patch's tags and desired properties, the others are untouched (same etag); one
//     devices.jobs row per selected device, completed. The patch the SDK's own end-to-end tests
//     send ({desired:{}, reported:{}} beside tags) completes too.
//   scheduleDeviceMethod on a connected device (onDeviceMethod answers 200 with a payload) and an
//     offline one: completed, succeededCount 1 and failedCount 1; Registry.createQuery over
//     devices.jobs for the job: the online row completed with outcome.deviceMethodResponse
//     {status 200, payload as the device sent it}, the offline row failed with error.code
//     DeviceNotOnline; the device received the job's method name and payload once.
//   a job starting in 60 s: queued; cancelJob answers cancelled, getJob reads cancelled, and no
//     twin changed.
//   createQuery(undefined, undefined, 2) with next(cb) over pages of 2 lists every job once;
//     createQuery('scheduleUpdateTwin', 'completed') and the other filters select exactly theirs.
//   errors as the SDK surfaces them: a second job with an existing id is 409 (the SDK's
//     DeviceAlreadyExistsError, iothub-errorcode JobAlreadyExists, errorCode 409104); getJob of
//     an unknown id resolves with status 'unknown'; cancelJob of an unknown id is 404 (JobNotFound).
//
// Every wait is bounded: job states are polled against a deadline.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/service_sdk_jobs_interop.js
'use strict';

const { assert, iothub, errors, within, startEmulator, routeHttpsTo, hubGet, hubRequest, call, expectError } =
  require('./service_sdk_harness');

let device;
let deviceMqtt;
try {
  device = require('azure-iot-device');
  deviceMqtt = require('azure-iot-device-mqtt');
} catch (err) {
  console.error('service_sdk_jobs_interop: the Azure IoT Node.js device SDK is not installed; run ' +
                '`npm ci --prefix tests/interop` (scripts/setup.sh does it): ' + err.message);
  process.exit(1);
}

const ONLINE = 'jm-online';
const OFFLINE = 'jm-offline';
const FLOOR2 = ['jt-f2a', 'jt-f2b'];
const OTHERS = ['jt-f3', 'jt-none'];
const JOB_TIMEOUT_MS = 20000;
const FINISHED = ['completed', 'failed', 'cancelled'];

let currentStep = 'start';

function log(line) {
  process.stdout.write(`service_sdk_jobs_interop: ${line}\n`);
}

function step(name) {
  currentStep = name;
}

// Polls getJob (the SDK's promise form) until the job reads `status`; fails at once on another
// finished status, and after `ms` without it.
async function waitForJob(jobClient, jobId, status, ms = JOB_TIMEOUT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const { jobStatus } = await within(jobClient.getJob(jobId), `getJob ${jobId}`);
    last = jobStatus;
    if (last.status === status) return last;
    if (FINISHED.includes(last.status)) {
      throw new Error(`job ${jobId} ended ${last.status}, not ${status}: ${JSON.stringify(last)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms: job ${jobId} to read ${status}; last ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Every row of a query, page after page with next(cb).
async function allRows(query, what) {
  const pages = [];
  while (query.hasMoreResults) {
    pages.push(await call(`${what} next`, (cb) => query.next(cb)));
    assert.ok(pages.length < 50, `${what}: the query ends`);
  }
  return pages;
}

// The devices.jobs rows of one job, by device id.
async function deviceJobRows(registry, jobId) {
  const rows = (await allRows(registry.createQuery(`SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '${jobId}'`),
                              'devices.jobs')).flat();
  return rows.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
}

async function twinsOf(emu, ids) {
  const out = {};
  for (const id of ids) {
    const r = await hubGet(emu, `/twins/${id}`);
    assert.equal(r.status, 200, `GET /twins/${id}: ${JSON.stringify(r.body)}`);
    out[id] = r.body;
  }
  return out;
}

// The device SDK over MQTT on the emulator's mqtts port, answering `reboot` (recorded) and
// `ping` (the readiness probe) with status 200.
async function connectDevice(emu) {
  const dev = emu.ready.devices.find((d) => d.deviceId === ONLINE);
  assert.ok(dev, `the ready line lists no ${ONLINE}`);
  const client = device.Client.fromConnectionString(
    `${dev.connectionString};GatewayHostName=localhost:${emu.ready.ports.mqtts}`, deviceMqtt.Mqtt);
  await within(client.setOptions({ ca: emu.ca }), 'device setOptions');
  await within(client.open(), 'device open');
  const requests = [];
  let gotReboot;
  const rebooted = new Promise((resolve) => { gotReboot = resolve; });
  client.onDeviceMethod('reboot', (request, response) => {
    requests.push({ methodName: request.methodName, payload: request.payload });
    response.send(200, { rebooted: true, echo: request.payload }, () => gotReboot());
  });
  client.onDeviceMethod('ping', (request, response) => response.send(200, { pong: true }));
  // onDeviceMethod subscribes without a completion callback: one direct method with a connect
  // timeout returns once the subscription is in place, so the job finds the device online.
  const ping = await hubRequest(emu, 'POST', `/twins/${ONLINE}/methods`,
                                { methodName: 'ping', payload: {}, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 });
  assert.deepEqual([ping.status, ping.body], [200, { status: 200, payload: { pong: true } }], 'the readiness probe');
  return { client, requests, rebooted };
}

async function main() {
  const emu = await startEmulator(['--device', ONLINE]);
  let failed = false;
  let deviceClient;
  try {
    routeHttpsTo(emu.ready.ports.https, emu.ca);
    step('devices');
    const registry = iothub.Registry.fromConnectionString(emu.ready.serviceConnectionString);
    const jobClient = iothub.JobClient.fromConnectionString(emu.ready.serviceConnectionString);

    const tags = { 'jt-f2a': { floor: 2 }, 'jt-f2b': { floor: 2 }, 'jt-f3': { floor: 3 }, 'jt-none': {} };
    for (const id of [...FLOOR2, ...OTHERS, OFFLINE]) {
      await call(`Registry.create ${id}`, (cb) => registry.create({ deviceId: id }, cb));
      if (tags[id] && Object.keys(tags[id]).length) {
        await call(`Registry.updateTwin ${id}`, (cb) => registry.updateTwin(id, { tags: tags[id] }, '*', cb));
      }
    }
    const before = await twinsOf(emu, [...FLOOR2, ...OTHERS]);

    // 1. scheduleTwinUpdate, callback form: the SDK sends startTime now and 3600 s.
    step('scheduleTwinUpdate (callback form)');
    const patchA = { etag: '*', tags: { wing: 'east' }, properties: { desired: { fan: { speed: 3 } } } };
    const created = await call('scheduleTwinUpdate (callback)',
                               (cb) => jobClient.scheduleTwinUpdate('twin-cb', 'tags.floor = 2', patchA, cb));
    assert.equal(created.jobId, 'twin-cb');
    assert.equal(created.type, 'scheduleUpdateTwin');
    assert.equal(created.status, 'queued', 'the create answer');
    let job = await waitForJob(jobClient, 'twin-cb', 'completed');
    assert.equal(job.maxExecutionTimeInSeconds, 3600);
    assert.equal(job.queryCondition, 'tags.floor = 2');
    assert.deepEqual([job.deviceJobStatistics.deviceCount, job.deviceJobStatistics.succeededCount,
                      job.deviceJobStatistics.failedCount], [2, 2, 0], JSON.stringify(job.deviceJobStatistics));
    assert.equal((await hubGet(emu, '/jobs/v2/twin-cb')).body.status, 'completed', 'the job at the hub');
    let twins = await twinsOf(emu, [...FLOOR2, ...OTHERS]);
    for (const id of FLOOR2) {
      assert.deepEqual(twins[id].tags, { floor: 2, wing: 'east' }, `${id} tags`);
      assert.deepEqual(twins[id].properties.desired.fan, { speed: 3 }, `${id} desired`);
      assert.equal(twins[id].properties.desired.$version, before[id].properties.desired.$version + 1, `${id} desired $version`);
    }
    for (const id of OTHERS) assert.equal(twins[id].etag, before[id].etag, `${id} is not selected`);
    let rows = await deviceJobRows(registry, 'twin-cb');
    assert.deepEqual(rows.map((r) => [r.deviceId, r.jobId, r.jobType, r.status]),
                     FLOOR2.map((id) => [id, 'twin-cb', 'scheduleUpdateTwin', 'completed']));
    log('scheduleTwinUpdate (callback form) ok');

    // Promise form with three arguments: startTime null, no maxExecutionTimeInSeconds.
    step('scheduleTwinUpdate (promise form)');
    const patchB = { etag: '*', tags: { zone: 'b' }, properties: { desired: { light: 'on' } } };
    const { jobStatus: createdB, response } = await within(
      jobClient.scheduleTwinUpdate('twin-promise', 'tags.floor = 2', patchB), 'scheduleTwinUpdate (promise)');
    assert.equal(response.statusCode, 200);
    assert.deepEqual([createdB.jobId, createdB.status], ['twin-promise', 'queued']);
    job = await waitForJob(jobClient, 'twin-promise', 'completed');
    assert.deepEqual([job.deviceJobStatistics.deviceCount, job.deviceJobStatistics.succeededCount,
                      job.deviceJobStatistics.failedCount], [2, 2, 0], JSON.stringify(job.deviceJobStatistics));
    assert.ok(job.maxExecutionTimeInSeconds > 0, 'a default maxExecutionTimeInSeconds');
    twins = await twinsOf(emu, [...FLOOR2, ...OTHERS]);
    for (const id of FLOOR2) {
      assert.deepEqual(twins[id].tags, { floor: 2, wing: 'east', zone: 'b' }, `${id} tags`);
      assert.equal(twins[id].properties.desired.light, 'on', `${id} desired`);
      assert.deepEqual(twins[id].properties.desired.fan, { speed: 3 }, `${id} keeps the first job's desired`);
    }
    for (const id of OTHERS) assert.equal(twins[id].etag, before[id].etag, `${id} is not selected`);
    log('scheduleTwinUpdate (promise form) ok');

    // The patch the SDK's end-to-end tests send to IoT Hub: empty desired and reported beside tags.
    step('scheduleTwinUpdate with the SDK end-to-end patch ({desired: {}, reported: {}})');
    const patchE2e = { etag: '*', tags: { key: 'value2' }, properties: { desired: {}, reported: {} } };
    await within(jobClient.scheduleTwinUpdate('twin-e2e', "deviceId = 'jt-f3'", patchE2e, new Date(Date.now()), 120),
                 'scheduleTwinUpdate (desired and reported {})');
    job = await waitForJob(jobClient, 'twin-e2e', 'completed');
    assert.equal(job.deviceJobStatistics.succeededCount, 1, JSON.stringify(job.deviceJobStatistics));
    assert.equal((await hubGet(emu, '/twins/jt-f3')).body.tags.key, 'value2');
    log('scheduleTwinUpdate (the SDK end-to-end patch) ok');

    // 2. scheduleDeviceMethod: one device connected and answering, one never connected.
    step('scheduleDeviceMethod');
    const dev = await connectDevice(emu);
    deviceClient = dev.client;
    const methodPayload = { delay: 5, reason: 'maintenance' };
    const createdM = await call('scheduleDeviceMethod', (cb) => jobClient.scheduleDeviceMethod(
      'method-1', `deviceId IN ['${ONLINE}', '${OFFLINE}']`,
      { methodName: 'reboot', payload: methodPayload, responseTimeoutInSeconds: 10 }, cb));
    assert.deepEqual([createdM.jobId, createdM.type, createdM.status], ['method-1', 'scheduleDeviceMethod', 'queued']);
    job = await waitForJob(jobClient, 'method-1', 'completed');
    assert.deepEqual([job.deviceJobStatistics.deviceCount, job.deviceJobStatistics.succeededCount,
                      job.deviceJobStatistics.failedCount], [2, 1, 1], JSON.stringify(job.deviceJobStatistics));
    assert.equal(job.cloudToDeviceMethod && job.cloudToDeviceMethod.methodName, 'reboot');
    await within(dev.rebooted, 'the device to answer the job');
    assert.deepEqual(dev.requests, [{ methodName: 'reboot', payload: methodPayload }], 'the method calls the device received');
    rows = await deviceJobRows(registry, 'method-1');
    assert.deepEqual(rows.map((r) => r.deviceId), [OFFLINE, ONLINE].sort());
    const online = rows.find((r) => r.deviceId === ONLINE);
    const offline = rows.find((r) => r.deviceId === OFFLINE);
    assert.equal(online.status, 'completed', JSON.stringify(online));
    assert.equal(online.jobType, 'scheduleDeviceMethod');
    assert.deepEqual(online.outcome && online.outcome.deviceMethodResponse,
                     { status: 200, payload: { rebooted: true, echo: methodPayload } }, JSON.stringify(online));
    assert.equal(offline.status, 'failed', JSON.stringify(offline));
    assert.equal(offline.error && offline.error.code, 'DeviceNotOnline', JSON.stringify(offline));
    log('scheduleDeviceMethod ok (online device answered, offline device failed)');

    // 3. A job that starts in a minute: queued, then cancelled before it runs.
    step('future job and cancelJob');
    const beforeFuture = await twinsOf(emu, [...FLOOR2, ...OTHERS]);
    const createdF = await call('scheduleTwinUpdate (future)', (cb) => jobClient.scheduleTwinUpdate(
      'twin-future', 'tags.floor = 2', { etag: '*', tags: { late: true } }, new Date(Date.now() + 60000), 120, cb));
    assert.equal(createdF.status, 'queued');
    assert.equal((await within(jobClient.getJob('twin-future'), 'getJob twin-future')).jobStatus.status, 'queued');
    const cancelled = await call('cancelJob', (cb) => jobClient.cancelJob('twin-future', cb));
    assert.deepEqual([cancelled.jobId, cancelled.status], ['twin-future', 'cancelled']);
    assert.equal((await within(jobClient.getJob('twin-future'), 'getJob twin-future')).jobStatus.status, 'cancelled');
    assert.equal((await hubGet(emu, '/jobs/v2/twin-future')).body.status, 'cancelled', 'the job at the hub');
    twins = await twinsOf(emu, [...FLOOR2, ...OTHERS]);
    for (const id of [...FLOOR2, ...OTHERS]) assert.equal(twins[id].etag, beforeFuture[id].etag, `${id} unchanged`);
    log('future job queued and cancelled ok');

    // 4. The jobs query: more jobs (selecting no device), then pages of 2.
    step('jobs query');
    const empty = ['empty-1', 'empty-2', 'empty-3'];
    for (const id of empty) {
      await call(`scheduleTwinUpdate ${id}`, (cb) => jobClient.scheduleTwinUpdate(id, 'tags.floor = 99', patchA, cb));
    }
    for (const id of empty) {
      job = await waitForJob(jobClient, id, 'completed');
      assert.equal(job.deviceJobStatistics.deviceCount, 0, `${id} selects no device`);
    }
    const allIds = ['twin-cb', 'twin-promise', 'twin-e2e', 'method-1', 'twin-future', ...empty];
    const pages = await allRows(jobClient.createQuery(undefined, undefined, 2), 'jobs query');
    assert.ok(pages.every((p) => Array.isArray(p) && p.length <= 2), `pages of 2: ${JSON.stringify(pages.map((p) => p.length))}`);
    assert.ok(pages.length >= 4, `${pages.length} pages`);
    const listed = pages.flat().map((j) => j.jobId);
    assert.deepEqual([...listed].sort(), [...allIds].sort(), 'every job once');
    const completedTwin = (await allRows(jobClient.createQuery('scheduleUpdateTwin', 'completed'),
                                         'jobs query (filtered)')).flat();
    assert.deepEqual(completedTwin.map((j) => j.jobId).sort(), ['twin-cb', 'twin-promise', 'twin-e2e', ...empty].sort());
    assert.ok(completedTwin.every((j) => j.type === 'scheduleUpdateTwin' && j.status === 'completed'));
    const methods = (await allRows(jobClient.createQuery('scheduleDeviceMethod'), 'jobs query (methods)')).flat();
    assert.deepEqual(methods.map((j) => j.jobId), ['method-1']);
    const cancelledJobs = (await allRows(jobClient.createQuery(undefined, 'cancelled'), 'jobs query (cancelled)')).flat();
    assert.deepEqual(cancelledJobs.map((j) => j.jobId), ['twin-future']);
    log(`jobs query ok (${pages.length} pages of 2)`);

    // 5. Errors as the SDK surfaces them.
    step('errors');
    const dup = await expectError('scheduleTwinUpdate (existing id)', call('scheduleTwinUpdate again',
                                  (cb) => jobClient.scheduleTwinUpdate('twin-cb', 'tags.floor = 2', patchA, cb)),
                                  errors.DeviceAlreadyExistsError);
    assert.equal(dup.response.statusCode, 409);
    assert.equal(dup.response.headers['iothub-errorcode'], 'JobAlreadyExists');
    const dupBody = JSON.parse(dup.responseBody);
    assert.equal(JSON.parse(dupBody.Message).errorCode, 409104, dup.responseBody);
    const unknown = (await within(jobClient.getJob('no-such-job'), 'getJob (unknown id)')).jobStatus;
    assert.deepEqual([unknown.jobId, unknown.status], ['no-such-job', 'unknown']);
    const missing = await expectError('cancelJob (unknown id)', within(jobClient.cancelJob('no-such-job'), 'cancelJob'), Error);
    assert.equal(missing.response.statusCode, 404);
    assert.equal(missing.response.headers['iothub-errorcode'], 'JobNotFound');
    assert.equal(JSON.parse(JSON.parse(missing.responseBody).Message).errorCode, 404002, missing.responseBody);
    assert.equal((await hubGet(emu, '/jobs/v2/twin-cb')).body.status, 'completed', 'the duplicate left the job as it was');
    log('errors ok (409 JobAlreadyExists, unknown status, 404 JobNotFound)');

    console.log('service_sdk_jobs_interop: twin and method jobs, cancel, the jobs query and errors OK with azure-iothub ' +
                require('azure-iothub/package.json').version);
  } catch (err) {
    failed = true;
    console.error(`service_sdk_jobs_interop: FAILED at ${currentStep}: ${err.stack || err}`);
  } finally {
    if (deviceClient) await within(deviceClient.close(), 'device close', 5000).catch(() => {});
    emu.proc.kill('SIGTERM');
    await within(emu.exited, 'the emulator to stop', 10000).catch(() => emu.proc.kill('SIGKILL'));
  }
  process.exit(failed ? 1 : 0);
}

main();
