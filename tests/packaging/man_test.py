"""The man pages are lint-clean under mandoc and groff, and document every flag that
`azhub <command> --help` lists (so the pages cannot silently drift from the binary)."""

import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN = os.path.join(ROOT, "man")
sys.path.insert(0, os.path.join(ROOT, "completions"))
import generate  # noqa: E402  (the --help parser the completions are made with)

GROUPS = ["sas", "send", "listen", "twin", "method", "emulate", "service"]


def pages():
    return sorted(os.path.join(MAN, f) for f in os.listdir(MAN) if f.endswith(".1"))


def documents_flag(source, flag):
    """True when the mdoc `source` marks up `flag` (`Fl -file`, `Fl c`)."""
    return re.search(r"\bFl %s(?![\w-])" % re.escape(flag[1:]), source) is not None


class ManPageTest(unittest.TestCase):
    def test_a_page_per_command_group(self):
        names = {os.path.basename(p) for p in pages()}
        self.assertEqual(names, {"azhub.1"} | {"azhub-%s.1" % g for g in GROUPS})

    @unittest.skipUnless(shutil.which("mandoc"), "mandoc not installed")
    def test_mandoc_lint(self):
        proc = subprocess.run(["mandoc", "-T", "lint", "-W", "warning"] + pages(),
                              capture_output=True, text=True)
        self.assertEqual((proc.returncode, proc.stdout + proc.stderr), (0, ""))

    @unittest.skipUnless(shutil.which("groff"), "groff not installed")
    def test_groff_warnings(self):
        for page in pages():
            with self.subTest(page=os.path.basename(page)):
                proc = subprocess.run(["groff", "-ww", "-z", "-mandoc", page],
                                      capture_output=True, text=True)
                self.assertEqual((proc.returncode, proc.stderr), (0, ""))

    def test_every_flag_of_the_binary_is_documented(self):
        binary = os.environ.get("AZHUB_BIN")
        if not binary:
            self.skipTest("AZHUB_BIN not set")
        root = generate.walk(binary)
        top = {c.path[-1] for c in root.subcommands}
        self.assertEqual(top, set(GROUPS), "a command group without a man page, or a page too many")
        with open(os.path.join(MAN, "azhub.1")) as f:
            overview = f.read()
        for cmd in generate.all_commands(root):
            page = "azhub.1" if not cmd.path else "azhub-%s.1" % cmd.path[0]
            with open(os.path.join(MAN, page)) as f:
                source = f.read()
            if cmd.path:
                self.assertIn(cmd.path[-1], source, "%s: %s" % (page, " ".join(cmd.path)))
                self.assertIn(cmd.path[0], overview)
            for option in cmd.options:
                if option.longs == ["--help"] and cmd.path:
                    continue  # -h/--help is documented once, in azhub(1)
                for flag in option.names:
                    with self.subTest(command=" ".join(cmd.path), flag=flag):
                        self.assertTrue(documents_flag(source, flag),
                                        "%s does not document %s of 'azhub %s'"
                                        % (page, flag, " ".join(cmd.path)))


if __name__ == "__main__":
    unittest.main()
