#!/usr/bin/env python3
"""docs.citations: every citation of a project document resolves to a numbered section.

    python3 tests/docs/citations_test.py PROJECT_ROOT [-v]

Scans the project's source and documentation files (C and C++ sources and headers, Python,
shell and JavaScript files, Markdown, CMake files, man pages) for citations of the form
"docs/<name>.md" followed by a section ("§3.3"), a list ("§3, §5"), a range ("§2-§9") or a list
that continues on the next comment line, and checks that docs/<name>.md exists and has a
heading with each cited number ("## 3. Title", "### 3.3 Title"). It also fails on any reference to a document
that lives outside the project. Prints one line per problem (file:line: ...), then a summary
line; exits 1 if there is any problem, else 0. Python 3 standard library only.
"""

import os
import re
import subprocess
import sys

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".c", ".py", ".sh", ".js", ".md", ".cmake")
SKIPPED_DIRS = {".git", "node_modules", "build"}

# A document citation: "docs/<name>.md", optionally closed by a backtick or quote, then the
# section list. Between the two (and between list items) only blanks, line breaks and comment
# leaders may stand, so that "docs/protocol.md\n// §2-§9" is one citation.
DOC_RE = re.compile(r"(?<![\w/.-])(?:\.\./)*docs/([A-Za-z0-9_][A-Za-z0-9_.-]*)\.md")
GAP = r"(?:\s|//|#|\*)*"
NUMBER = r"\d+(?:\.\d+)*"  # "3", "3.2"; a trailing "." (end of sentence) is not part of it
ITEM_RE = re.compile(r"§(" + NUMBER + r")(?:\s*[-–]\s*§?(" + NUMBER + r"))?")
FIRST_RE = re.compile(r"[`'\"]?" + GAP + r"(?=§)")
NEXT_RE = re.compile(r"\s*(?:,|;|&|\band\b)" + GAP + r"(?=§)")

HEADING_RE = re.compile(r"^ {0,3}#{1,6}[ \t]+(" + NUMBER + r")\.?(?=[ \t]|$)")
FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")

# Documents that are not part of the project: a citation of them can never be followed.
# (Spelled in pieces so that this file does not match itself.)
STALE_RE = re.compile(
    r"(?<![\w-])(" + "iothub-" + r"protocol\.md" + r"|" + "sty" + r"le\.md" + r"|" + "shared" + r"/docs" + r")"
)


def is_source(rel):
    name = os.path.basename(rel)
    if name == "CMakeLists.txt" or name.endswith(SOURCE_SUFFIXES):
        return True
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == "man" and name.endswith(".1")


def skipped(rel):
    parts = rel.split("/")
    if parts[0].startswith("build"):
        return True
    return any(p in SKIPPED_DIRS for p in parts[:-1])


def list_files(root):
    """Tracked files plus new, not ignored ones when ROOT is a git work tree; else a walk."""
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True,
        ).stdout
        names = sorted({n.decode("utf-8", "replace") for n in out.split(b"\0") if n})
        if names:
            return [n for n in names if os.path.isfile(os.path.join(root, n))]
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIPPED_DIRS and not (rel_dir == "" and d.startswith("build"))
        )
        found.extend(rel_dir + f for f in filenames)
    return sorted(found)


def section_numbers(path):
    """The numbers of the headings of Markdown file `path` ("3", "3.2"), outside code fences."""
    numbers = set()
    fence = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = FENCE_RE.match(line)
            if m:
                if fence is None:
                    fence = m.group(1)
                elif m.group(1) == fence:
                    fence = None
                continue
            if fence is None:
                h = HEADING_RE.match(line)
                if h:
                    numbers.add(h.group(1))
    return numbers


def expand(first, last):
    """The sections a citation item names: "2"-"9" is 2..9; "3.1"-"3.3" just its two ends."""
    if last is None:
        return [first]
    if first.isdigit() and last.isdigit() and int(first) <= int(last):
        return [str(n) for n in range(int(first), int(last) + 1)]
    return [first, last]


def citations(text):
    """Yields (offset, document name, section) for every cited section in `text`."""
    for doc in DOC_RE.finditer(text):
        pos = doc.end()
        m = FIRST_RE.match(text, pos)
        if not m:
            continue
        pos = m.end()
        while True:
            item = ITEM_RE.match(text, pos)
            if not item:
                break
            for section in expand(item.group(1), item.group(2)):
                yield item.start(), doc.group(1), section
            pos = item.end()
            sep = NEXT_RE.match(text, pos)
            if not sep:
                break
            pos = sep.end()


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def main(argv):
    args = [a for a in argv[1:] if a not in ("-v", "--verbose")]
    verbose = len(args) != len(argv) - 1
    if len(args) != 1 or not os.path.isdir(args[0]):
        print("usage: citations_test.py PROJECT_ROOT [-v]", file=sys.stderr)
        return 2
    root = os.path.abspath(args[0])

    sections = {}  # document name -> set of heading numbers, or None when the file is missing

    def known(name):
        if name not in sections:
            path = os.path.join(root, "docs", name + ".md")
            sections[name] = section_numbers(path) if os.path.isfile(path) else None
        return sections[name]

    checked = 0
    unresolved = 0
    stale = 0
    for rel in list_files(root):
        if skipped(rel) or not is_source(rel):
            continue
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            print(f"{rel}: cannot read: {e}")
            unresolved += 1
            continue
        for offset, name, section in citations(text):
            checked += 1
            where = f"{rel}:{line_of(text, offset)}"
            cited = f"docs/{name}.md §{section}"
            numbers = known(name)
            if numbers is None:
                print(f"{where}: {cited}: docs/{name}.md does not exist")
                unresolved += 1
            elif section not in numbers:
                print(f"{where}: {cited}: docs/{name}.md has no heading numbered {section}")
                unresolved += 1
            elif verbose:
                print(f"{where}: {cited}: ok")
        for m in STALE_RE.finditer(text):
            print(f"{rel}:{line_of(text, m.start())}: reference to '{m.group(1)}', which is not "
                  f"part of the project; cite docs/protocol.md or docs/conventions.md instead")
            stale += 1

    summary = f"citations: {checked} checked, {unresolved} unresolved"
    if stale:
        summary += f", {stale} reference(s) to documents outside the project"
    print(summary)
    return 1 if unresolved or stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
