#!/usr/bin/env node
// Interoperability of `azhub emulate`'s AMQP listener with Microsoft's official Node.js service
// SDK (azure-iothub, unmodified, pinned by package-lock.json): Client.send and
// getFeedbackReceiver over AMQPS (port 5671) and over AMQP on WebSockets (AmqpWs, port 443,
// /$iothub/websocket), checked at the hub and by an MQTT device (`azhub listen`).
//
// Pointing the SDK at the emulator: the SDK dials {HostName}:5671 (Amqp) or {HostName}:443
// (AmqpWs) through rhea, which calls Node's tls.connect. The test wraps tls.connect to dial the
// emulator's ports on loopback, trusting the emulator's CA (service_sdk_harness.js
// routeAmqpTo); the SDK, its CBS exchange, its messages and its error mapping are untouched.
//
// Checked, per transport: open() (the put-token on $cbs answered 200); a C2D message with
// messageId, ack=full and an application property, received and completed (PUBACK) by an MQTT
// device, which prints the body and the properties as sent; the hub's queue then empty; the
// Success feedback record for that message id read back through getFeedbackReceiver; a send
// to an unknown device → DeviceNotFoundError; a 65 KB body → MessageTooLargeError; the 51st
// message to a device → DeviceMaximumQueueDepthExceededError. Once: a wrong key makes open()
// fail (the put-token is answered 401).
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/service_sdk_amqp_interop.js
'use strict';

const { assert, iothub, common, errors, within, startEmulator, routeHttpsTo, routeAmqpTo, runAzhub, hubGet, call,
        expectError } = require('./service_sdk_harness');

const { Message } = common;

function feedbackFor(receiver, messageId) {
  return within(new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      try {
        assert.equal(msg.contentType, 'application/vnd.microsoft.iothub.feedback.json');
        const records = JSON.parse(msg.getData().toString());
        assert.ok(Array.isArray(records), 'the feedback body is a JSON array');
        const record = records.find((r) => r.originalMessageId === messageId);
        if (!record) return;  // feedback of an earlier message
        receiver.removeListener('message', onMessage);
        resolve(record);
      } catch (err) {
        reject(err);
      }
    };
    receiver.on('message', onMessage);
    receiver.on('errorReceived', reject);
  }), `the feedback record for ${messageId}`);
}

async function scenario(emu, transportName, Transport, device) {
  const cs = emu.ready.serviceConnectionString;
  const client = Transport ? iothub.Client.fromConnectionString(cs, Transport) : iothub.Client.fromConnectionString(cs);
  await call(`${transportName}: Client.open`, (cb) => client.open(cb));
  try {
    const receiver = await call(`${transportName}: getFeedbackReceiver`, (cb) => client.getFeedbackReceiver(cb));

    // An MQTT device waiting for one message; it completes it with its PUBACK.
    const messageId = `${transportName}-m1`;
    const listen = runAzhub(['-o', 'json', 'listen', '-c', device.connectionString, '--port', String(emu.ready.ports.mqtts),
                             '--ca-file', emu.ready.caFile, '--count', '1', '--timeout', '20s']);
    const feedback = feedbackFor(receiver, messageId);
    // The device must be subscribed before the hub can deliver; the message waits in the
    // queue otherwise, so the order does not matter for the result.
    const message = new Message(`hello over ${transportName}`);
    message.messageId = messageId;
    message.ack = 'full';
    message.properties.add('color', 'blue');
    const sent = await call(`${transportName}: Client.send`, (cb) => client.send(device.deviceId, message, cb));
    assert.equal(sent.constructor.name, 'MessageEnqueued');

    const got = await listen;
    assert.equal(got.code, 0, `azhub listen exited ${got.code}: ${got.stderr}`);
    const printed = JSON.parse(got.stdout.trim().split('\n')[0]);
    assert.equal(printed.body, `hello over ${transportName}`);
    assert.equal(printed.systemProperties.messageId, messageId);
    assert.equal(printed.properties.color, 'blue');

    const record = await feedback;
    assert.equal(record.statusCode, 'Success');
    assert.equal(record.deviceId, device.deviceId);
    assert.ok(record.deviceGenerationId, 'the record names the device generation');
    assert.ok(!Number.isNaN(Date.parse(record.enqueuedTimeUtc)), 'enqueuedTimeUtc is a time');

    const atHub = await hubGet(emu, `/twins/${device.deviceId}`);
    assert.equal(atHub.status, 200);
    assert.equal(atHub.body.cloudToDeviceMessageCount, 0, 'the device completed the message');

    const unknown = await expectError(`${transportName}: send to an unknown device`,
                                      call('send', (cb) => client.send('no-such-device', new Message('x'), cb)),
                                      errors.DeviceNotFoundError);
    assert.equal(unknown.amqpError.condition, 'amqp:not-found');
    await expectError(`${transportName}: send a 65 KB body`,
                      call('send', (cb) => client.send(device.deviceId, new Message('x'.repeat(65 * 1024)), cb)),
                      errors.MessageTooLargeError);
  } finally {
    await call(`${transportName}: Client.close`, (cb) => client.close(cb));
  }
}

async function queueDepth(emu) {
  const client = iothub.Client.fromConnectionString(emu.ready.serviceConnectionString);
  await call('Client.open', (cb) => client.open(cb));
  try {
    for (let i = 0; i < 50; i += 1) {
      await call(`send ${i + 1}`, (cb) => client.send('full', new Message(`m${i}`), cb));
    }
    const atHub = await hubGet(emu, '/twins/full');
    assert.equal(atHub.body.cloudToDeviceMessageCount, 50);
    const err = await expectError('the 51st message', call('send 51', (cb) => client.send('full', new Message('m50'), cb)),
                                  errors.DeviceMaximumQueueDepthExceededError);
    assert.equal(err.amqpError.condition, 'amqp:resource-limit-exceeded');
  } finally {
    await call('Client.close', (cb) => client.close(cb));
  }
}

async function wrongKey(emu) {
  const cs = emu.ready.serviceConnectionString.replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  const client = iothub.Client.fromConnectionString(cs);
  let failed = false;
  try {
    await call('Client.open with a wrong key', (cb) => client.open(cb));
  } catch (err) {
    failed = true;
    const cause = err.amqpError || err;
    assert.match(String(cause.message || cause), /signature|Unauthorized|connect/i);
  }
  assert.ok(failed, 'open() with a wrong key must fail');
}

async function main() {
  const emu = await startEmulator(['--device', 'dev1', '--device', 'full']);
  let failed = false;
  try {
    routeHttpsTo(emu.ready.ports.https, emu.ca);
    routeAmqpTo(emu.ready.ports, emu.ca);
    const device = emu.ready.devices.find((d) => d.deviceId === 'dev1');
    await scenario(emu, 'Amqp', null, device);
    await scenario(emu, 'AmqpWs', iothub.AmqpWs, device);
    await queueDepth(emu);
    await wrongKey(emu);
    console.log('interop.service_sdk_amqp: all scenarios passed');
  } catch (err) {
    failed = true;
    console.error('interop.service_sdk_amqp: FAILED:', err && err.stack ? err.stack : err);
  } finally {
    emu.proc.kill('SIGTERM');
    await emu.exited;
  }
  process.exit(failed ? 1 : 0);
}

main();
