#!/usr/bin/env node
// Nothing the emulator acknowledged over AMQP is lost to kill -9: Microsoft's Node device SDK
// (azure-iot-device-amqp, unmodified) sends telemetry and settles C2D messages against
// `azhub emulate --state-dir DIR`, the emulator is killed with SIGKILL, and a new emulator on the
// same directory must hold every telemetry message whose sendEvent resolved (the SDK resolves it
// on the hub's *accepted* disposition) exactly once, not the C2D message the device completed,
// and still the one it received but had not settled.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/device_amqp_durability.js
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

let device;
let deviceAmqp;
try {
  device = require('azure-iot-device');
  deviceAmqp = require('azure-iot-device-amqp');
} catch (err) {
  console.error('device_amqp_durability: the Azure IoT Node.js SDK is not installed; run ' +
                '`npm ci --prefix tests/interop` (scripts/setup.sh does it): ' + err.message);
  process.exit(1);
}
const { Client, Message } = device;
const { Amqp } = deviceAmqp;

const AZHUB = process.env.AZHUB_BIN || path.join(__dirname, '..', '..', 'build', 'release', 'cli', 'azhub');
const DEVICE = 'dev1';
const MESSAGES = 20;
const STEP_TIMEOUT_MS = 20000;
const TOTAL_TIMEOUT_MS = 100000;

let currentStep = 'start';
const log = (line) => process.stdout.write(`device_amqp_durability: ${line}\n`);

function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// One `azhub emulate --state-dir dir` process; its ready line, and REST calls with the
// iothubowner token `azhub sas` makes.
class Emulator {
  constructor(dir) {
    this.dir = dir;
    this.stderr = '';
  }

  async start() {
    const args = ['-o', 'json', '-v', 'emulate', '--state-dir', this.dir, '--mqtt-port', '0', '--https-port', '0',
                  '--amqp-port', '0', '--device', DEVICE];
    this.proc = childProcess.spawn(AZHUB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (chunk) => { this.stderr += chunk; });
    const lines = readline.createInterface({ input: this.proc.stdout });
    const line = await within(new Promise((resolve, reject) => {
      lines.once('line', resolve);
      this.proc.once('error', reject);
      this.exited.then(({ code, signal }) => reject(new Error(`azhub emulate exited (${code}, ${signal}) before its ready line`)));
    }), 'the emulator ready line', 30000);
    this.ready = JSON.parse(line);
    this.ca = fs.readFileSync(this.ready.caFile, 'utf8');
    this.device = this.ready.devices.find((d) => d.deviceId === DEVICE);
    const sas = childProcess.spawnSync(AZHUB, ['sas', '--connection-string', this.ready.serviceConnectionString, '--ttl', '1h'],
                                       { encoding: 'utf8' });
    assert.equal(sas.status, 0, `azhub sas: ${sas.stderr}`);
    this.token = sas.stdout.trim();
  }

  async kill9() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(timer);
  }

  get(urlPath) {
    return within(new Promise((resolve, reject) => {
      const sep = urlPath.includes('?') ? '&' : '?';
      https.get({ host: 'localhost', port: this.ready.ports.https, path: `${urlPath}${sep}api-version=2021-04-12`,
                  headers: { Authorization: this.token }, ca: this.ca, servername: 'localhost' }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`GET ${urlPath}: HTTP ${res.statusCode} ${text}`));
          resolve(JSON.parse(text));
        });
      }).on('error', reject);
    }), `GET ${urlPath}`);
  }

  post(urlPath, body, headers) {
    return within(new Promise((resolve, reject) => {
      const req = https.request({ host: 'localhost', port: this.ready.ports.https, method: 'POST', path: urlPath,
                                  headers: { Authorization: this.token, 'Content-Length': Buffer.byteLength(body), ...headers },
                                  ca: this.ca, servername: 'localhost' }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`POST ${urlPath}: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    }), `POST ${urlPath}`);
  }
}

async function waitUntil(probe, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main() {
  if (!fs.existsSync(AZHUB)) {
    console.error(`device_amqp_durability: azhub binary not found at ${AZHUB} (set AZHUB_BIN)`);
    return 1;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'azhub-amqp-durability-'));
  let emu = new Emulator(dir);
  const watchdog = setTimeout(() => {
    console.error(`device_amqp_durability: FAIL: over ${TOTAL_TIMEOUT_MS} ms (at ${currentStep})`);
    if (emu.proc) emu.proc.kill('SIGKILL');
    process.exit(1);
  }, TOTAL_TIMEOUT_MS);
  let client;
  try {
    currentStep = 'start the emulator';
    await emu.start();
    const cs = `${emu.device.connectionString};GatewayHostName=localhost:${emu.ready.ports.amqps}`;
    client = Client.fromConnectionString(cs, Amqp);
    client.on('error', () => {});  // the killed emulator drops the connection
    await within(client.setOptions({ ca: emu.ca }), 'setOptions');
    await within(client.open(), 'open');

    currentStep = 'telemetry';
    for (let i = 0; i < MESSAGES; i += 1) {
      const m = new Message(`{"n":${i}}`);
      m.messageId = `d-${i}`;
      await within(client.sendEvent(m), `sendEvent d-${i}`);
    }

    currentStep = 'C2D';
    for (const id of ['c-0', 'c-1']) {
      await emu.post(`/_emulator/devices/${DEVICE}/messages/deviceBound`, `body of ${id}`, { 'iothub-messageid': id });
    }
    const received = [];
    const bothArrived = new Promise((resolve) => {
      client.on('message', (m) => {
        received.push(m);
        if (received.length === 2) resolve();
      });
    });
    await within(bothArrived, 'both C2D messages at the device');
    const completed = received.find((m) => m.messageId === 'c-0');
    await within(client.complete(completed), 'complete c-0');
    await waitUntil(async () => (await emu.get(`/devices/${DEVICE}`)).cloudToDeviceMessageCount === 1,
                    'the hub to count one queued message after completing c-0');

    currentStep = 'kill -9';
    await emu.kill9();
    emu = new Emulator(dir);
    currentStep = 'restart on the same state directory';
    await emu.start();

    const events = await emu.get(`/_emulator/messages/events?device=${DEVICE}&limit=1000`);
    const ids = events.messages.map((m) => m.systemProperties && m.systemProperties.messageId);
    const expected = Array.from({ length: MESSAGES }, (_, i) => `d-${i}`);
    assert.deepEqual(ids, expected, 'every accepted telemetry message, once, in order, after kill -9');
    const queued = await emu.get(`/devices/${DEVICE}`);
    assert.equal(queued.cloudToDeviceMessageCount, 1, 'the completed C2D message is gone, the unsettled one is kept');
    // The kept one is c-1: a device connecting now receives it (again).
    currentStep = 'receive the kept C2D message after the restart';
    await within(client.close(), 'close the first client', 5000).catch(() => {});
    client = Client.fromConnectionString(`${emu.device.connectionString};GatewayHostName=localhost:${emu.ready.ports.amqps}`, Amqp);
    client.on('error', () => {});
    await within(client.setOptions({ ca: emu.ca }), 'setOptions after the restart');
    const again = await within(new Promise((resolve) => client.on('message', resolve)), 'the kept C2D message');
    assert.equal(again.messageId, 'c-1', 'the unsettled message is the one kept');
    assert.equal(again.data.toString('utf8'), 'body of c-1');
    await within(client.complete(again), 'complete c-1');
    await waitUntil(async () => (await emu.get(`/devices/${DEVICE}`)).cloudToDeviceMessageCount === 0,
                    'the queue to empty after completing c-1');
    log(`PASS: ${MESSAGES} accepted telemetry messages survived kill -9 once each; C2D: completed gone, unsettled kept`);
    return 0;
  } catch (err) {
    console.error(`device_amqp_durability: FAIL at ${currentStep}: ${err && err.stack ? err.stack : err}`);
    if (emu.stderr) console.error('--- azhub emulate stderr ---\n' + emu.stderr.split('\n').slice(-40).join('\n'));
    return 1;
  } finally {
    if (client) await within(client.close(), 'close', 5000).catch(() => {});
    await emu.stop();
    clearTimeout(watchdog);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (err) => {
  console.error(`device_amqp_durability: FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
