"""azhub emulate: what a connected device may publish and subscribe to (docs/protocol.md
§2.4, §2.5, §4, §5, §11), checked at the packet level and through the D2C capture."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, encode_publish  # noqa: E402

EMU = None


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2"]).start()


def tearDownModule():
    EMU.stop()


class TelemetryTest(unittest.TestCase):
    def test_telemetry_with_properties_is_captured(self):
        since = EMU.events()[-1]["sequenceNumber"] if EMU.events() else 0
        c = EMU.connect_device("dev1")
        ack = c.publish("devices/dev1/messages/events/%24.mid=m-1&%24.ct=application%2Fjson"
                        "&%24.ce=utf-8&temp%20alert=true&empty=&flag", b'{"t":21}', qos=1)
        self.assertEqual(ack.raw, b"\x40\x02" + ack.packet_id.to_bytes(2, "big"))
        c.publish("devices/dev1/messages/events/", b"qos0", qos=0)
        c.publish("devices/dev1/messages/events", b"no slash", qos=1)
        got = EMU.wait_for_events(3, since=since, device_id="dev1")
        first = got[0]
        self.assertEqual(first["deviceId"], "dev1")
        self.assertIsNone(first["moduleId"])
        self.assertEqual(first["body"], '{"t":21}')
        self.assertEqual(first["systemProperties"]["messageId"], "m-1")
        self.assertEqual(first["systemProperties"]["contentType"], "application/json")
        self.assertEqual(first["properties"], {"temp alert": "true", "empty": "", "flag": None})
        self.assertEqual([m["body"] for m in got[1:3]], ["qos0", "no slash"])
        self.assertLess(first["sequenceNumber"], got[1]["sequenceNumber"])
        c.disconnect()

    def test_retain_becomes_mqtt_retain_property(self):
        c = EMU.connect_device("dev1")
        since = EMU.events()[-1]["sequenceNumber"] if EMU.events() else 0
        c.publish("devices/dev1/messages/events/a=b", b"retained", qos=1, retain=True)
        got = EMU.events(since, "dev1")
        self.assertEqual(got[-1]["properties"], {"a": "b", "mqtt-retain": "true"})
        c.disconnect()

    def test_another_devices_topic_closes_the_connection(self):
        c = EMU.connect_device("dev1")
        before = len(EMU.events(0, "dev2"))
        c.send_raw(encode_publish("devices/dev2/messages/events/", b"spoof", qos=1, packet_id=1))
        c.expect_closed()
        self.assertEqual(len(EMU.events(0, "dev2")), before)

    def test_unknown_topic_closes(self):
        for topic in ("foo/bar", "devices/dev1/messages/devicebound/", "$iothub/twin/PUT/?$rid=1",
                      "$iothub/methods/POST/x/?$rid=1"):
            c = EMU.connect_device("dev1")
            c.send_raw(encode_publish(topic, b"x", qos=1, packet_id=1))
            got = c.expect_closed()
            self.assertEqual([p.kind for p in got], [], topic)

    def test_qos2_publish_closes(self):
        c = EMU.connect_device("dev1")
        c.send_raw(encode_publish("devices/dev1/messages/events/", b"x", qos=2, packet_id=1))
        self.assertEqual(c.expect_closed(), [])

    def test_d2c_size_limit(self):
        c = EMU.connect_device("dev1")
        # Exactly 256 KB including property names and values is accepted ...
        prop = "k=vv"  # counts 3 bytes
        c.publish("devices/dev1/messages/events/" + prop, b"x" * (256 * 1024 - 3), qos=1)
        # ... one byte more closes the connection without a PUBACK.
        c.send_raw(encode_publish("devices/dev1/messages/events/" + prop, b"x" * (256 * 1024 - 2),
                                  qos=1, packet_id=9))
        self.assertEqual(c.expect_closed(), [])
        EMU.wait_for_log("D2C message is 262145 bytes")  # the log line can trail the close

    def test_will_published_on_ungraceful_loss_only(self):
        since = EMU.events()[-1]["sequenceNumber"] if EMU.events() else 0
        will = ("devices/dev2/messages/events/reason=lost", b"dev2 gone", 1, False)
        c = EMU.connect_device("dev2", will=will)
        c.close()  # no DISCONNECT
        got = EMU.wait_for_events(1, since=since, device_id="dev2")
        self.assertEqual(got[0]["body"], "dev2 gone")
        self.assertEqual(got[0]["properties"], {"reason": "lost", "iothub-MessageType": "Will"})
        since = got[0]["sequenceNumber"]
        c = EMU.connect_device("dev2", will=will)
        c.disconnect()  # graceful: no Will
        marker = EMU.connect_device("dev2")
        marker.publish("devices/dev2/messages/events/", b"marker", qos=1)
        self.assertEqual([m["body"] for m in EMU.events(since, "dev2")], ["marker"])
        marker.disconnect()

    def test_will_topic_must_be_own_telemetry(self):
        EMU.connect_device("dev2", will=("devices/dev1/messages/events/", b"x", 0, False), expect_code=5)


class SubscribeTest(unittest.TestCase):
    def test_documented_filters_and_qos2_granted_as_1(self):
        c = EMU.connect_device("dev1", clean_session=True)
        ack = c.subscribe([("devices/dev1/messages/devicebound/#", 2), ("$iothub/twin/res/#", 0),
                           ("$iothub/twin/PATCH/properties/desired/#", 1), ("$iothub/methods/POST/#", 2)])
        self.assertEqual(ack.return_codes, [1, 0, 1, 1])
        self.assertEqual(ack.raw, b"\x90\x06" + ack.packet_id.to_bytes(2, "big") + b"\x01\x00\x01\x01")
        un = c.unsubscribe(["$iothub/methods/POST/#"])
        self.assertEqual(un.kind, "UNSUBACK")
        c.disconnect()

    def test_plus_in_place_of_device_id(self):
        c = EMU.connect_device("dev1", clean_session=True)
        self.assertEqual(c.subscribe([("devices/+/messages/devicebound/#", 1)]).return_codes, [1])
        c.disconnect()

    def test_unsupported_filter_closes(self):
        for f in ("#", "devices/dev2/messages/devicebound/#", "$iothub/twin/#", "devices/dev1/#"):
            c = EMU.connect_device("dev1", clean_session=True)
            c.send_raw(b"\x82" + bytes([2 + 2 + len(f) + 1]) + b"\x00\x05" + len(f).to_bytes(2, "big")
                       + f.encode() + b"\x01")
            self.assertEqual(c.expect_closed(), [], f)

    def test_sixth_subscription_closes(self):
        c = EMU.connect_device("dev1", clean_session=True)
        c.subscribe([("devices/dev1/messages/devicebound/#", 1), ("devices/+/messages/devicebound/#", 1),
                     ("$iothub/twin/res/#", 0), ("$iothub/twin/PATCH/properties/desired/#", 0),
                     ("$iothub/methods/POST/#", 0)])
        c.subscribe([("$iothub/twin/res/#", 1)])  # same filter again: still five
        c.send_raw(b"\x82\x0c\x00\x09\x00\x07$iothub\x00")  # a sixth filter
        self.assertEqual(c.expect_closed(), [])
        EMU.wait_for_log("closing dev1: more than 5 subscriptions")


if __name__ == "__main__":
    unittest.main()
