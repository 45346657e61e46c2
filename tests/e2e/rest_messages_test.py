"""The emulator-only message paths and the C2D queue purge, end to end: C2D send delivered to a
raw MQTT device with its properties, queue depth and size limits, purge, the D2C query and the
server-sent-event stream fed by a raw MQTT publisher, including a stalled stream reader that
must not hold up anyone else (emulator/README.md)."""

import base64
import http.client
import json
import os
import socket
import queue
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, client_ssl_context  # noqa: E402

EMU = None
C2D = "devices/%s/messages/devicebound/#"


def setUpModule():
    global EMU
    EMU = Emulator(devices=["c2d1", "c2d2", "full1", "d2c1", "d2c2", "sse1", "sse2",
                            "bulk1"]).start()


def tearDownModule():
    EMU.stop()


def send_c2d(device_id, body, headers=None):
    """POST /_emulator/devices/{id}/messages/deviceBound with the body as is."""
    return EMU.rest("POST", "/_emulator/devices/%s/messages/deviceBound"
                    % urllib.parse.quote(device_id, safe=""), raw=body, headers=headers or {})


def error_of(result):
    status, headers, body = result
    inner = json.loads(body["Message"])
    return status, headers["iothub-errorcode"], inner["errorCode"]


def parse_bag(topic, device):
    prefix = "devices/%s/messages/devicebound/" % device
    assert topic.startswith(prefix), topic
    bag = {}
    for part in filter(None, topic[len(prefix):].split("&")):
        k, _, v = part.partition("=")
        bag[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return bag


class SseStream:
    """A raw server-sent-event reader over TLS (http.client decodes the chunking)."""

    def __init__(self, query="", rcvbuf=None):
        raw = socket.create_connection(("127.0.0.1", EMU.ports["https"]), timeout=15)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.conn = http.client.HTTPSConnection("localhost", EMU.ports["https"], timeout=15,
                                                context=client_ssl_context(EMU.ca_file))
        self.conn.sock = client_ssl_context(EMU.ca_file).wrap_socket(
            raw, server_hostname="localhost")
        self.conn.request("GET", "/_emulator/messages/events/stream" + query,
                          headers={"Authorization": EMU.service_token(),
                                   "Accept": "text/event-stream"})
        self.resp = None
        self.comments = []

    def start(self):
        """Waits for the response head and the ': subscribed' comment."""
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.read()
        line = self.resp.readline().decode()
        assert line.startswith(": subscribed"), line
        self.resp.readline()
        return self

    def next_event(self):
        """(id, data dict) of the next event; comments are collected in self.comments."""
        event_id, data = None, None
        while True:
            line = self.resp.readline()
            if not line:
                raise EOFError("stream ended")
            line = line.decode().rstrip("\n")
            if line == "":
                if data is not None:
                    return event_id, json.loads(data)
                continue
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = line[6:]

    def close(self):
        self.conn.close()


class C2dSend(unittest.TestCase):
    def test_send_with_properties_reaches_device(self):
        c = EMU.connect_device("c2d1")
        c.subscribe([(C2D % "c2d1", 1)])
        status, headers, body = send_c2d(
            "c2d1", b'{"led":"on"}',
            headers={"Content-Type": "application/json", "Content-Encoding": "utf-8",
                     "iothub-messageid": "m-1", "iothub-correlationid": "corr 1",
                     "iothub-ack": "full", "iothub-app-color": "red",
                     "iothub-app-Temp-Alert": "yes"})
        self.assertEqual(status, 200, body)
        self.assertIn("x-ms-request-id", headers)
        self.assertEqual(body["deviceId"], "c2d1")
        self.assertEqual(body["messageId"], "m-1")
        self.assertTrue(body["expiryTimeUtc"].endswith("Z"))
        p = c.read_publish()
        self.assertEqual(p.payload, b'{"led":"on"}')
        bag = parse_bag(p.topic, "c2d1")
        self.assertEqual(bag["$.mid"], "m-1")
        self.assertEqual(bag["$.cid"], "corr 1")
        self.assertEqual(bag["$.ct"], "application/json")
        self.assertEqual(bag["$.ce"], "utf-8")
        self.assertEqual(bag["$.to"], "/devices/c2d1/messages/deviceBound")
        self.assertEqual(bag["iothub-ack"], "full")
        self.assertEqual(bag["color"], "red")
        self.assertEqual(bag["Temp-Alert"], "yes")
        c.puback(p.packet_id)

        # Binary body, generated message id, explicit expiry.
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
        status, _, body = send_c2d("c2d1", bytes(range(256)), {"iothub-expiry": expiry})
        self.assertEqual(status, 200, body)
        self.assertTrue(body["messageId"])
        p = c.read_publish()
        self.assertEqual(p.payload, bytes(range(256)))
        bag = parse_bag(p.topic, "c2d1")
        self.assertEqual(bag["$.mid"], body["messageId"])
        self.assertEqual(bag["$.exp"].replace(".000Z", "Z"), expiry)
        self.assertNotIn("$.ct", bag)
        c.puback(p.packet_id)
        c.disconnect()

    def test_queue_depth_and_purge(self):
        for i in range(50):
            status, _, body = send_c2d("full1", "m%d" % i)
            self.assertEqual(status, 200, body)
        self.assertEqual(error_of(send_c2d("full1", "one too many")),
                         (403, "DeviceMaximumQueueDepthExceeded", 403004))
        status, _, dev = EMU.rest("GET", "/devices/full1")
        self.assertEqual(dev["cloudToDeviceMessageCount"], 50)
        status, headers, body = EMU.rest("DELETE", "/devices/full1/commands")
        self.assertEqual(status, 200, body)
        self.assertIn("x-ms-request-id", headers)
        self.assertEqual(body, {"deviceId": "full1", "totalMessagesPurged": 50})
        status, _, body = EMU.rest("DELETE", "/devices/full1/commands")
        self.assertEqual(body["totalMessagesPurged"], 0)
        # Room again; the purged messages never reach the device.
        self.assertEqual(send_c2d("full1", "after purge")[0], 200)
        c = EMU.connect_device("full1")
        c.subscribe([(C2D % "full1", 1)])
        p = c.read_publish()
        self.assertEqual(p.payload, b"after purge")
        c.puback(p.packet_id)
        c.expect_no_packet(0.3)
        c.disconnect()
        self.assertEqual(error_of(EMU.rest("DELETE", "/devices/nodev/commands")),
                         (404, "DeviceNotFound", 404001))

    def test_refusals(self):
        self.assertEqual(error_of(send_c2d("nodev", "x")), (404, "DeviceNotFound", 404001))
        self.assertEqual(error_of(send_c2d("c2d2", b"x" * (64 * 1024 + 1))),
                         (413, "MessageTooLarge", 413001))
        self.assertEqual(send_c2d("c2d2", b"x" * (60 * 1024))[0], 200)
        self.assertEqual(error_of(send_c2d("c2d2", "x", {"iothub-ack": "always"})),
                         (400, "ArgumentInvalid", 400004))
        self.assertEqual(error_of(send_c2d("c2d2", "x", {"iothub-expiry": "yesterday"})),
                         (400, "ArgumentInvalid", 400004))
        self.assertEqual(error_of(send_c2d("c2d2", "x", {"iothub-expiry": "2001-01-01T00:00:00Z"})),
                         (400, "ArgumentInvalid", 400004))
        status, headers, _ = EMU.rest("GET", "/_emulator/devices/c2d2/messages/deviceBound")
        self.assertEqual(status, 405)
        # ServiceConnect is required like everywhere else.
        status, headers, body = EMU.rest("POST", "/_emulator/devices/c2d2/messages/deviceBound",
                                         raw=b"x", token="SharedAccessSignature sr=x&sig=y&se=1")
        self.assertEqual(status, 401)


class D2cQuery(unittest.TestCase):
    def test_query_since_device_limit(self):
        start = EMU.rest("GET", "/_emulator/messages/events?limit=1000")[2]["lastSequenceNumber"]
        a = EMU.connect_device("d2c1")
        b = EMU.connect_device("d2c2")
        a.publish("devices/d2c1/messages/events/%24.ct=application%2Fjson&%24.mid=q1&k=v&flag",
                  b'{"n":1}', qos=1)
        b.publish("devices/d2c2/messages/events/", b"\xff\xfe", qos=1)
        a.publish("devices/d2c1/messages/events/", b"third", qos=1)
        status, headers, body = EMU.rest("GET", "/_emulator/messages/events?since=%d" % start)
        self.assertEqual(status, 200, body)
        self.assertIn("x-ms-request-id", headers)
        msgs = body["messages"]
        self.assertEqual([m["deviceId"] for m in msgs], ["d2c1", "d2c2", "d2c1"])
        seqs = [m["sequenceNumber"] for m in msgs]
        self.assertEqual(seqs, list(range(start + 1, start + 4)))
        self.assertEqual(body["lastSequenceNumber"], start + 3)
        first = msgs[0]
        self.assertEqual(first["body"], '{"n":1}')
        self.assertEqual(first["bodyEncoding"], "utf-8")
        self.assertIsNone(first["moduleId"])
        self.assertEqual(first["systemProperties"]["contentType"], "application/json")
        self.assertEqual(first["systemProperties"]["messageId"], "q1")
        self.assertEqual(first["properties"], {"k": "v", "flag": None})
        self.assertTrue(first["enqueuedTime"].endswith("Z"))
        self.assertEqual(msgs[1]["bodyEncoding"], "base64")
        self.assertEqual(base64.b64decode(msgs[1]["body"]), b"\xff\xfe")

        body = EMU.rest("GET", "/_emulator/messages/events?since=%d&device=d2c1" % start)[2]
        self.assertEqual([m["body"] for m in body["messages"]], ['{"n":1}', "third"])
        body = EMU.rest("GET", "/_emulator/messages/events?since=%d&deviceId=d2c1&limit=1"
                        % start)[2]
        self.assertEqual([m["body"] for m in body["messages"]], ['{"n":1}'])
        self.assertEqual(body["lastSequenceNumber"], start + 1)
        body = EMU.rest("GET", "/_emulator/messages/events?from=%d" % (start + 3))[2]
        self.assertEqual([m["sequenceNumber"] for m in body["messages"]], [start + 3])
        body = EMU.rest("GET", "/_emulator/messages/events?since=%d" % (start + 3))[2]
        self.assertEqual(body, {"messages": [], "lastSequenceNumber": start + 3})
        for bad in ("since=x", "limit=0", "limit=1001"):
            self.assertEqual(error_of(EMU.rest("GET", "/_emulator/messages/events?" + bad)),
                             (400, "ArgumentInvalid", 400004))
        a.disconnect()
        b.disconnect()


class D2cStream(unittest.TestCase):
    def test_stream_delivers_live_messages(self):
        s = SseStream("?device=sse1&keepAlive=1").start()
        self.assertEqual(s.resp.getheader("Content-Type").split(";")[0], "text/event-stream")
        self.assertIsNotNone(s.resp.getheader("x-ms-request-id"))
        c = EMU.connect_device("sse1")
        other = EMU.connect_device("sse2")
        other.publish("devices/sse2/messages/events/", b"not for this stream", qos=1)
        for i in range(3):
            c.publish("devices/sse1/messages/events/n=%d" % i, ("live %d" % i).encode(), qos=1)
        got = [s.next_event() for _ in range(3)]
        self.assertEqual([d["body"] for _, d in got], ["live 0", "live 1", "live 2"])
        self.assertEqual([d["properties"]["n"] for _, d in got], ["0", "1", "2"])
        self.assertEqual([i for i, _ in got], [d["sequenceNumber"] for _, d in got])
        self.assertTrue(all(d["deviceId"] == "sse1" for _, d in got))
        # Idle: a keep-alive comment (every second here) arrives; the socket timeout bounds
        # the wait.
        while True:
            line = s.resp.readline().decode()
            self.assertTrue(line, "stream ended")
            if line.startswith(": keep-alive"):
                break
        s.close()
        c.disconnect()
        other.disconnect()

    def test_stream_replays_since(self):
        c = EMU.connect_device("sse1")
        c.publish("devices/sse1/messages/events/", b"before-1", qos=1)
        c.publish("devices/sse1/messages/events/", b"before-2", qos=1)
        body = EMU.rest("GET", "/_emulator/messages/events?device=sse1&limit=1000")[2]
        last = body["lastSequenceNumber"]
        s = SseStream("?device=sse1&since=%d" % (last - 1)).start()
        _, d = s.next_event()
        self.assertEqual((d["sequenceNumber"], d["body"]), (last, "before-2"))
        c.publish("devices/sse1/messages/events/", b"after", qos=1)
        _, d = s.next_event()
        self.assertEqual(d["body"], "after")
        s.close()
        c.disconnect()

    def test_stalled_reader_does_not_hold_up_others(self):
        # One stream stops reading after its first line (tiny receive buffer); another reads
        # everything. 100 messages of 200 KB (20 MB) exceed what the stalled client's socket and the server's 8 MiB stream
        # buffer can hold, so the server must end the stalled stream rather than block or grow.
        stalled = SseStream("?device=bulk1", rcvbuf=4096).start()
        live = SseStream("?device=bulk1").start()
        c = EMU.connect_device("bulk1")
        payload = b"z" * (200 * 1024)
        count = 100
        received = queue.Queue()

        def read_live():
            try:
                for _ in range(count):
                    received.put(live.next_event()[1])
            except Exception as e:  # noqa: BLE001 - handed to the test thread
                received.put(e)

        reader = threading.Thread(target=read_live, daemon=True)
        reader.start()
        for i in range(count):
            c.publish("devices/bulk1/messages/events/i=%d" % i, payload, qos=1)
        for i in range(count):
            d = received.get(timeout=60)
            self.assertNotIsInstance(d, Exception)
            self.assertEqual(d["properties"]["i"], str(i))
        reader.join(timeout=10)
        # The hub still answers promptly.
        status, _, _ = EMU.rest("GET", "/_emulator/health", timeout=5)
        self.assertEqual(status, 200)
        # The stalled stream was ended rather than buffered without bound.
        line = EMU.wait_for_log("the client is not reading", timeout=30)
        self.assertIn("D2C stream", line)
        stalled.close()
        live.close()
        c.disconnect()

    def test_stream_needs_service_connect(self):
        status, _, body = EMU.rest("GET", "/_emulator/messages/events/stream",
                                   token="SharedAccessSignature sr=x&sig=y&se=1")
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body["Message"])["errorCode"], 401002)


if __name__ == "__main__":
    unittest.main(verbosity=2)
