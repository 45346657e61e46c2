#!/usr/bin/env node
// The official Azure IoT Node.js device SDK (azure-iot-device + azure-iot-device-mqtt, pinned in
// package-lock.json) against `azhub emulate`, unchanged except for where it connects
// (GatewayHostName=localhost:PORT) and which CA it trusts (setOptions({ca})): telemetry with
// properties, twin get, reported patch, a desired notification, a direct method answered, and a
// C2D message received and completed. The service side goes through the emulator's REST API.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/device_sdk_emulator.js   (CTest sets AZHUB_BIN)
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const readline = require('node:readline');

let device;
let deviceMqtt;
let common;
try {
  device = require('azure-iot-device');
  deviceMqtt = require('azure-iot-device-mqtt');
  common = require('azure-iot-common');
} catch (err) {
  console.error('device_sdk_emulator: the SDK is not installed; run `npm ci --prefix tests/interop`');
  process.exit(1);
}

const AZHUB = process.env.AZHUB_BIN || path.join(__dirname, '..', '..', 'build', 'release', 'cli', 'azhub');
const STEP_TIMEOUT_MS = 20000;

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function startEmulator() {
  const proc = childProcess.spawn(AZHUB, ['-v', '-o', 'json', 'emulate', '--in-memory', '--mqtt-port', '0',
                                          '--https-port', '0', '--device', 'sdkdev'],
                                  { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const lines = readline.createInterface({ input: proc.stdout });
  const ready = new Promise((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line)));
    proc.once('exit', (code) => reject(new Error(`emulator exited ${code}: ${stderr}`)));
  });
  return { proc, ready: withTimeout(ready, 'emulator ready line'), stderr: () => stderr };
}

function parseConnectionString(cs) {
  return Object.fromEntries(cs.split(';').map((p) => { const i = p.indexOf('='); return [p.slice(0, i), p.slice(i + 1)]; }));
}

function rest(ready, method, urlPath, body, headers = {}) {
  const cs = parseConnectionString(ready.service_connection_string);
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const token = common.SharedAccessSignature.create(cs.HostName, cs.SharedAccessKeyName, cs.SharedAccessKey, expiry).toString();
  const data = body === undefined ? undefined : (Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)));
  const sep = urlPath.includes('?') ? '&' : '?';
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port: ready.ports.https, method, path: `${urlPath}${sep}api-version=2021-04-12`,
      ca: fs.readFileSync(ready.ca_file), servername: 'localhost',
      headers: { Authorization: token, ...(data && !Buffer.isBuffer(body) ? { 'Content-Type': 'application/json' } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode, body: text && /json/.test(res.headers['content-type'] || '') ? JSON.parse(text) : text });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function main() {
  const emu = startEmulator();
  let client;
  try {
    const ready = await emu.ready;
    const cs = `${ready.devices[0].connection_string};GatewayHostName=localhost:${ready.ports.mqtts}`;
    client = device.Client.fromConnectionString(cs, deviceMqtt.Mqtt);
    await withTimeout(client.setOptions({ ca: fs.readFileSync(ready.ca_file, 'utf8') }), 'setOptions');
    await withTimeout(client.open(), 'open');
    console.log('ok - open');

    // Telemetry with properties.
    const msg = new device.Message(JSON.stringify({ temp: 21.5 }));
    msg.messageId = 'sdk-1';
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('alert', 'high temp');
    await withTimeout(client.sendEvent(msg), 'sendEvent');
    const events = await rest(ready, 'GET', '/_emulator/messages/events?deviceId=sdkdev');
    assert.equal(events.status, 200);
    const got = events.body.messages.at(-1);
    assert.equal(got.body, '{"temp":21.5}');
    assert.equal(got.systemProperties.messageId, 'sdk-1');
    assert.equal(got.systemProperties.contentType, 'application/json');
    assert.equal(got.properties.alert, 'high temp');
    console.log('ok - telemetry with properties');

    // Twin get and reported patch.
    const twin = await withTimeout(client.getTwin(), 'getTwin');
    assert.equal(twin.properties.reported.$version, 1);
    await withTimeout(new Promise((resolve, reject) => twin.properties.reported.update({ firmware: '2.0', battery: 97 },
                                                                                        (err) => (err ? reject(err) : resolve()))),
                      'reported update');
    const serviceTwin = await rest(ready, 'GET', '/twins/sdkdev');
    assert.equal(serviceTwin.body.properties.reported.firmware, '2.0');
    assert.equal(serviceTwin.body.properties.reported.$version, 2);
    console.log('ok - twin get and reported patch');

    // Desired notification.
    const desired = new Promise((resolve) => {
      twin.on('properties.desired', (delta) => { if (delta.interval === 30) resolve(delta); });
    });
    const patched = await rest(ready, 'PATCH', '/twins/sdkdev', { properties: { desired: { interval: 30 } } });
    assert.equal(patched.status, 200);
    const delta = await withTimeout(desired, 'desired notification');
    assert.equal(delta.$version, 2);
    console.log('ok - desired notification');

    // Direct method answered by the SDK.
    client.onDeviceMethod('echo', (request, response) => {
      response.send(200, { echoed: request.payload }, (err) => { if (err) console.error(err); });
    });
    // The SDK subscribes asynchronously; connectTimeoutInSeconds covers that window.
    const invoked = await withTimeout(rest(ready, 'POST', '/twins/sdkdev/methods',
                                           { methodName: 'echo', payload: { n: 7 }, responseTimeoutInSeconds: 10,
                                             connectTimeoutInSeconds: 10 }), 'method');
    assert.equal(invoked.status, 200, JSON.stringify(invoked.body));
    assert.deepEqual(invoked.body, { status: 200, payload: { echoed: { n: 7 } } });
    console.log('ok - direct method');

    // C2D received and completed.
    const received = new Promise((resolve) => {
      client.on('message', (m) => {
        client.complete(m, () => resolve(m));
      });
    });
    // The C2D subscription is made when the 'message' listener is added; queued messages wait.
    const sent = await rest(ready, 'POST', '/_emulator/devices/sdkdev/messages/deviceBound', Buffer.from('hello sdk'),
                            { 'iothub-messageid': 'c2d-1', 'iothub-app-color': 'blue' });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    const m = await withTimeout(received, 'C2D message');
    assert.equal(m.data.toString(), 'hello sdk');
    assert.equal(m.messageId, 'c2d-1');
    assert.equal(m.properties.getValue('color'), 'blue');
    const after = await rest(ready, 'GET', '/devices/sdkdev');
    assert.equal(after.body.cloudToDeviceMessageCount, 0);
    console.log('ok - C2D received and completed');

    await withTimeout(client.close(), 'close');
    client = undefined;
  } catch (err) {
    console.error(`not ok - ${err.stack || err}`);
    console.error(emu.stderr());
    process.exitCode = 1;
  } finally {
    if (client) { try { await client.close(); } catch (e) { /* already failing */ } }
    const exited = new Promise((resolve) => emu.proc.once('exit', (code, signal) => resolve({ code, signal })));
    emu.proc.kill('SIGTERM');
    const { code } = await withTimeout(exited, 'emulator exit');
    if (code !== 0) {
      console.error(`not ok - emulator exit code ${code}\n${emu.stderr()}`);
      process.exitCode = 1;
    }
  }
}

main();
