"""azhub emulate: CONNECT authentication, transports and connection rules, over real sockets
(docs/protocol.md §1-§3, §13)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ConnectionClosed, Emulator, MqttClient, device_sas_token, encode_connect,  # noqa: E402
                     mqtt_username, sas_token)

EMU = None


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2", "dev3", "dev4"]).start()


def tearDownModule():
    EMU.stop()


def token(device, ttl=3600, key=None, module=None, expiry=None):
    return device_sas_token(EMU.host_name, device, key or EMU.device_key(device), module, ttl, expiry)


def connack_code(client_id, username, password, transport="mqtts", **kw):
    c = EMU.mqtt(transport)
    try:
        ack = c.connect(client_id, username, password, **kw)
        if ack.return_code != 0:
            c.expect_closed()
        return ack
    finally:
        c.close()


class ConnectTest(unittest.TestCase):
    def test_accepts_primary_key_token(self):
        c = EMU.connect_device("dev1", clean_session=True)
        self.assertEqual(c.connack.raw, b"\x20\x02\x00\x00")
        c.ping()
        c.disconnect()

    def test_accepts_secondary_key(self):
        status, _, dev = EMU.rest("GET", "/devices/dev1")
        self.assertEqual(status, 200)
        secondary = dev["authentication"]["symmetricKey"]["secondaryKey"]
        ack = connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), token("dev1", key=secondary))
        self.assertEqual(ack.return_code, 0)

    def test_accepts_old_username_form_and_any_api_version(self):
        ack = connack_code("dev1", "%s/dev1/api-version=2016-11-14" % EMU.host_name, token("dev1"))
        self.assertEqual(ack.return_code, 0)
        ack = connack_code("dev1", "%s/dev1/?" % EMU.host_name, token("dev1"))
        self.assertEqual(ack.return_code, 0)

    def test_refuses_wrong_signature(self):
        wrong = token("dev1", key=EMU.device_key("dev2"))
        ack = connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), wrong)
        self.assertEqual(ack.raw, b"\x20\x02\x00\x05")
        EMU.wait_for_log("token signature does not match")

    def test_refuses_expired_token(self):
        expired = token("dev1", expiry=int(time.time()) - 10)
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), expired).return_code, 5)

    def test_refuses_token_for_another_device(self):
        other = token("dev2")  # valid for dev2, presented by dev1
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), other).return_code, 5)
        # dev2's resource signed with dev1's key
        forged = device_sas_token(EMU.host_name, "dev2", EMU.device_key("dev1"))
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), forged).return_code, 5)

    def test_refuses_client_id_mismatch(self):
        ack = connack_code("dev2", mqtt_username(EMU.host_name, "dev1"), token("dev1"))
        self.assertEqual(ack.return_code, 5)
        EMU.wait_for_log("client id does not match")

    def test_refuses_unknown_device_and_wrong_host(self):
        self.assertEqual(connack_code("ghost", mqtt_username(EMU.host_name, "ghost"),
                                      token("ghost", key=EMU.device_key("dev1"))).return_code, 5)
        self.assertEqual(connack_code("dev1", mqtt_username("other.example", "dev1"),
                                      token("dev1")).return_code, 5)

    def test_refuses_missing_password_without_certificate(self):
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), None).return_code, 5)

    def test_refuses_mqtt_3_1_protocol_level(self):
        c = EMU.mqtt("mqtts")
        c.send_raw(encode_connect("dev1", mqtt_username(EMU.host_name, "dev1"), token("dev1"),
                                  protocol_level=3))
        self.assertEqual(c.read_packet().raw, b"\x20\x02\x00\x01")
        c.expect_closed()

    def test_answers_an_mqtt_3_1_connect_with_connack_1(self):
        # Paho's MQTTVERSION_DEFAULT retries a refused 3.1.1 CONNECT as 3.1 ("MQIsdp", level 3).
        c = EMU.mqtt("mqtts")
        c.send_raw(encode_connect("dev1", mqtt_username(EMU.host_name, "dev1"), token("dev1"),
                                  protocol_name="MQIsdp", protocol_level=3))
        self.assertEqual(c.read_packet().raw, b"\x20\x02\x00\x01")
        c.expect_closed()

    def test_policy_token_with_device_connect(self):
        policy_key = None
        # The device policy's key is not printed; iothubowner has DeviceConnect too.
        cs = dict(p.split("=", 1) for p in EMU.service_connection_string.split(";"))
        policy_key = cs["SharedAccessKey"]
        t = sas_token("%s/devices/dev1" % EMU.host_name, policy_key, int(time.time()) + 60, "iothubowner")
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), t).return_code, 0)
        t = sas_token("%s/devices/dev2" % EMU.host_name, policy_key, int(time.time()) + 60, "iothubowner")
        self.assertEqual(connack_code("dev1", mqtt_username(EMU.host_name, "dev1"), t).return_code, 5)

    def test_disabled_device_is_refused_and_dropped(self):
        live = EMU.connect_device("dev3")
        status, _, dev = EMU.rest("GET", "/devices/dev3")
        dev["status"] = "disabled"
        status, _, out = EMU.rest("PUT", "/devices/dev3", dev, headers={"If-Match": '"%s"' % dev["etag"]})
        self.assertEqual(status, 200, out)
        live.expect_closed()
        self.assertEqual(connack_code("dev3", mqtt_username(EMU.host_name, "dev3"), token("dev3")).return_code, 5)
        EMU.wait_for_log("identity is disabled")
        dev = out
        dev["status"] = "enabled"
        status, _, out = EMU.rest("PUT", "/devices/dev3", dev, headers={"If-Match": "*"})
        self.assertEqual(status, 200, out)
        self.assertEqual(connack_code("dev3", mqtt_username(EMU.host_name, "dev3"), token("dev3")).return_code, 0)

    def test_newest_connection_wins(self):
        first = EMU.connect_device("dev2")
        second = EMU.connect_device("dev2")
        first.expect_closed()
        second.ping()
        second.disconnect()

    def test_connection_closed_at_token_expiry(self):
        c = EMU.mqtt("mqtts")
        ack = c.connect("dev4", mqtt_username(EMU.host_name, "dev4"), token("dev4", ttl=2))
        self.assertEqual(ack.return_code, 0)
        started = time.monotonic()
        c.expect_closed(timeout=10)
        self.assertGreater(time.monotonic() - started, 0.5)

    def test_keep_alive_expiry_closes(self):
        c = EMU.connect_device("dev4", keep_alive=1)
        c.expect_closed(timeout=10)  # 1.5 s without a packet

    def test_keep_alive_is_reset_by_every_packet(self):
        # keep-alive 1 s: the hub closes after 2 s of silence (1.5x, rounded up). Pings every
        # 0.5 s for 4 s keep the connection; then silence closes it.
        c = EMU.connect_device("dev4", keep_alive=1)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            c.ping()  # answered: the connection is still open
            time.sleep(0.5)
        started = time.monotonic()
        c.expect_closed(timeout=10)
        self.assertGreater(time.monotonic() - started, 1.0)

    def test_first_packet_must_be_connect(self):
        c = EMU.mqtt("mqtts")
        c.send_raw(b"\xc0\x00")  # PINGREQ
        c.expect_closed()

    def test_malformed_packet_closes(self):
        c = EMU.connect_device("dev1")
        c.send_raw(b"\x30\x80\x00")  # non-minimal remaining length
        c.expect_closed()

    def test_plain_tcp_transport(self):
        c = EMU.connect_device("dev1", transport="mqtt")
        c.ping()
        c.disconnect()

    def test_websocket_transport(self):
        for query in ("", "?iothub-no-client-cert=true"):
            c = EMU.connect_device("dev1", transport="wss", ws_query=query)
            self.assertEqual(c.t.headers.get("sec-websocket-protocol"), "mqtt")
            sub = c.subscribe([("$iothub/twin/res/#", 0)])
            self.assertEqual(sub.return_codes, [0])
            c.publish("$iothub/twin/GET/?$rid=ws", b"")
            p = c.read_publish()
            self.assertEqual(p.topic, "$iothub/twin/res/200/?$rid=ws")
            c.disconnect()

    def test_tls_1_1_refused(self):
        import socket
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(EMU.ca_file)
        try:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        except (ValueError, AttributeError):
            self.skipTest("this Python cannot offer TLS 1.1")
        raw = socket.create_connection(("127.0.0.1", EMU.ports["mqtts"]), timeout=5)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            ctx.wrap_socket(raw, server_hostname="localhost")
        raw.close()

    def test_server_certificate_names_localhost_and_loopback(self):
        for host in ("localhost", "127.0.0.1"):
            c = MqttClient.open(EMU, "mqtts", server_hostname=host)
            c.close()


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make client certificates")
class X509Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="azhub-x509-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def make_cert(self, cn):
        cert = os.path.join(self.dir, cn + ".pem")
        key = os.path.join(self.dir, cn + "-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=" + cn], check=True,
                       capture_output=True)
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha1"],
                             check=True, capture_output=True, text=True).stdout
        thumb = out.strip().split("=", 1)[1].replace(":", "")
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                             check=True, capture_output=True, text=True).stdout
        thumb256 = out.strip().split("=", 1)[1].replace(":", "")
        return cert, key, thumb, thumb256

    def register(self, device_id, primary, secondary=None):
        EMU.create_device(device_id, body={"authentication": {
            "type": "selfSigned",
            "x509Thumbprint": {"primaryThumbprint": primary, "secondaryThumbprint": secondary}}})

    def connect(self, device_id, cert):
        c = EMU.mqtt("mqtts", cert=cert)
        ack = c.connect(device_id, mqtt_username(EMU.host_name, device_id), None)
        return c, ack

    def test_self_signed_thumbprint_sha1_lowercase(self):
        cert, key, sha1, _ = self.make_cert("x509dev")
        self.register("x509dev", sha1.lower())
        c, ack = self.connect("x509dev", (cert, key))
        self.assertEqual(ack.return_code, 0)
        c.publish("devices/x509dev/messages/events/", b"from x509", qos=1)
        c.disconnect()

    def test_self_signed_thumbprint_sha256_secondary(self):
        cert, key, _, sha256 = self.make_cert("x509dev2")
        self.register("x509dev2", "A" * 40, sha256.upper())
        c, ack = self.connect("x509dev2", (cert, key))
        self.assertEqual(ack.return_code, 0)
        c.disconnect()

    def test_wrong_certificate_refused(self):
        cert, key, _, _ = self.make_cert("x509other")
        _, _, sha1, _ = self.make_cert("x509dev3")
        self.register("x509dev3", sha1)
        c, ack = self.connect("x509dev3", (cert, key))
        self.assertEqual(ack.return_code, 5)
        # and no certificate at all
        c = EMU.mqtt("mqtts")
        self.assertEqual(c.connect("x509dev3", mqtt_username(EMU.host_name, "x509dev3"), None).return_code, 5)

    def test_certificate_over_websocket(self):
        cert, key, sha1, _ = self.make_cert("x509ws")
        self.register("x509ws", sha1)
        c = EMU.mqtt("wss", cert=(cert, key))
        self.assertEqual(c.connect("x509ws", mqtt_username(EMU.host_name, "x509ws"), None).return_code, 0)
        c.disconnect()

    def test_ca_signed_certificate(self):
        # Sign a leaf with the emulator's own CA (its key sits beside ca.pem).
        ca_key = os.path.join(os.path.dirname(EMU.ca_file), "ca-key.pem")
        key = os.path.join(self.dir, "cadev-key.pem")
        csr = os.path.join(self.dir, "cadev.csr")
        cert = os.path.join(self.dir, "cadev.pem")
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", "/CN=cadev"], check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", EMU.ca_file, "-CAkey", ca_key,
                        "-CAcreateserial", "-out", cert, "-days", "2"], check=True, capture_output=True)
        EMU.create_device("cadev", body={"authentication": {"type": "certificateAuthority"}})
        c, ack = self.connect("cadev", (cert, key))
        self.assertEqual(ack.return_code, 0)
        c.disconnect()
        # A self-signed certificate with the right CN is not CA-signed.
        other, other_key, _, _ = self.make_cert("cadev")
        c, ack = self.connect("cadev", (other, other_key))
        self.assertEqual(ack.return_code, 5)


if __name__ == "__main__":
    unittest.main()
