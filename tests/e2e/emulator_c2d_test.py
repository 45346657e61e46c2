"""azhub emulate: cloud-to-device messages over MQTT (docs/protocol.md §5.3, §6): delivery
with the property bag, completion by PUBACK, redelivery after reconnect, QoS 0, expiry."""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator  # noqa: E402

EMU = None
C2D = "devices/%s/messages/devicebound/#"


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2", "dev3", "dev4", "dev5"]).start()


def tearDownModule():
    EMU.stop()


def queued(device):
    status, _, dev = EMU.rest("GET", "/devices/" + device)
    assert status == 200, dev
    return dev["cloudToDeviceMessageCount"]


def send(device, body, **kw):
    status, _, out = EMU.c2d_send(device, body, **kw)
    assert status == 200, (status, out)
    return out


class C2dTest(unittest.TestCase):
    def test_delivery_with_property_bag_and_completion(self):
        send("dev1", b"hello", message_id="m1", correlation_id="c1", content_type="text/plain",
             properties={"color": "red blue"}, ack="full")
        self.assertEqual(queued("dev1"), 1)
        c = EMU.connect_device("dev1", clean_session=True)
        c.subscribe([(C2D % "dev1", 1)])
        p = c.read_publish()
        self.assertEqual(p.topic, "devices/dev1/messages/devicebound/%24.mid=m1&%24.to=%2Fdevices%2Fdev1"
                                  "%2Fmessages%2FdeviceBound&%24.cid=c1&%24.ct=text%2Fplain&iothub-ack=full"
                                  "&color=red%20blue")
        self.assertEqual(p.payload, b"hello")
        self.assertEqual(p.qos, 1)
        self.assertFalse(p.dup)
        c.puback(p.packet_id)
        c.ping()  # the PUBACK was processed before the PINGRESP
        self.assertEqual(queued("dev1"), 0)
        c.disconnect()

    def test_live_delivery_and_in_order_completion(self):
        c = EMU.connect_device("dev2", clean_session=True)
        c.subscribe([(C2D % "dev2", 1)])
        for i in range(3):
            send("dev2", ("m%d" % i).encode())
        got = [c.read_publish() for _ in range(3)]
        self.assertEqual([p.payload for p in got], [b"m0", b"m1", b"m2"])
        for p in got:
            c.puback(p.packet_id)
        c.ping()
        self.assertEqual(queued("dev2"), 0)
        c.disconnect()

    def test_redelivered_after_reconnect_when_not_acknowledged(self):
        c = EMU.connect_device("dev3", clean_session=False)
        c.subscribe([(C2D % "dev3", 1)])
        send("dev3", b"important", message_id="keep")
        first = c.read_publish()
        self.assertFalse(first.dup)
        c.close()  # no PUBACK, no DISCONNECT
        c = EMU.connect_device("dev3", clean_session=False)
        self.assertTrue(c.connack.session_present)
        again = c.read_publish()  # the stored subscription delivers without a new SUBSCRIBE
        self.assertEqual(again.payload, b"important")
        self.assertIn("%24.mid=keep", again.topic)
        self.assertTrue(again.dup)
        c.puback(again.packet_id)
        c.ping()
        self.assertEqual(queued("dev3"), 0)
        c.disconnect()

    def test_clean_session_needs_a_new_subscribe(self):
        c = EMU.connect_device("dev4", clean_session=False)
        c.subscribe([(C2D % "dev4", 1)])
        c.disconnect()
        send("dev4", b"waiting")
        c = EMU.connect_device("dev4", clean_session=True)
        self.assertFalse(c.connack.session_present)
        c.expect_no_packet(0.5)
        c.subscribe([(C2D % "dev4", 1)])
        p = c.read_publish()
        self.assertEqual(p.payload, b"waiting")
        c.puback(p.packet_id)
        c.disconnect()

    def test_qos0_subscriber_completes_at_send(self):
        c = EMU.connect_device("dev5", clean_session=True)
        c.subscribe([("devices/+/messages/devicebound/#", 0)])
        send("dev5", b"fire and forget")
        p = c.read_publish()
        self.assertEqual(p.qos, 0)
        self.assertIsNone(p.packet_id)
        self.assertEqual(queued("dev5"), 0)
        c.disconnect()

    def test_expired_message_is_not_delivered(self):
        soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1))
        send("dev5", b"stale", expiry=soon.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        send("dev5", b"fresh")
        self.assertEqual(queued("dev5"), 2)
        # Wait for the first expiry (polling the registry, bounded).
        import time
        deadline = time.monotonic() + 10
        while queued("dev5") != 1:
            self.assertLess(time.monotonic(), deadline, "message never expired")
            time.sleep(0.1)
        c = EMU.connect_device("dev5", clean_session=True)
        c.subscribe([(C2D % "dev5", 1)])
        p = c.read_publish()
        self.assertEqual(p.payload, b"fresh")
        c.puback(p.packet_id)
        c.expect_no_packet(0.3)
        c.disconnect()

    def test_queue_limit_and_purge(self):
        for i in range(50):
            send("dev4", b"x")
        status, headers, body = EMU.c2d_send("dev4", b"one too many")
        self.assertEqual(status, 403, body)
        self.assertEqual(headers.get("iothub-errorcode"), "DeviceMaximumQueueDepthExceeded")
        status, _, body = EMU.rest("DELETE", "/devices/dev4/commands")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["totalMessagesPurged"], 50)
        self.assertEqual(queued("dev4"), 0)

    def test_module_cannot_subscribe_to_c2d(self):
        mod = EMU.create_device("dev1", "m1")
        c = EMU.connect_device("dev1", module_id="m1", key=mod["authentication"]["symmetricKey"]["primaryKey"])
        c.send_raw(b"\x82" + bytes([2 + 2 + len(C2D % "dev1") + 1]) + b"\x00\x01"
                   + len(C2D % "dev1").to_bytes(2, "big") + (C2D % "dev1").encode() + b"\x01")
        self.assertEqual(c.expect_closed(), [])


if __name__ == "__main__":
    unittest.main()
