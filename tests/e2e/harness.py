"""Helpers for azhub end-to-end tests (Python 3 standard library only).

Start an emulator, talk raw MQTT 3.1.1 to it, call its REST API, stop it:

    from harness import Emulator, MqttClient, device_sas_token

    with Emulator(devices=["dev1", "dev2"]) as emu:       # azhub emulate --in-memory -o json ...
        emu.ready            # the parsed ready line (dict), see team notes
        emu.ports            # {"mqtts": N, "https": N, "mqtt": N}
        emu.device_key("dev1")                         # primary key from the connection string
        c = emu.connect_device("dev1")                 # TLS + CONNECT with a fresh SAS token; CONNACK 0 asserted
        c.subscribe([("devices/dev1/messages/devicebound/#", 1)])   # returns the SUBACK Packet
        c.publish("devices/dev1/messages/events/a=b", b"hi", qos=1) # returns PUBACK Packet for qos 1
        p = c.read_packet(timeout=5)                   # Packet(kind="PUBLISH", topic=..., payload=..., ...)
        c.expect_closed(timeout=5)                     # asserts the server closed the connection
        status, headers, body = emu.rest("GET", "/twins/dev1")      # iothubowner SAS; body parsed JSON
        emu.c2d_send("dev1", "hello", properties={"k": "v"})        # emulator test hook (REST)
    # leaving the block sends SIGTERM and asserts exit code 0; emu.stderr holds the log

Lower level:
    MqttClient.open(emu, transport="mqtts"|"mqtt"|"wss", cert=(certfile, keyfile), ws_query="")
    c.connect(client_id, username, password, clean_session=False, keep_alive=60, will=None) -> Packet CONNACK
    c.send_raw(bytes); c.read_packet(timeout) raises TimeoutError, ConnectionClosed on EOF
    encode_connect(...), encode_publish(...), encode_subscribe(...) build exact bytes.
    device_sas_token(host, device_id, key, module_id=None, ttl=3600, expiry=None)
    sas_token(resource_uri, key, expiry, policy=None)

Environment: AZHUB_BIN = path of the built azhub binary (CTest passes it).
Every wait has a timeout; nothing here sleeps as synchronisation.
"""

import base64
import collections
import hashlib
import hmac
import http.client
import json
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse

DEFAULT_TIMEOUT = 10.0


class ConnectionClosed(Exception):
    """The peer closed the connection."""


# --------------------------------------------------------------------------------------------
# SAS tokens (docs/protocol.md §3)

def hub_error(body):
    """The error in an IoT Hub error body of either form (docs/protocol.md §12.3), as
    {"form", "name", "message", "errorCode", "trackingId"}: the registry form
    {"Message":"ErrorCode:{Name};{text}","ExceptionMessage":"Tracking ID:{id}-G:0-TimeStamp:..."}
    (registry and twin paths; no numeric code, "errorCode" is None) or the JSON form
    {"Message":"{\"errorCode\":…}","ExceptionMessage":""} (everything else)."""
    assert isinstance(body, dict) and list(body) == ["Message", "ExceptionMessage"], body
    message = body["Message"]
    if message.startswith("ErrorCode:"):
        name, _, text = message[len("ErrorCode:"):].partition(";")
        exc = body["ExceptionMessage"]
        assert exc.startswith("Tracking ID:") and "-G:0-TimeStamp:" in exc, exc
        tracking = exc[len("Tracking ID:"):exc.index("-G:0-TimeStamp:")]
        return {"form": "registry", "name": name, "message": text, "errorCode": None, "trackingId": tracking}
    assert body["ExceptionMessage"] == "", body
    inner = json.loads(message)
    assert list(inner) == ["errorCode", "trackingId", "message", "info", "timestampUtc"], inner
    return {"form": "json", "name": None, "message": inner["message"], "errorCode": inner["errorCode"],
            "trackingId": inner["trackingId"], "info": inner["info"], "timestampUtc": inner["timestampUtc"]}


def sas_token(resource_uri, key_b64, expiry, policy=None):
    """SharedAccessSignature for the unencoded resource_uri, signed with key_b64."""
    sr = urllib.parse.quote(resource_uri, safe="")
    to_sign = (sr + "\n" + str(expiry)).encode()
    sig = base64.b64encode(hmac.new(base64.b64decode(key_b64), to_sign, hashlib.sha256).digest())
    token = "SharedAccessSignature sr=%s&sig=%s&se=%d" % (
        sr, urllib.parse.quote(sig.decode(), safe=""), expiry)
    if policy:
        token += "&skn=" + policy
    return token


def device_sas_token(host, device_id, key_b64, module_id=None, ttl=3600, expiry=None):
    resource = "%s/devices/%s" % (host, device_id)
    if module_id:
        resource += "/modules/" + module_id
    return sas_token(resource, key_b64, expiry if expiry is not None else int(time.time()) + ttl)


def parse_connection_string(cs):
    return dict(part.split("=", 1) for part in cs.split(";"))


def mqtt_username(host, device_id, module_id=None, query="api-version=2021-04-12"):
    ident = device_id if module_id is None else device_id + "/" + module_id
    return "%s/%s/?%s" % (host, ident, query)


# --------------------------------------------------------------------------------------------
# MQTT 3.1.1 encoding

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
KIND_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
              7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK",
              12: "PINGREQ", 13: "PINGRESP", 14: "DISCONNECT"}

Packet = collections.namedtuple(
    "Packet", "kind flags raw topic payload qos dup retain packet_id session_present "
              "return_code return_codes")


def _remaining_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def _str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def _packet(first_byte, body):
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def encode_connect(client_id, username=None, password=None, clean_session=False, keep_alive=60,
                   will=None, protocol_name="MQTT", protocol_level=4):
    """will = (topic, payload, qos, retain) or None."""
    flags = 0
    if clean_session:
        flags |= 0x02
    payload = _str(client_id)
    if will is not None:
        topic, wpayload, wqos, wretain = will
        flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        payload += _str(topic) + _str(wpayload)
    if username is not None:
        flags |= 0x80
        payload += _str(username)
    if password is not None:
        flags |= 0x40
        payload += _str(password)
    body = _str(protocol_name) + bytes([protocol_level, flags]) + struct.pack("!H", keep_alive)
    return _packet(0x10, body + payload)


def encode_publish(topic, payload=b"", qos=0, packet_id=None, retain=False, dup=False):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = _str(topic)
    if qos:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    return _packet(first, body + payload)


def encode_puback(packet_id):
    return _packet(0x40, struct.pack("!H", packet_id))


def encode_subscribe(filters, packet_id=1):
    """filters = [(filter, qos), ...]"""
    body = struct.pack("!H", packet_id)
    for f, q in filters:
        body += _str(f) + bytes([q])
    return _packet(0x82, body)


def encode_unsubscribe(filters, packet_id=1):
    body = struct.pack("!H", packet_id) + b"".join(_str(f) for f in filters)
    return _packet(0xA2, body)


PINGREQ_BYTES = b"\xc0\x00"
DISCONNECT_BYTES = b"\xe0\x00"


def decode_packet(first, body, raw=None):
    kind = first >> 4
    flags = first & 0x0F
    f = dict(kind=KIND_NAMES.get(kind, str(kind)), flags=flags, raw=raw if raw is not None else bytes([first]) + _remaining_length(len(body)) + body,
             topic=None, payload=None, qos=None, dup=None, retain=None, packet_id=None,
             session_present=None, return_code=None, return_codes=None)
    if kind == CONNACK:
        f["session_present"] = bool(body[0] & 1)
        f["return_code"] = body[1]
    elif kind == PUBLISH:
        n = struct.unpack("!H", body[:2])[0]
        f["topic"] = body[2:2 + n].decode()
        rest = body[2 + n:]
        f["qos"] = (flags >> 1) & 3
        f["dup"] = bool(flags & 8)
        f["retain"] = bool(flags & 1)
        if f["qos"]:
            f["packet_id"] = struct.unpack("!H", rest[:2])[0]
            rest = rest[2:]
        f["payload"] = bytes(rest)
    elif kind in (PUBACK, UNSUBACK):
        f["packet_id"] = struct.unpack("!H", body[:2])[0]
    elif kind == SUBACK:
        f["packet_id"] = struct.unpack("!H", body[:2])[0]
        f["return_codes"] = list(body[2:])
    return Packet(**f)


# --------------------------------------------------------------------------------------------
# Transports: plain TCP, TLS, WebSocket (client side, RFC 6455 framing with masking)

class _SocketTransport:
    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout):
        """Some bytes, b"" on EOF; raises TimeoutError."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return self.sock.recv(65536)
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise TimeoutError("no data within %.1fs" % timeout)
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError, BrokenPipeError):
            return b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class _WebSocketTransport(_SocketTransport):
    def __init__(self, sock, host, path, subprotocol="mqtt"):
        super().__init__(sock)
        self._buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: %s\r\n\r\n") % (path, host, key, subprotocol)
        self.sock.sendall(req.encode())
        head = b""
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while b"\r\n\r\n" not in head:
            chunk = super().recv(max(0.1, deadline - time.monotonic()))
            if not chunk:
                raise ConnectionClosed("closed during WebSocket handshake")
            head += chunk
        head, self._buf = head.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                        for l in lines[1:] if ":" in l}
        if self.status != 101:
            raise ConnectionClosed("WebSocket upgrade refused: " + lines[0])
        self._payload = b""

    def send(self, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = bytes([0x82, 0x80 | n])
        elif n < 65536:
            hdr = bytes([0x82, 0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr = bytes([0x82, 0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(hdr + mask + masked)

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take_frame()
            if frame is not None:
                opcode, payload = frame
                if opcode == 0x8:
                    return b""
                if opcode in (0x0, 0x1, 0x2):
                    if payload:
                        return payload
                continue
            chunk = super().recv(max(0.0, deadline - time.monotonic()))
            if not chunk:
                return b""
            self._buf += chunk

    def _take_frame(self):
        b = self._buf
        if len(b) < 2:
            return None
        opcode = b[0] & 0x0F
        n = b[1] & 0x7F
        i = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", b[2:4])[0]
            i = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", b[2:10])[0]
            i = 10
        if b[1] & 0x80:
            i += 4  # servers do not mask; tolerate anyway (unmasking skipped)
        if len(b) < i + n:
            return None
        self._buf = b[i + n:]
        return opcode, b[i:i + n]


def client_ssl_context(ca_file, cert=None):
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return ctx


class MqttClient:
    """A raw MQTT 3.1.1 client over one socket. Methods raise on timeout or close."""

    def __init__(self, transport):
        self.t = transport
        self._buf = b""
        self._next_id = 1

    @classmethod
    def open(cls, emu, transport="mqtts", cert=None, ws_query="", timeout=DEFAULT_TIMEOUT,
             server_hostname="localhost"):
        if transport == "mqtt":
            sock = socket.create_connection(("127.0.0.1", emu.ports["mqtt"]), timeout=timeout)
            return cls(_SocketTransport(sock))
        port = emu.ports["mqtts" if transport == "mqtts" else "https"]
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock = client_ssl_context(emu.ca_file, cert).wrap_socket(raw, server_hostname=server_hostname)
        if transport == "mqtts":
            return cls(_SocketTransport(sock))
        if transport == "wss":
            return cls(_WebSocketTransport(sock, "localhost", "/$iothub/websocket" + ws_query))
        raise ValueError("transport must be mqtt, mqtts or wss")

    def next_packet_id(self):
        pid = self._next_id
        self._next_id = self._next_id % 65535 + 1
        return pid

    def send_raw(self, data):
        self.t.send(data)

    def read_packet(self, timeout=DEFAULT_TIMEOUT):
        """The next packet; TimeoutError if none within timeout; ConnectionClosed on EOF."""
        deadline = time.monotonic() + timeout
        while True:
            pkt = self._take()
            if pkt is not None:
                return pkt
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no MQTT packet within %.1fs" % timeout)
            chunk = self.t.recv(left)
            if not chunk:
                raise ConnectionClosed("server closed the connection")
            self._buf += chunk

    def _take(self):
        b = self._buf
        if len(b) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(b):
                return None
            n += (b[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not b[i - 1] & 0x80:
                break
        if len(b) < i + n:
            return None
        self._buf = b[i + n:]
        return decode_packet(b[0], b[i:i + n], bytes(b[:i + n]))

    def read_until(self, predicate, timeout=DEFAULT_TIMEOUT):
        """Reads packets until predicate(packet) is true; returns (match, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            p = self.read_packet(max(0.01, deadline - time.monotonic()))
            if predicate(p):
                return p, skipped
            skipped.append(p)

    def expect_no_packet(self, timeout=0.5):
        """Asserts nothing arrives within timeout (a bounded negative check, not a sync)."""
        try:
            p = self.read_packet(timeout)
        except TimeoutError:
            return
        raise AssertionError("unexpected packet: %r" % (p,))

    def expect_closed(self, timeout=DEFAULT_TIMEOUT):
        """Asserts the server closes the connection (packets before the close are returned)."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got.append(self.read_packet(max(0.01, deadline - time.monotonic())))
            except ConnectionClosed:
                return got
            except TimeoutError:
                raise AssertionError("connection still open after %.1fs (got %r)" % (timeout, got))

    def connect(self, client_id, username=None, password=None, clean_session=False,
                keep_alive=60, will=None, timeout=DEFAULT_TIMEOUT):
        self.send_raw(encode_connect(client_id, username, password, clean_session, keep_alive, will))
        p = self.read_packet(timeout)
        assert p.kind == "CONNACK", p
        return p

    def publish(self, topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                timeout=DEFAULT_TIMEOUT):
        """For qos 1 waits for and returns the PUBACK (other packets before it are kept in
        self.pending); qos 0 returns None."""
        if qos and packet_id is None:
            packet_id = self.next_packet_id()
        self.send_raw(encode_publish(topic, payload, qos, packet_id, retain, dup))
        if qos == 1:
            return self._await(lambda p: p.kind == "PUBACK" and p.packet_id == packet_id, timeout)
        return None

    def puback(self, packet_id):
        self.send_raw(encode_puback(packet_id))

    def subscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        pid = self.next_packet_id()
        self.send_raw(encode_subscribe(filters, pid))
        return self._await(lambda p: p.kind == "SUBACK" and p.packet_id == pid, timeout)

    def unsubscribe(self, filters, timeout=DEFAULT_TIMEOUT):
        pid = self.next_packet_id()
        self.send_raw(encode_unsubscribe(filters, pid))
        return self._await(lambda p: p.kind == "UNSUBACK" and p.packet_id == pid, timeout)

    def ping(self, timeout=DEFAULT_TIMEOUT):
        self.send_raw(PINGREQ_BYTES)
        return self._await(lambda p: p.kind == "PINGRESP", timeout)

    def disconnect(self):
        try:
            self.send_raw(DISCONNECT_BYTES)
        finally:
            self.close()

    # Packets read while waiting for an ack; read_publish() consumes them first.
    pending = None

    def _await(self, predicate, timeout):
        if self.pending is None:
            self.pending = []
        match, skipped = self.read_until(predicate, timeout)
        self.pending.extend(skipped)
        return match

    def read_publish(self, timeout=DEFAULT_TIMEOUT):
        """The next PUBLISH (including ones buffered by publish()/subscribe())."""
        if self.pending:
            for i, p in enumerate(self.pending):
                if p.kind == "PUBLISH":
                    return self.pending.pop(i)
        p, skipped = self.read_until(lambda q: q.kind == "PUBLISH", timeout)
        if self.pending is None:
            self.pending = []
        self.pending.extend(skipped)
        return p

    def close(self):
        self.t.close()


# --------------------------------------------------------------------------------------------
# The emulator process

def azhub_binary():
    path = os.environ.get("AZHUB_BIN")
    if not path:
        raise RuntimeError("AZHUB_BIN is not set (path of the built azhub binary)")
    return path


class Emulator:
    """`azhub emulate` on ephemeral loopback ports. Use as a context manager, or start()/stop()."""

    def __init__(self, devices=(), in_memory=True, state_dir=None, extra_args=(), verbose=1,
                 binary=None, ready_timeout=30.0):
        self.devices_arg = list(devices)
        self.in_memory = in_memory
        self.state_dir = state_dir
        self.extra_args = list(extra_args)
        self.verbose = verbose
        self.binary = binary or azhub_binary()
        self.ready_timeout = ready_timeout
        self.proc = None
        self.ready = None
        self._stderr_chunks = []
        self._stderr_thread = None
        self._lines = []
        self._lines_cv = threading.Condition()

    # -- lifecycle --------------------------------------------------------------------------
    def command(self):
        cmd = [self.binary]
        cmd += ["-v"] * self.verbose
        cmd += ["-o", "json", "emulate", "--mqtt-port", "0", "--https-port", "0",
                "--amqp-port", "0", "--tcp-port", "0"]
        if self.in_memory:
            cmd.append("--in-memory")
        else:
            cmd += ["--state-dir", self.state_dir]
        for d in self.devices_arg:
            cmd += ["--device", d]
        return cmd + self.extra_args

    def start(self):
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()
        r, _, _ = select.select([self.proc.stdout], [], [], self.ready_timeout)
        if not r:
            self.kill()
            raise AssertionError("emulator not ready within %.0fs; stderr:\n%s"
                                 % (self.ready_timeout, self.stderr))
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise AssertionError("emulator exited (%s) before ready; stderr:\n%s"
                                 % (self.proc.returncode, self.stderr))
        self.ready = json.loads(line)
        assert self.ready.get("event") == "ready", self.ready
        return self

    def _pump_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self._lines_cv:
                self._stderr_chunks.append(line.decode(errors="replace"))
                self._lines_cv.notify_all()

    def wait_for_log(self, substring, timeout=DEFAULT_TIMEOUT):
        """Waits until a stderr line containing substring appears (needs -v); returns it."""
        deadline = time.monotonic() + timeout
        with self._lines_cv:
            while True:
                for line in self._stderr_chunks:
                    if substring in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("log line %r not seen; stderr:\n%s"
                                         % (substring, "".join(self._stderr_chunks)))
                self._lines_cv.wait(left)

    @property
    def stderr(self):
        with self._lines_cv:
            return "".join(self._stderr_chunks)

    def stop(self, expect_code=0, timeout=15.0):
        """SIGTERM, wait, assert the exit code; returns the collected stderr."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
        else:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=timeout)
        if self._stderr_thread:
            self._stderr_thread.join(timeout=5)
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()
        if expect_code is not None and code != expect_code:
            raise AssertionError("emulator exit code %r, expected %r; stderr:\n%s"
                                 % (code, expect_code, self.stderr))
        return self.stderr

    def kill(self):
        """SIGKILL (crash test); waits for the process to be gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self._stderr_thread:
            self._stderr_thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            try:
                self.stop(expect_code=None)
            except Exception:  # noqa: BLE001 - keep the original failure
                self.kill()
        return False

    # -- facts from the ready line ------------------------------------------------------------
    @property
    def ports(self):
        return self.ready["ports"]

    @property
    def ca_file(self):
        return self.ready["caFile"]

    @property
    def host_name(self):
        return self.ready["hostName"]

    @property
    def service_connection_string(self):
        return self.ready["serviceConnectionString"]

    def device_connection_string(self, device_id):
        for d in self.ready["devices"]:
            if d["deviceId"] == device_id:
                return d["connectionString"]
        raise KeyError(device_id)

    def device_key(self, device_id):
        return parse_connection_string(self.device_connection_string(device_id))["SharedAccessKey"]

    def service_token(self, ttl=3600):
        cs = parse_connection_string(self.service_connection_string)
        return sas_token(cs["HostName"], cs["SharedAccessKey"], int(time.time()) + ttl,
                         cs["SharedAccessKeyName"])

    # -- MQTT ----------------------------------------------------------------------------------
    def mqtt(self, transport="mqtts", **kw):
        return MqttClient.open(self, transport, **kw)

    def connect_device(self, device_id, module_id=None, key=None, transport="mqtts",
                       clean_session=False, keep_alive=60, will=None, expect_code=0, **kw):
        """Opens a connection and CONNECTs with a fresh SAS token; asserts the CONNACK code."""
        if key is None:
            key = self.device_key(device_id) if module_id is None else None
        assert key is not None, "module connections need key="
        c = self.mqtt(transport, **kw)
        client_id = device_id if module_id is None else device_id + "/" + module_id
        ack = c.connect(client_id, mqtt_username(self.host_name, device_id, module_id),
                        device_sas_token(self.host_name, device_id, key, module_id),
                        clean_session=clean_session, keep_alive=keep_alive, will=will)
        assert ack.return_code == expect_code, ack
        c.connack = ack
        return c

    # -- REST ----------------------------------------------------------------------------------
    def rest(self, method, path, body=None, headers=None, token=None, api_version="2021-04-12",
             timeout=DEFAULT_TIMEOUT, raw=None):
        """HTTPS call with the iothubowner SAS (or `token`); returns (status, headers, body)
        with body parsed as JSON when the response is JSON, else bytes. `body` is sent as JSON;
        `raw` (bytes/str) is sent as is with the given headers."""
        conn = http.client.HTTPSConnection("localhost", self.ports["https"], timeout=timeout,
                                           context=client_ssl_context(self.ca_file))
        if api_version and "api-version=" not in path:
            path += ("&" if "?" in path else "?") + "api-version=" + api_version
        hdrs = {"Authorization": token if token is not None else self.service_token()}
        data = raw
        if body is not None:
            data = json.dumps(body)
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw_resp = resp.read()
            rheaders = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        parsed = raw_resp
        if raw_resp and "json" in rheaders.get("content-type", ""):
            parsed = json.loads(raw_resp)
        return resp.status, rheaders, parsed

    def c2d_send(self, device_id, body, properties=None, message_id=None, expiry=None,
                 content_type=None, correlation_id=None, ack=None):
        """Queues a C2D message (POST /_emulator/devices/{id}/messages/deviceBound; properties
        travel as iothub-* headers). Returns (status, headers, body)."""
        hdrs = {}
        if message_id is not None:
            hdrs["iothub-messageid"] = message_id
        if correlation_id is not None:
            hdrs["iothub-correlationid"] = correlation_id
        if expiry is not None:
            hdrs["iothub-expiry"] = expiry
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        if ack is not None:
            hdrs["iothub-ack"] = ack
        for k, v in (properties or {}).items():
            hdrs["iothub-app-" + k] = v
        return self.rest("POST", "/_emulator/devices/%s/messages/deviceBound"
                         % urllib.parse.quote(device_id, safe=""), raw=body, headers=hdrs)

    def events(self, since=0, device_id=None):
        """Captured D2C messages after sequence number `since` (GET /_emulator/messages/events)."""
        path = "/_emulator/messages/events?since=%d" % since
        if device_id:
            path += "&deviceId=" + urllib.parse.quote(device_id, safe="")
        status, _, body = self.rest("GET", path)
        assert status == 200, (status, body)
        return body["messages"] if isinstance(body, dict) else body

    def wait_for_events(self, count, since=0, device_id=None, timeout=DEFAULT_TIMEOUT):
        """Polls the capture until at least `count` messages after `since` exist."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.events(since, device_id)
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError("expected %d D2C messages, have %r" % (count, got))
            time.sleep(0.05)

    def create_device(self, device_id, module_id=None, body=None):
        """PUT /devices/{id}[/modules/{mid}]; returns the identity JSON (asserts 200)."""
        path = "/devices/" + urllib.parse.quote(device_id, safe="")
        doc = {"deviceId": device_id}
        if module_id:
            path += "/modules/" + urllib.parse.quote(module_id, safe="")
            doc["moduleId"] = module_id
        doc.update(body or {})
        status, _, out = self.rest("PUT", path, doc)
        assert status == 200, (status, out)
        return out


def free_state_dir():
    """A fresh temporary directory for a durable-state test (caller removes it)."""
    return tempfile.mkdtemp(prefix="azhub-e2e-")
