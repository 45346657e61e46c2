#!/usr/bin/env node
// Interoperability of `azhub emulate` with Microsoft's official Node.js device SDK
// (azure-iot-device with azure-iot-device-mqtt and azure-iot-device-amqp, unmodified, pinned by
// package-lock.json).
//
// One emulator (`azhub -o json emulate --in-memory --mqtt-port 0 --https-port 0 --amqp-port 0
// --device dev1`);
// the SDK's Client.fromConnectionString connects once over each transport and exercises every
// device feature, each checked at the hub side through the emulator's REST API:
//
//   Mqtt    MQTT over TLS on ports.mqtts.  The SDK dials mqtts://{GatewayHostName || HostName}
//           (mqtt.js parses a port in that URL), so the device connection string gets
//           ";GatewayHostName=localhost:{mqtts}". Username and SAS `sr` keep HostName (§1).
//   MqttWs  MQTT over WebSockets on ports.https. The SDK always dials
//           wss://{host}:443/$iothub/websocket; its documented `mqtt.webSocketAgent` option (meant
//           for proxies) is given an https.Agent that opens the TLS socket to ports.https.
//   Amqp    AMQP over TLS on ports.amqps. The SDK dials amqps://{GatewayHostName || HostName}
//           and parses a port in it (default 5671), so ";GatewayHostName=localhost:{amqps}"
//           as for Mqtt; it authenticates with a put-token of the device SAS on $cbs.
//   AmqpWs  AMQP over WebSockets (subprotocol AMQPWSB10) on ports.https; the SDK always dials
//           wss://{host}:443/$iothub/websocket, and its `amqp.webSocketAgent` option gets the
//           same port-redirecting agent as MqttWs.
//   Http    the device-facing HTTPS API on ports.https (azure-iot-device-http); its documented
//           `http.agent` option gets the same agent. HTTP has no twin or methods in the SDK, so
//           its scenario is telemetry (one message and a batch) and C2D: received by polling,
//           then completed, rejected and abandoned, each checked at the hub, the Success and
//           Rejected feedback read with azure-iothub.
//
// The emulator's CA reaches the SDK through client.setOptions({ca}), the SDK's own option.
//
// Per transport: telemetry with properties (GET /_emulator/messages/events), twin get, reported
// patches, one deleting a member with null (GET /twins/dev1: values and $version), a desired patch (PATCH /twins/dev1 -> the twin's
// 'properties.desired' event), a direct method (POST /twins/dev1/methods -> onDeviceMethod ->
// {status,payload} at the caller), and a C2D message (/_emulator C2D send -> 'message' event with
// its properties -> complete -> the hub's queue for dev1 empties). AMQP only (MQTT cannot
// settle a message any other way than completing it): client.reject -> the queue empties and
// azure-iothub's feedback receiver reads a Rejected record for the message; client.abandon ->
// the same message arrives again (delivery count counted), and completing it empties the queue.
// Then, over AMQP, a module identity (ModuleClient): telemetry, module twin, module method.
//
// Every wait is bounded; any failure exits 1 with the transport and step named. The emulator is
// always stopped (SIGTERM, then SIGKILL if it does not exit).
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/device_sdk_interop.js [mqtt|ws|amqp|amqpws ...]
//        (CTest sets AZHUB_BIN; no argument = all four transports; AZHUB_INTEROP_TRACE=1 prints the
//        emulator's -vvv packet trace at the end)
'use strict';

const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const path = require('node:path');
const readline = require('node:readline');

let device;
let deviceMqtt;
let deviceAmqp;
let deviceHttp;
let common;
let iothub;
try {
  device = require('azure-iot-device');
  deviceMqtt = require('azure-iot-device-mqtt');
  deviceAmqp = require('azure-iot-device-amqp');
  deviceHttp = require('azure-iot-device-http');
  common = require('azure-iot-common');
  iothub = require('azure-iothub');
} catch (err) {
  console.error('device_sdk_interop: the Azure IoT Node.js SDK is not installed; run ' +
                '`npm ci --prefix tests/interop` (scripts/setup.sh does it): ' + err.message);
  process.exit(1);
}
const { Client, ModuleClient, Message } = device;
const { Mqtt, MqttWs } = deviceMqtt;
const { Amqp, AmqpWs } = deviceAmqp;
const { routeAmqpTo } = require('./service_sdk_harness');
const { Http } = deviceHttp;
const TRANSPORTS = ['mqtt', 'ws', 'amqp', 'amqpws', 'http'];
const isAmqp = (transport) => transport === 'amqp' || transport === 'amqpws';
const { SharedAccessSignature, ConnectionString, encodeUriComponentStrict } = common;

const AZHUB = process.env.AZHUB_BIN || path.join(__dirname, '..', '..', 'build', 'release', 'cli', 'azhub');
const API = 'api-version=2021-04-12';
const DEVICE = 'dev1';
const STEP_TIMEOUT_MS = 20000;   // one SDK operation or one hub-side observation
const TOTAL_TIMEOUT_MS = 180000; // the whole file (CTest's TIMEOUT is above this)

let currentStep = 'start';

function log(line) {
  process.stdout.write(`device_sdk_interop: ${line}\n`);
}

// Rejects with "timed out after N ms: what" unless `promise` settles first.
function within(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Resolves with the first `event` arguments for which `match(...args)` is true.
function nextEvent(emitter, event, match, what) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => {
      if (match(...args)) resolve(args);
    };
    emitter.on(event, handler);
  });
  return within(p, what).finally(() => emitter.removeListener(event, handler));
}

// ---------------------------------------------------------------------------------------------
// The emulator process

class Emulator {
  constructor() {
    this.proc = null;
    this.ready = null;
    this.stderr = '';
  }

  async start() {
    const verbosity = process.env.AZHUB_INTEROP_TRACE ? '-vvv' : '-v';
    const args = ['-o', 'json', verbosity, 'emulate', '--in-memory', '--mqtt-port', '0', '--https-port', '0', '--amqp-port', '0',
                  '--device', DEVICE];
    this.proc = childProcess.spawn(AZHUB, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (chunk) => { this.stderr += chunk; });
    const lines = readline.createInterface({ input: this.proc.stdout });
    const readyLine = new Promise((resolve, reject) => {
      lines.once('line', resolve);
      this.proc.once('error', reject);
      this.exited.then(({ code, signal }) =>
        reject(new Error(`azhub emulate exited (code ${code}, signal ${signal}) before its ready line`)));
    });
    const line = await within(readyLine, 'the emulator ready line', 30000);
    this.ready = JSON.parse(line);
    assert.equal(this.ready.event, 'ready', `unexpected first line: ${line}`);
    this.ca = fs.readFileSync(this.ready.caFile, 'utf8');
    const service = ConnectionString.parse(this.ready.serviceConnectionString);
    this.host = service.HostName;
    this.policy = service.SharedAccessKeyName;
    this.policyKey = service.SharedAccessKey;
    const dev = this.ready.devices.find((d) => d.deviceId === DEVICE);
    assert.ok(dev, `the ready line lists no ${DEVICE}`);
    this.deviceConnectionString = dev.connectionString;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return null;
    this.proc.kill('SIGTERM');
    let killTimer;
    const killed = new Promise((resolve) => {
      killTimer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, 10000);
    });
    const result = await Promise.race([this.exited, killed.then(() => this.exited)]);
    clearTimeout(killTimer);
    return result;
  }

  // A service token made by the SDK's own SharedAccessSignature (policy scope, sr = host).
  serviceToken() {
    const expiry = Math.floor(Date.now() / 1000) + 3600;
    return SharedAccessSignature.create(encodeUriComponentStrict(this.host), this.policy,
                                        this.policyKey, expiry).toString();
  }

  // REST call on the https port: resolves {status, headers, body (parsed JSON or text)}.
  rest(method, urlPath, { body, headers = {} } = {}) {
    const sep = urlPath.includes('?') ? '&' : '?';
    const payload = body === undefined ? undefined
      : (Buffer.isBuffer(body) || typeof body === 'string') ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const allHeaders = { Authorization: this.serviceToken(), ...headers };
    if (payload !== undefined) {
      allHeaders['Content-Length'] = payload.length;
      if (!Object.keys(allHeaders).some((h) => h.toLowerCase() === 'content-type')) {
        allHeaders['Content-Type'] = 'application/json; charset=utf-8';
      }
    }
    const req = https.request({
      host: 'localhost', port: this.ready.ports.https, method, path: urlPath + sep + API,
      headers: allHeaders, ca: this.ca, servername: 'localhost',
    });
    const p = new Promise((resolve, reject) => {
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          try { parsed = text ? JSON.parse(text) : null; } catch (_) { /* keep text */ }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed });
        });
      });
    });
    if (payload !== undefined) req.write(payload);
    req.end();
    return within(p, `${method} ${urlPath}`);
  }

  async restOk(method, urlPath, options, expected = 200) {
    const r = await this.rest(method, urlPath, options);
    assert.equal(r.status, expected, `${method} ${urlPath}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }
}

// ---------------------------------------------------------------------------------------------
// Transports

// MqttWs dials port 443; this agent opens the TLS connection to the emulator's https port
// instead, with the SNI and certificate check the SDK asked for.
class EmulatorPortAgent extends https.Agent {
  constructor(port, ca) {
    super({ keepAlive: false, ca });
    this.emulatorPort = port;
    this.dialed = 0;
  }

  createConnection(options, callback) {
    this.dialed += 1;
    return super.createConnection({ ...options, port: this.emulatorPort }, callback);
  }
}

function makeClient(emu, transport) {
  if (transport === 'mqtt' || transport === 'amqp') {
    const port = transport === 'mqtt' ? emu.ready.ports.mqtts : emu.ready.ports.amqps;
    const cs = `${emu.deviceConnectionString};GatewayHostName=localhost:${port}`;
    return { client: Client.fromConnectionString(cs, transport === 'mqtt' ? Mqtt : Amqp), options: { ca: emu.ca } };
  }
  const agent = new EmulatorPortAgent(emu.ready.ports.https, emu.ca);
  if (transport === 'amqpws') {
    return {
      client: Client.fromConnectionString(emu.deviceConnectionString, AmqpWs),
      options: { ca: emu.ca, amqp: { webSocketAgent: agent } },
      agent,
    };
  }
  return {
    client: Client.fromConnectionString(emu.deviceConnectionString, MqttWs),
    options: { ca: emu.ca, mqtt: { webSocketAgent: agent } },
    agent,
  };
}

// The next C2D message `client` receives with message id `id`, sent through the emulator's
// REST path with `headers` (iothub-ack and the like).
async function sendAndReceiveC2d(emu, client, id, body, headers = {}) {
  const received = nextEvent(client, 'message', (m) => m.messageId === id, `C2D message ${id}`);
  await emu.restOk('POST', `/_emulator/devices/${DEVICE}/messages/deviceBound`, {
    body, headers: { 'Content-Type': 'application/json', 'iothub-messageid': id, ...headers },
  });
  const [message] = await received;
  return message;
}

let routedAmqp = false;

// AMQP's other two settlements, checked at the hub and by Microsoft's service SDK.
async function rejectAndAbandon(emu, client, transport, tag) {
  // The service SDK dials {HostName}:5671; routeAmqpTo points that at the emulator's AMQP port.
  if (!routedAmqp) {
    routeAmqpTo(emu.ready.ports, emu.ca);
    routedAmqp = true;
  }
  const service = iothub.Client.fromConnectionString(emu.ready.serviceConnectionString);
  await within(new Promise((resolve, reject) => service.open((err) => (err ? reject(err) : resolve()))),
               'azure-iothub Client.open');
  try {
    const receiver = await within(new Promise((resolve, reject) =>
      service.getFeedbackReceiver((err, r) => (err ? reject(err) : resolve(r)))), 'getFeedbackReceiver');
    const rejectedId = `c2d-${transport}-rejected`;
    const rejectedRecord = within(new Promise((resolve, reject) => {
      const onMessage = (msg) => {
        const records = JSON.parse(msg.getData().toString());
        const hit = records.find((r) => r.originalMessageId === rejectedId);
        if (hit) {
          receiver.removeListener('message', onMessage);
          resolve(hit);
        }
      };
      receiver.on('message', onMessage);
      receiver.on('errorReceived', reject);
    }), `the feedback record of ${rejectedId}`);
    const toReject = await sendAndReceiveC2d(emu, client, rejectedId, '{"reject":true}', { 'iothub-ack': 'full' });
    await within(client.reject(toReject), 'client.reject');
    const record = await rejectedRecord;
    assert.equal(record.statusCode, 'Rejected', 'feedback status of a rejected message');
    assert.equal(record.deviceId, DEVICE);
    await waitUntil(async () => (await emu.restOk('GET', `/devices/${DEVICE}`)).cloudToDeviceMessageCount === 0,
                    'the queue to empty after client.reject');
    log(`${tag} C2D reject ok (feedback ${record.statusCode} read by azure-iothub)`);

    const abandonedId = `c2d-${transport}-abandoned`;
    const first = await sendAndReceiveC2d(emu, client, abandonedId, '{"abandon":true}');
    const again = nextEvent(client, 'message', (m) => m.messageId === abandonedId, `${abandonedId} after abandon`);
    await within(client.abandon(first), 'client.abandon');
    const [second] = await again;
    assert.equal(second.data.toString('utf8'), '{"abandon":true}', 'the abandoned message comes back whole');
    const queued = await emu.restOk('GET', `/devices/${DEVICE}`);
    assert.equal(queued.cloudToDeviceMessageCount, 1, 'an abandoned message stays queued');
    await within(client.complete(second), 'client.complete after abandon');
    await waitUntil(async () => (await emu.restOk('GET', `/devices/${DEVICE}`)).cloudToDeviceMessageCount === 0,
                    'the queue to empty after completing the redelivered message');
    log(`${tag} C2D abandon ok (delivered again, then completed)`);
  } finally {
    await within(new Promise((resolve) => service.close(() => resolve())), 'azure-iothub Client.close').catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// The scenario, once per transport

// Polls `probe` (an async predicate over hub-side state) every 50 ms until true; bounded.
async function waitUntil(probe, what, ms = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function lastSequenceNumber(emu) {
  const r = await emu.restOk('GET', `/_emulator/messages/events?device=${DEVICE}&limit=1000`);
  return r.lastSequenceNumber || 0;
}

async function waitForTelemetry(emu, since, messageId) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  for (;;) {
    const r = await emu.restOk('GET', `/_emulator/messages/events?device=${DEVICE}&since=${since}`);
    const found = r.messages.find((m) => m.systemProperties && m.systemProperties.messageId === messageId);
    if (found) return { message: found, all: r.messages };
    if (Date.now() > deadline) {
      throw new Error(`message ${messageId} did not reach /_emulator/messages/events; saw ${JSON.stringify(r.messages)}`);
    }
    // The SDK resolves sendEvent on PUBACK, which the emulator sends after capturing the
    // message, so this loop normally ends on its first pass.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function runTransport(emu, transport) {
  const tag = `[${transport}]`;
  const step = (name) => { currentStep = `${tag} ${name}`; };
  const { client, options, agent } = makeClient(emu, transport);
  const clientErrors = [];
  client.on('error', (err) => clientErrors.push(err));
  try {
    step('setOptions({ca}) and open');
    await within(client.setOptions(options), 'client.setOptions');
    await within(client.open(), 'client.open');
    if (agent) assert.ok(agent.dialed >= 1, `${transport} did not use the webSocketAgent`);
    const identity = await emu.restOk('GET', `/devices/${DEVICE}`);
    assert.equal(identity.connectionState, 'Connected', 'GET /devices: connectionState after open');

    // Telemetry: body, message id, correlation id, content type/encoding, application
    // properties (one needing percent-encoding), as the SDK serialises them into the topic.
    step('telemetry');
    const since = await lastSequenceNumber(emu);
    const body = JSON.stringify({ temperature: 21.5, transport });
    const msg = new Message(body);
    msg.messageId = `mid-${transport}-1`;
    msg.correlationId = `cid-${transport}`;
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('alert', 'true');
    msg.properties.add('room name', 'a&b=c/d%e');
    await within(client.sendEvent(msg), 'client.sendEvent');
    const { message: seen } = await waitForTelemetry(emu, since, msg.messageId);
    assert.equal(seen.deviceId, DEVICE);
    assert.equal(seen.body, body, 'telemetry body');
    assert.equal(seen.bodyEncoding, 'utf-8');
    assert.equal(seen.systemProperties.messageId, msg.messageId);
    assert.equal(seen.systemProperties.correlationId, msg.correlationId);
    assert.equal(seen.systemProperties.contentType, 'application/json');
    assert.equal(seen.systemProperties.contentEncoding, 'utf-8');
    assert.deepEqual(seen.properties, { alert: 'true', 'room name': 'a&b=c/d%e' }, 'application properties');
    log(`${tag} telemetry ok (sequence number ${seen.sequenceNumber})`);

    // Twin get: the device view matches the service view.
    step('twin get');
    const twin = await within(client.getTwin(), 'client.getTwin');
    const hubTwin = await emu.restOk('GET', `/twins/${DEVICE}`);
    assert.equal(twin.properties.desired.$version, hubTwin.properties.desired.$version, 'desired $version');
    assert.equal(twin.properties.reported.$version, hubTwin.properties.reported.$version, 'reported $version');
    log(`${tag} twin get ok (desired $version ${twin.properties.desired.$version}, ` +
        `reported $version ${twin.properties.reported.$version})`);

    // Registering the listener subscribes to desired patches. The SUBSCRIBE goes out before
    // the reported patch below on the same ordered connection, so once the patch is answered
    // the hub has the subscription and the desired PATCH that follows must be notified.
    const desiredEvents = [];
    twin.on('properties.desired', (delta) => desiredEvents.push(delta));

    step('reported patch');
    const reportedBefore = hubTwin.properties.reported.$version;
    const patch = { firmware: { version: '1.2.3', transport }, [`seen_${transport}`]: true };
    await within(new Promise((resolve, reject) =>
      twin.properties.reported.update(patch, (err) => (err ? reject(err) : resolve()))), 'reported update');
    const afterPatch = await emu.restOk('GET', `/twins/${DEVICE}`);
    assert.deepEqual(afterPatch.properties.reported.firmware, patch.firmware, 'reported value at the hub');
    assert.equal(afterPatch.properties.reported[`seen_${transport}`], true);
    assert.equal(afterPatch.properties.reported.$version, reportedBefore + 1, 'reported $version at the hub');
    // A null member deletes (JSON merge patch, §7.3).
    await within(new Promise((resolve, reject) =>
      twin.properties.reported.update({ [`seen_${transport}`]: null }, (err) => (err ? reject(err) : resolve()))),
    'reported update deleting a member');
    const afterDelete = await emu.restOk('GET', `/twins/${DEVICE}`);
    assert.ok(!(`seen_${transport}` in afterDelete.properties.reported), 'a reported member patched to null is gone');
    assert.deepEqual(afterDelete.properties.reported.firmware, patch.firmware, 'other reported members stay');
    assert.equal(afterDelete.properties.reported.$version, reportedBefore + 2, 'reported $version after the delete');
    log(`${tag} reported patch ok (reported $version ${afterDelete.properties.reported.$version})`);

    step('desired patch notification');
    const key = `setpoint_${transport}`;
    const gotDesired = within(new Promise((resolve) => {
      const check = () => {
        const hit = desiredEvents.find((d) => d && d[key] !== undefined);
        if (hit) {
          twin.removeListener('properties.desired', check);
          resolve(hit);
        }
      };
      twin.on('properties.desired', check);
      check();
    }), `the twin's 'properties.desired' event for ${key}`);
    const patched = await emu.restOk('PATCH', `/twins/${DEVICE}`, {
      body: { properties: { desired: { [key]: { value: 42, unit: 'C' } } } },
    });
    const delta = await gotDesired;
    assert.deepEqual(delta[key], { value: 42, unit: 'C' }, 'desired delta value');
    assert.equal(delta.$version, patched.properties.desired.$version, 'desired delta $version');
    assert.deepEqual(twin.properties.desired[key], { value: 42, unit: 'C' }, 'merged desired');
    log(`${tag} desired notification ok ($version ${delta.$version})`);

    // Direct method: connectTimeoutInSeconds lets the hub wait for the SDK's methods
    // subscription, which onDeviceMethod starts without a completion callback.
    step('direct method');
    const requests = [];
    client.onDeviceMethod('reboot', (request, response) => {
      requests.push(request);
      response.send(201, { rebooting: true, echo: request.payload, transport }, (err) => {
        if (err) clientErrors.push(err);
      });
    });
    const invoked = await emu.restOk('POST', `/twins/${DEVICE}/methods`, {
      body: { methodName: 'reboot', payload: { delay: 5 }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 },
    });
    assert.equal(requests.length, 1, 'onDeviceMethod calls');
    assert.equal(requests[0].methodName, 'reboot');
    assert.deepEqual(requests[0].payload, { delay: 5 }, 'method payload at the device');
    assert.deepEqual(invoked, { status: 201, payload: { rebooting: true, echo: { delay: 5 }, transport } },
                     'method result at the caller');
    log(`${tag} direct method ok (status ${invoked.status})`);

    // C2D: queued at the hub, delivered once the SDK subscribes (adding the 'message'
    // listener does that), completed by the SDK's PUBACK.
    step('C2D message');
    // A real application keeps its 'message' listener: over AMQP the SDK detaches the C2D link
    // when the last one goes, and a message can only be settled on the link that delivered it
    // (the emulator then abandons it: it comes back on the next link).
    const keepC2dLink = () => {};
    client.on('message', keepC2dLink);
    const c2dBody = `{"led":"on","transport":"${transport}"}`;
    const c2dId = `c2d-${transport}-1`;
    const received = nextEvent(client, 'message', (m) => m.messageId === c2dId, `C2D message ${c2dId}`);
    const sent = await emu.restOk('POST', `/_emulator/devices/${DEVICE}/messages/deviceBound`, {
      body: c2dBody,
      headers: {
        'Content-Type': 'application/json', 'iothub-messageid': c2dId, 'iothub-correlationid': `corr-${transport}`,
        'iothub-app-color': 'red', 'iothub-app-mode': 'fast',
      },
    });
    assert.equal(sent.messageId, c2dId);
    assert.equal(sent.queuedMessages, 1, 'queued C2D messages after the send');
    const [c2d] = await received;
    assert.equal(c2d.data.toString('utf8'), c2dBody, 'C2D body');
    assert.equal(c2d.correlationId, `corr-${transport}`, 'C2D correlation id');
    assert.equal(c2d.contentType, 'application/json', 'C2D content type');
    assert.equal(c2d.to, `/devices/${DEVICE}/messages/deviceBound`, 'C2D $.to');
    assert.equal(c2d.properties.getValue('color'), 'red', 'C2D property color');
    assert.equal(c2d.properties.getValue('mode'), 'fast', 'C2D property mode');
    await within(client.complete(c2d), 'client.complete');
    // Over MQTT, complete() resolves at once: mqtt.js sends the PUBACK (the completion, §6)
    // right after the 'message' handlers ran, so the hub sees it shortly after; wait for the
    // queue (cloudToDeviceMessageCount counts delivered-but-unacknowledged messages) to empty.
    await waitUntil(async () => (await emu.restOk('GET', `/devices/${DEVICE}`)).cloudToDeviceMessageCount === 0,
                    'cloudToDeviceMessageCount to drop to 0 after the SDK completed the message');
    log(`${tag} C2D ok (properties color=red mode=fast, completed)`);

    if (isAmqp(transport)) {
      step('C2D reject and abandon');
      await rejectAndAbandon(emu, client, transport, tag);
    }
    client.removeListener('message', keepC2dLink);

    assert.deepEqual(clientErrors.map(String), [], 'client error events');
  } catch (err) {
    if (err && typeof err === 'object' && !err.step) err.step = currentStep;
    throw err;
  } finally {
    currentStep = `${tag} close`;
    await within(client.close(), 'client.close').catch((err) => log(`${tag} close: ${err.message}`));
  }
  const after = await emu.restOk('GET', `/devices/${DEVICE}`);
  assert.equal(after.connectionState, 'Disconnected', 'GET /devices: connectionState after close');
}

// A module identity over AMQP (its links live under /devices/dev1/modules/m1): open, telemetry
// marked with the module id at the hub, reported properties in the module twin, a direct method
// on the module, close.
async function runModule(emu, transport) {
  const tag = `[${transport} module]`;
  currentStep = `${tag} create the module`;
  const created = await emu.restOk('PUT', `/devices/${DEVICE}/modules/m1`, { body: { deviceId: DEVICE, moduleId: 'm1' } });
  const key = created.authentication.symmetricKey.primaryKey;
  const port = transport === 'amqp' ? emu.ready.ports.amqps : emu.ready.ports.https;
  const base = `HostName=${emu.host};DeviceId=${DEVICE};ModuleId=m1;SharedAccessKey=${key}`;
  const agent = new EmulatorPortAgent(port, emu.ca);
  const client = transport === 'amqp'
    ? ModuleClient.fromConnectionString(`${base};GatewayHostName=localhost:${port}`, Amqp)
    : ModuleClient.fromConnectionString(base, AmqpWs);
  const options = transport === 'amqp' ? { ca: emu.ca } : { ca: emu.ca, amqp: { webSocketAgent: agent } };
  try {
    currentStep = `${tag} open`;
    await within(client.setOptions(options), 'ModuleClient.setOptions');
    await within(client.open(), 'ModuleClient.open');
    const identity = await emu.restOk('GET', `/devices/${DEVICE}/modules/m1`);
    assert.equal(identity.connectionState, 'Connected', 'the module is connected after open');

    currentStep = `${tag} telemetry`;
    const since = await lastSequenceNumber(emu);
    const msg = new Message('{"from":"m1"}');
    msg.messageId = `mid-${transport}-module`;
    await within(client.sendEvent(msg), 'ModuleClient.sendEvent');
    const { message: seen } = await waitForTelemetry(emu, since, msg.messageId);
    assert.equal(seen.moduleId, 'm1', 'telemetry names the module');
    assert.equal(seen.body, '{"from":"m1"}');

    currentStep = `${tag} twin`;
    const twin = await within(client.getTwin(), 'ModuleClient.getTwin');
    await within(new Promise((resolve, reject) =>
      twin.properties.reported.update({ moduleSeen: transport }, (err) => (err ? reject(err) : resolve()))), 'module reported update');
    const moduleTwin = await emu.restOk('GET', `/twins/${DEVICE}/modules/m1`);
    assert.equal(moduleTwin.properties.reported.moduleSeen, transport, 'module reported property at the hub');

    currentStep = `${tag} direct method`;
    client.onMethod('ping', (request, response) => response.send(200, { pong: request.payload }, () => {}));
    const invoked = await emu.restOk('POST', `/twins/${DEVICE}/modules/m1/methods`, {
      body: { methodName: 'ping', payload: 7, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 10 },
    });
    assert.deepEqual(invoked, { status: 200, payload: { pong: 7 } }, 'module method result at the caller');
    log(`${tag} open, telemetry, twin and method ok`);
  } finally {
    currentStep = `${tag} close`;
    await within(client.close(), 'ModuleClient.close').catch((err) => log(`${tag} close: ${err.message}`));
    await emu.restOk('DELETE', `/devices/${DEVICE}/modules/m1`, { headers: { 'If-Match': '*' } }, 204);
  }
}

// The HTTPS device API through azure-iot-device-http.
async function runHttp(emu) {
  const tag = '[http]';
  const agent = new EmulatorPortAgent(emu.ready.ports.https, emu.ca);
  const client = Client.fromConnectionString(emu.deviceConnectionString, Http);
  const clientErrors = [];
  client.on('error', (err) => clientErrors.push(err));
  const keep = () => {};
  try {
    currentStep = `${tag} setOptions and open`;
    await within(client.setOptions({ ca: emu.ca, http: { agent, receivePolicy: { interval: 0.2 } } }), 'setOptions');
    await within(client.open(), 'client.open');

    currentStep = `${tag} telemetry`;
    let since = await lastSequenceNumber(emu);
    const msg = new Message('{"over":"https"}');
    msg.messageId = 'mid-http-1';
    msg.correlationId = 'cid-http';
    msg.contentType = 'application/json';
    msg.contentEncoding = 'utf-8';
    msg.properties.add('alert', 'true');
    msg.properties.add('room', 'a&b=c/d%e');  // a header name: no spaces over HTTPS
    await within(client.sendEvent(msg), 'client.sendEvent');
    const { message: seen } = await waitForTelemetry(emu, since, msg.messageId);
    assert.equal(seen.body, '{"over":"https"}');
    assert.equal(seen.systemProperties.correlationId, 'cid-http');
    assert.equal(seen.systemProperties.contentType, 'application/json');
    assert.equal(seen.systemProperties.contentEncoding, 'utf-8');
    assert.deepEqual(seen.properties, { alert: 'true', room: 'a&b=c/d%e' }, 'application properties');
    assert.ok(agent.dialed >= 1, 'Http did not use the http.agent option');

    currentStep = `${tag} telemetry batch`;
    since = await lastSequenceNumber(emu);
    const batch = ['one', 'two', 'three'].map((body) => {
      const m = new Message(body);
      m.properties.add('n', body);
      return m;
    });
    await within(client.sendEventBatch(batch), 'client.sendEventBatch');
    const after = await emu.restOk('GET', `/_emulator/messages/events?device=${DEVICE}&since=${since}`);
    assert.deepEqual(after.messages.map((m) => [m.body, m.properties.n]), [['one', 'one'], ['two', 'two'], ['three', 'three']],
                     'the batch, in order, with its properties');
    log(`${tag} telemetry ok (one message and a batch of 3)`);

    currentStep = `${tag} C2D`;
    client.on('message', keep);
    const completeMe = await sendAndReceiveC2d(emu, client, 'c2d-http-complete', '{"led":"on"}',
                                               { 'iothub-ack': 'full', 'iothub-app-color': 'red', 'iothub-correlationid': 'corr-http' });
    assert.equal(completeMe.data.toString('utf8'), '{"led":"on"}');
    assert.equal(completeMe.correlationId, 'corr-http');
    assert.equal(completeMe.to, `/devices/${DEVICE}/messages/deviceBound`);
    // The SDK keeps the header's name: the property is 'iothub-app-color'.
    assert.equal(completeMe.properties.getValue('iothub-app-color'), 'red');
    assert.ok(completeMe.lockToken, 'the ETag became the lock token');
    await within(client.complete(completeMe), 'client.complete');
    await waitUntil(async () => (await emu.restOk('GET', `/devices/${DEVICE}`)).cloudToDeviceMessageCount === 0,
                    'the queue to empty after client.complete');
    log(`${tag} C2D complete ok`);
    await rejectAndAbandon(emu, client, 'http', tag);
    assert.deepEqual(clientErrors.map(String), [], 'client error events');
  } finally {
    client.removeListener('message', keep);
    currentStep = `${tag} close`;
    await within(client.close(), 'client.close').catch((err) => log(`${tag} close: ${err.message}`));
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const transports = process.argv.slice(2).length ? process.argv.slice(2) : TRANSPORTS;
  for (const t of transports) {
    if (!TRANSPORTS.includes(t)) {
      console.error(`device_sdk_interop: unknown transport '${t}' (${TRANSPORTS.join(', ')})`);
      return 2;
    }
  }
  if (!fs.existsSync(AZHUB)) {
    console.error(`device_sdk_interop: azhub binary not found at ${AZHUB} (set AZHUB_BIN)`);
    return 1;
  }
  const emu = new Emulator();
  const watchdog = setTimeout(() => {
    console.error(`device_sdk_interop: FAIL: the whole test exceeded ${TOTAL_TIMEOUT_MS} ms (at ${currentStep})`);
    if (emu.proc) emu.proc.kill('SIGKILL');
    process.exit(1);
  }, TOTAL_TIMEOUT_MS);
  // CTest's timeout (or Ctrl-C) must not leave the emulator running.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      console.error(`device_sdk_interop: FAIL: ${signal} at ${currentStep}`);
      if (emu.proc) emu.proc.kill('SIGKILL');
      process.exit(1);
    });
  }
  let status = 0;
  try {
    currentStep = 'start the emulator';
    await emu.start();
    log(`emulator ready: mqtts ${emu.ready.ports.mqtts}, https ${emu.ready.ports.https}, amqps ${emu.ready.ports.amqps}`);
    for (const t of transports) {
      if (t === 'http') {
        await runHttp(emu);
        continue;
      }
      await runTransport(emu, t);
      if (isAmqp(t)) await runModule(emu, t);
    }
  } catch (err) {
    status = 1;
    const where = (err && err.step) || currentStep;
    console.error(`device_sdk_interop: FAIL at ${where}: ${err && err.stack ? err.stack : err}`);
  } finally {
    const exit = await emu.stop();
    if (exit && exit.code !== 0 && status === 0) {
      status = 1;
      console.error(`device_sdk_interop: FAIL: azhub emulate exited with code ${exit.code}, signal ${exit.signal}`);
    }
    if ((status !== 0 || process.env.AZHUB_INTEROP_TRACE) && emu.stderr) {
      const lines = emu.stderr.split('\n');
      console.error('--- azhub emulate stderr ---\n' + lines.slice(status !== 0 ? -60 : 0).join('\n'));
    }
    clearTimeout(watchdog);
  }
  if (status === 0) log(`PASS (${transports.join(', ')})`);
  return status;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`device_sdk_interop: FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
