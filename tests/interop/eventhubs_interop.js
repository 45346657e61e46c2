#!/usr/bin/env node
// Interoperability of `azhub emulate`'s Event Hubs-compatible endpoint (docs/protocol.md §15.7)
// with Microsoft's official Event Hubs SDK (@azure/event-hubs, unmodified, pinned by
// package-lock.json) — the standard way cloud code reads IoT Hub telemetry.
//
// Pointing the SDK at the emulator: it dials {Endpoint host}:5671 through rhea, which calls
// Node's tls.connect; the test wraps tls.connect to dial the emulator's AMQP port on loopback,
// trusting its CA (service_sdk_harness.js routeAmqpTo). Nothing else is changed.
//
// Checked: EventHubConsumerClient from the ready line's eventHubsConnectionString —
// getPartitionIds, getEventHubProperties, getPartitionProperties (the device's partition holds
// its 3 messages, sequence numbers 0-2); subscribe from the earliest event: the 3 telemetry
// messages sent over MQTT by `azhub send`, with body, application properties and the hub's
// annotations (iothub-connection-device-id, ...); from sequence number 1 exclusive and
// inclusive; from the latest, then a new message arrives live. Then Microsoft's
// iothubConnectionString sample flow: SASL PLAIN to the IoT Hub host with the service policy,
// a receiver on messages/events/$management, the amqp:link:redirect answer naming the Event
// Hubs-compatible endpoint, and a consumer built from it reading the same events. A wrong key
// fails.
//
// Usage: AZHUB_BIN=/path/to/azhub node tests/interop/eventhubs_interop.js
'use strict';

const { assert, common, within, startEmulator, routeAmqpTo, runAzhub } = require('./service_sdk_harness');

let eventHubs;
let rheaPromise;
try {
  eventHubs = require('@azure/event-hubs');
  rheaPromise = require('rhea-promise');
} catch (err) {
  console.error('eventhubs_interop: @azure/event-hubs is not installed; run `npm ci --prefix tests/interop`: ' + err.message);
  process.exit(1);
}
const { EventHubConsumerClient, earliestEventPosition, latestEventPosition } = eventHubs;

async function sendTelemetry(emu, device, body, prop) {
  const got = await runAzhub(['send', body, '-c', device.connectionString, '--port', String(emu.ready.ports.mqtts),
                              '--ca-file', emu.ready.caFile, '--prop', prop]);
  assert.equal(got.code, 0, `azhub send exited ${got.code}: ${got.stderr}`);
}

// Events from one partition until `count` arrived.
function receive(client, partitionId, startPosition, count) {
  return within(new Promise((resolve, reject) => {
    const events = [];
    const subscription = client.subscribe(partitionId, {
      processEvents: async (batch) => {
        events.push(...batch);
        if (events.length >= count) {
          await subscription.close();
          resolve(events);
        }
      },
      processError: async (err) => {
        await subscription.close();
        reject(err);
      },
    }, { startPosition, maxBatchSize: 10, maxWaitTimeInSeconds: 1 });
  }), `${count} event(s) from partition ${partitionId}`);
}

// Microsoft's iothubConnectionString sample (@azure/event-hubs samples-dev), step by step:
// SASL PLAIN to the IoT hub, a receiver on messages/events/$management, and the redirect.
async function eventHubsFromIotHub(serviceConnectionString) {
  const cs = common.ConnectionString.parse(serviceConnectionString);
  const iotHubName = cs.HostName.split('.')[0];
  const expiry = Math.floor(Date.now() / 1000) + 3600;
  const token = common.SharedAccessSignature.create(`${cs.HostName}/messages/events`, cs.SharedAccessKeyName,
                                                    cs.SharedAccessKey, expiry).toString();
  const connection = new rheaPromise.Connection({
    transport: 'tls', host: cs.HostName, hostname: cs.HostName, port: 5671, reconnect: false,
    username: `${cs.SharedAccessKeyName}@sas.root.${iotHubName}`, password: token,
  });
  await connection.open();
  try {
    const receiver = await connection.createReceiver({
      source: { address: `amqps://${cs.HostName}/messages/events/$management` },
    });
    // As the sample: the hub's answer is the receiver's error, a redirect naming the endpoint.
    return await within(new Promise((resolve, reject) => {
      receiver.on(rheaPromise.ReceiverEvents.receiverError, (context) => {
        const error = context.receiver && context.receiver.error;
        if (error && error.condition === 'amqp:link:redirect' && error.info) {
          const match = /:\d+\/(.*)\/\$management/i.exec(error.info.address);
          if (!error.info.hostname || !match) return reject(error);
          return resolve(`Endpoint=sb://${error.info.hostname}/;EntityPath=${match[1]};` +
                         `SharedAccessKeyName=${cs.SharedAccessKeyName};SharedAccessKey=${cs.SharedAccessKey}`);
        }
        return reject(error);
      });
    }), 'the redirect from messages/events');
  } finally {
    await connection.close();
  }
}

async function main() {
  const emu = await startEmulator(['--device', 'dev1']);
  let failed = false;
  const clients = [];
  try {
    routeAmqpTo(emu.ready.ports, emu.ca);
    const device = emu.ready.devices.find((d) => d.deviceId === 'dev1');
    for (let i = 0; i < 3; i += 1) await sendTelemetry(emu, device, JSON.stringify({ n: i }), `k=v${i}`);

    const client = new EventHubConsumerClient('$Default', emu.ready.eventHubsConnectionString);
    clients.push(client);
    const ids = await within(client.getPartitionIds(), 'getPartitionIds');
    assert.deepEqual(ids, ['0', '1', '2', '3']);
    const props = await within(client.getEventHubProperties(), 'getEventHubProperties');
    assert.equal(props.name, emu.ready.hostName.split('.')[0]);
    assert.deepEqual(props.partitionIds, ids);
    let partition = null;
    for (const id of ids) {
      const p = await within(client.getPartitionProperties(id), `getPartitionProperties(${id})`);
      assert.equal(p.partitionId, id);
      if (!p.isEmpty) {
        assert.equal(partition, null, 'one device fills one partition');
        partition = p;
      }
    }
    assert.ok(partition, 'the device\'s partition holds its messages');
    assert.equal(partition.beginningSequenceNumber, 0);
    assert.equal(partition.lastEnqueuedSequenceNumber, 2);

    const events = await receive(client, partition.partitionId, earliestEventPosition, 3);
    assert.deepEqual(events.map((e) => e.body), [{ n: 0 }, { n: 1 }, { n: 2 }]);
    assert.deepEqual(events.map((e) => e.sequenceNumber), [0, 1, 2]);
    assert.deepEqual(events.map((e) => e.properties.k), ['v0', 'v1', 'v2']);
    for (const e of events) {
      assert.equal(e.systemProperties['iothub-connection-device-id'], 'dev1');
      assert.equal(e.systemProperties['iothub-message-source'], 'Telemetry');
      assert.ok(e.enqueuedTimeUtc instanceof Date && !Number.isNaN(e.enqueuedTimeUtc.getTime()));
      assert.equal(typeof e.offset, 'string');
    }

    const after1 = await receive(client, partition.partitionId, { sequenceNumber: 1 }, 1);
    assert.deepEqual(after1.map((e) => e.sequenceNumber), [2]);
    const from1 = await receive(client, partition.partitionId, { sequenceNumber: 1, isInclusive: true }, 2);
    assert.deepEqual(from1.map((e) => e.sequenceNumber), [1, 2]);

    const live = receive(client, partition.partitionId, latestEventPosition, 1);
    // The receiver attaches before the message is sent: wait for the link, then send.
    await new Promise((r) => setTimeout(r, 1500));
    await sendTelemetry(emu, device, '{"n":3}', 'k=v3');
    const liveEvents = await live;
    assert.deepEqual(liveEvents.map((e) => [e.sequenceNumber, e.body.n]), [[3, 3]]);

    const redirected = await eventHubsFromIotHub(emu.ready.serviceConnectionString);
    const viaHub = new EventHubConsumerClient('$Default', redirected);
    clients.push(viaHub);
    const again = await receive(viaHub, partition.partitionId, earliestEventPosition, 4);
    assert.deepEqual(again.map((e) => e.body.n), [0, 1, 2, 3]);

    const wrong = new EventHubConsumerClient('$Default',
      emu.ready.eventHubsConnectionString.replace(/SharedAccessKey=[^;]+/, 'SharedAccessKey=' + 'A'.repeat(43) + '='),
      { retryOptions: { maxRetries: 0 } });
    clients.push(wrong);
    await assert.rejects(within(wrong.getPartitionIds(), 'getPartitionIds with a wrong key'));
    console.log('interop.eventhubs: all scenarios passed');
  } catch (err) {
    failed = true;
    console.error('interop.eventhubs: FAILED:', err && err.stack ? err.stack : err);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    emu.proc.kill('SIGTERM');
    await emu.exited;
  }
  process.exit(failed ? 1 : 0);
}

main();
