// What the service SDK interop tests share (service_sdk_interop.js, service_sdk_query_interop.js,
// service_sdk_jobs_interop.js, ...): loading Microsoft's SDK, starting `azhub emulate`, pointing
// the SDK's HTTPS at it, raw REST requests to check results at the hub, and promise helpers
// around the SDK's callback API.
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
  console.error(`${path.basename(require.main.filename, '.js')}: the Azure IoT Node.js service SDK is not installed; run ` +
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

async function startEmulator(extraArgs = []) {
  const proc = childProcess.spawn(AZHUB, ['-o', 'json', 'emulate', '--in-memory', '--mqtt-port', '0',
                                          '--https-port', '0', '--amqp-port', '0', ...extraArgs],
                                  { stdio: ['ignore', 'pipe', 'inherit'] });
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

// Every TLS connection rhea (the SDK's AMQP library) opens goes to the emulator: port 5671
// (AMQPS) to its AMQP port, port 443 (AMQP over WebSockets) to its HTTPS port, on loopback,
// trusting the emulator's CA. Host name checks still apply (the certificate names localhost).
function routeAmqpTo(ports, ca) {
  const connect = tls.connect;
  tls.connect = (...args) => {
    let options = {};
    if (typeof args[0] === 'object') {
      options = { ...args[0] };
    } else {
      options = { ...(typeof args[2] === 'object' ? args[2] : {}), port: args[0], host: args[1] };
    }
    const callback = args.find((a) => typeof a === 'function');
    const port = Number(options.port);
    if (port === 5671) options.port = ports.amqps;
    if (port === 443) options.port = ports.https;
    if (port === 5671 || port === 443) {
      options.servername = options.servername || options.host || 'localhost';
      options.host = '127.0.0.1';
      options.ca = ca;
    }
    return callback ? connect(options, callback) : connect(options);
  };
}

// Runs `azhub` with `args`; resolves with {code, stdout, stderr}.
function runAzhub(args, options = {}) {
  return within(new Promise((resolve, reject) => {
    const child = childProcess.execFile(AZHUB, args, { ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    child.on('error', reject);
  }), `azhub ${args.join(' ')}`, options.timeoutMs || STEP_TIMEOUT_MS);
}

// The hub's view, without the SDK: a request on the REST API with the owner policy's SAS token;
// resolves with {status, headers, body (parsed JSON, or null when empty)}.
function hubRequest(emu, method, target, body) {
  const cs = common.ConnectionString.parse(emu.ready.serviceConnectionString);
  const expiry = Math.floor(Date.now() / 1000) + 600;
  const sas = common.SharedAccessSignature.create(cs.HostName, cs.SharedAccessKeyName, cs.SharedAccessKey, expiry);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = { Authorization: sas.toString() };
  if (payload !== undefined) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    headers['Content-Length'] = payload.length;
  }
  const sep = target.includes('?') ? '&' : '?';
  return within(new Promise((resolve, reject) => {
    const req = https.request({ host: cs.HostName, method, path: `${target}${sep}api-version=2021-04-12`, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  }), `${method} ${target}`);
}

function hubGet(emu, target) {
  return hubRequest(emu, 'GET', target);
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

module.exports = { assert, iothub, common, errors, within, startEmulator, routeHttpsTo, routeAmqpTo, runAzhub, hubGet, hubRequest, call,
                   expectError, AZHUB };
