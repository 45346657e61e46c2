#!/usr/bin/env python3
"""Checks the arrows between azhub's libraries (ARCHITECTURE.md) in the sources themselves.

    core/  <-  device/, service/, emulator/  <-  cli/

- A library includes only its own headers and those of the libraries it may depend on:
  core/ includes nothing of device/, service/, emulator/ or cli/; device/, service/ and
  emulator/ include core/ and themselves; cli/ includes any library.
- Only device/ includes Paho (MQTTAsync.h, MQTTClient.h): the MQTT client lives there.
- Qpid Proton (proton/...) is included by the AMQP ends only: emulator/, service/, and in core/
  only amqp_message.cpp (the message codec); never by cli/ or device/.
- core/ and cli/ include no Boost.Asio or Boost.Beast: core is pure, cli calls the libraries.
- core/ includes no sockets, threads, processes or SQLite.
- cli/ builds no protocol strings: no string literal holds "$iothub" or "devices/.../messages";
  topics and paths come from core/.
- No relative include ("../device/x.hpp") climbs out of a folder.

Usage: layering_test.py PROJECT_ROOT [--self-test]. Prints one line per violation
(file:line: rule) and exits 1 when there is any.
"""
import pathlib
import re
import sys

LIBRARIES = ("core", "device", "service", "emulator", "cli")
ALLOWED = {
    "core": {"core"},
    "device": {"core", "device"},
    "service": {"core", "service"},
    "emulator": {"core", "emulator"},
    "cli": set(LIBRARIES),
}
SOURCE_SUFFIXES = {".cpp", ".hpp", ".h", ".c", ".cc", ".in"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')
PROTOCOL_IN_LITERAL = (
    (re.compile(r"\$iothub"), "a '$iothub' topic or path"),
    (re.compile(r"devices/[^\"]*messages"), "a 'devices/.../messages' topic or path"),
)


def strip_comment(line):
    """The code part of a line: drops // comments that are not inside a string literal."""
    out, in_string, i = [], False, 0
    while i < len(line):
        c = line[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < len(line):
                out.append(line[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif line.startswith("//", i):
            break
        else:
            out.append(c)
        i += 1
    return "".join(out)


def check_file(folder, rel, text):
    """Violations in one source file of library `folder`, as (line number, message)."""
    problems = []
    in_block_comment = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw
        if in_block_comment:
            if "*/" not in line:
                continue
            line = line.split("*/", 1)[1]
            in_block_comment = False
        if "/*" in line and "*/" not in line.split("/*", 1)[1]:
            line = line.split("/*", 1)[0]
            in_block_comment = True
        m = INCLUDE.match(line)
        if m:
            kind, target = m.groups()
            head = target.split("/", 1)[0]
            if ".." in target.split("/"):
                problems.append((number, f"relative include '{target}' leaves the folder"))
            if kind == '"' and head in LIBRARIES and head not in ALLOWED[folder]:
                problems.append((number, f"{folder}/ must not include {head}/ ('{target}')"))
            if re.search(r"(^|/)MQTT(Async|Client)\.h$", target) and folder != "device":
                problems.append((number, f"only device/ includes Paho ('{target}')"))
            if target.startswith("proton/") and not (
                    folder in ("emulator", "service") or (folder == "core" and str(rel).endswith("amqp_message.cpp"))):
                problems.append((number, f"only the AMQP ends include Qpid Proton ('{target}'; see core/amqp_message.hpp)"))
            if folder in ("core", "cli") and re.match(r"boost/(asio|beast)", target):
                problems.append((number, f"{folder}/ must not include Boost.Asio/Beast ('{target}')"))
            if folder == "core" and (re.match(r"(sys/socket|netinet/|arpa/|sqlite3)", target)
                                     or target in ("thread", "mutex", "condition_variable")):
                problems.append((number, f"core/ is pure: no sockets, threads or SQLite ('{target}')"))
            if folder == "core" and target in ("spawn.h", "sys/wait.h", "unistd.h"):
                problems.append((number, f"core/ is pure: no processes ('{target}'; see device/subprocess.hpp)"))
            continue
        if folder == "cli":
            code = strip_comment(line)
            for literal in STRING_LITERAL.findall(code):
                for pattern, what in PROTOCOL_IN_LITERAL:
                    if pattern.search(literal):
                        problems.append((number, f"cli/ builds {what} in {literal}; use core/"))
    return problems


def scan(root):
    problems = []
    for folder in LIBRARIES:
        base = root / folder
        for path in sorted(base.rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
                continue
            rel = path.relative_to(root)
            for number, message in check_file(folder, rel, path.read_text(encoding="utf-8")):
                problems.append(f"{rel}:{number}: {message}")
    return problems


def self_test():
    """The rules catch what they are for (so a broken regex cannot make the test pass)."""
    cases = [
        ("core", '#include "device/device_client.hpp"', 1),
        ("core", '#include "emulator/hub.hpp"', 1),
        ("core", '#include <boost/asio/io_context.hpp>', 1),
        ("core", '#include <thread>', 1),
        ("core", '#include <spawn.h>', 1),
        ("core", '#include <sys/wait.h>', 1),
        ("device", '#include <spawn.h>', 0),
        ("service", '#include "device/credentials.hpp"', 1),
        ("emulator", '#include "service/https_client.hpp"', 1),
        ("device", '#include "emulator/hub.hpp"', 1),
        ("emulator", '#include <MQTTAsync.h>', 1),
        ("device", '#include <MQTTAsync.h>', 0),
        ("cli", '#include <boost/beast/http.hpp>', 1),
        ("cli", '#include "../core/sas.hpp"', 1),
        ("cli", 'auto t = "$iothub/twin/GET/?$rid=1";', 1),
        ("cli", 'auto t = fmt::format("devices/{}/messages/events/", id);', 1),
        ("cli", '// "devices/{id}/messages" in a comment is fine', 0),
        ("cli", '#include "emulator/hub.hpp"', 0),
        ("core", '#include "core/sas.hpp"', 0),
        ("cli", '#include <proton/message.h>', 1),
        ("core", '#include <proton/codec.h>', 1),
        ("emulator", '#include <proton/link.h>', 0),
    ]
    failed = 0
    for folder, line, expected in cases:
        got = len(check_file(folder, "x", line))
        if got != expected:
            print(f"self-test: {folder}: {line!r}: {got} violations, expected {expected}")
            failed += 1
    return failed


def main():
    if len(sys.argv) < 2:
        print("usage: layering_test.py PROJECT_ROOT", file=sys.stderr)
        return 2
    failed = self_test()
    problems = scan(pathlib.Path(sys.argv[1]))
    for line in problems:
        print(line)
    print(f"layering: {len(problems)} violations, self-test {failed} failed")
    return 1 if problems or failed else 0


if __name__ == "__main__":
    sys.exit(main())
