"""bash, zsh and fish complete azhub's subcommands, flags, choices and file names, and the
completion files are exactly what completions/generate.py makes from the binary's --help."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETIONS = os.path.join(ROOT, "completions")
sys.path.insert(0, COMPLETIONS)
import generate  # noqa: E402


def binary():
    path = os.environ.get("AZHUB_BIN")
    if not path:
        raise unittest.SkipTest("AZHUB_BIN not set")
    return path


class GeneratedFilesTest(unittest.TestCase):
    def test_files_match_the_binary(self):
        proc = subprocess.run([sys.executable, os.path.join(COMPLETIONS, "generate.py"), "--check",
                               binary()], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_every_flag_is_in_every_shell(self):
        root = generate.walk(binary())
        texts = {}
        for name in ("azhub.bash", "_azhub", "azhub.fish"):
            with open(os.path.join(COMPLETIONS, name)) as f:
                texts[name] = f.read()
        for cmd in generate.all_commands(root):
            for option in cmd.options:
                for flag in option.names:
                    for name, text in texts.items():
                        needle = ("-l " + flag[2:] if flag.startswith("--") else "-s " + flag[1:]) \
                            if name.endswith(".fish") else flag
                        with self.subTest(shell=name, command=" ".join(cmd.path), flag=flag):
                            self.assertIn(needle, text)


# (command line, exact candidates) for a few partial command lines; a trailing space means the
# cursor is on a new, empty word.
CASES = [
    ("azhub se", ["send", "service"]),
    ("azhub service ", ["c2d", "device", "feedback", "invoke", "job", "monitor", "query", "stats", "twin"]),
    ("azhub service job ", ["cancel", "list", "schedule-method", "schedule-twin", "show"]),
    ("azhub service job schedule-method --conn", ["--connect-timeout", "--connection-string"]),
    ("azhub service device ", ["create", "delete", "list", "show"]),
    ("azhub service device create d1 --au", ["--auth"]),
    ("azhub service device create d1 --auth ", ["sas", "x509-ca", "x509-thumbprint"]),
    ("azhub -o json service twin update d1 --e", ["--etag"]),
    ("azhub service c2d send d1 --ack p", ["positive"]),
    ("azhub service c2d send d1 --transport ", ["amqp", "amqp-ws", "rest"]),
    ("azhub service feedback --transport amqp", ["amqp", "amqp-ws"]),
    ("azhub --output ", ["json", "text"]),
    ("azhub twin ", ["get", "patch", "watch"]),
    ("azhub listen --count 3 --ti", ["--timeout"]),
    ("azhub emulate --in-", ["--in-memory"]),
]


class ShellTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        for name in ("alpha.pem", "alpine.key", "beta.txt"):
            open(os.path.join(cls.tmp.name, name), "w").close()
        os.mkdir(os.path.join(cls.tmp.name, "aldir"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def file_cases(self):
        # (command line, candidates) where the candidates are file names under tmp.
        return [("azhub send --file al", ["aldir", "alpha.pem", "alpine.key"]),
                ("azhub service device show d1 --ca-file alp", ["alpha.pem", "alpine.key"]),
                ("azhub listen --cert-key alpi", ["alpine.key"]),
                ("azhub emulate --client-ca alpha", ["alpha.pem"])]

    def dir_cases(self):
        return [("azhub emulate --state-dir al", ["aldir"])]

    @unittest.skipUnless(shutil.which("bash"), "bash not installed")
    def test_bash(self):
        script = ["source %s" % os.path.join(COMPLETIONS, "azhub.bash"),
                  'c() { read -ra COMP_WORDS <<< "$1"; [[ $1 == *" " ]] && COMP_WORDS+=(""); '
                  'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _azhub; '
                  'printf "%s\\n" "${COMPREPLY[@]}" | sort | paste -sd" "; }']
        cases = CASES + self.file_cases() + self.dir_cases()
        script += ["c %s" % shlex_quote(line) for line, _ in cases]
        out = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
                             capture_output=True, text=True, cwd=self.tmp.name, timeout=60)
        self.assertEqual(out.stderr, "")
        got = out.stdout.split("\n")[:len(cases)]
        for (line, want), have in zip(cases, got):
            with self.subTest(line=line):
                self.assertEqual(have.split(), sorted(want))

    @unittest.skipUnless(shutil.which("fish"), "fish not installed")
    def test_fish(self):
        for line, want in CASES + self.file_cases() + self.dir_cases():
            with self.subTest(line=line):
                out = subprocess.run(["fish", "--no-config", "-c",
                                      "source %s; complete -C %s" % (
                                          os.path.join(COMPLETIONS, "azhub.fish"), shlex_quote(line))],
                                     capture_output=True, text=True, cwd=self.tmp.name, timeout=60)
                self.assertEqual(out.stderr, "")
                have = sorted(l.split("\t")[0].rstrip("/") for l in out.stdout.splitlines())
                self.assertEqual(have, sorted(want))

    @unittest.skipUnless(shutil.which("zsh"), "zsh not installed")
    def test_zsh_candidates(self):
        # The candidate logic, called the way _azhub calls it ($words, $CURRENT).
        script = ["source %s" % os.path.join(COMPLETIONS, "_azhub"),
                  'c() { words=(${(z)1}); [[ $1 == *" " ]] && words+=(""); CURRENT=${#words}; '
                  '_azhub_candidates; print -- --END--; }']
        cases = CASES + [(line, "files") for line, _ in self.file_cases()] + \
            [(line, "dirs") for line, _ in self.dir_cases()]
        script += ["c %s" % shlex_quote(line) for line, _ in cases]
        out = subprocess.run(["zsh", "-f", "-c", "\n".join(script)], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.stderr, "")
        blocks = out.stdout.split("--END--\n")
        for (line, want), block in zip(cases, blocks):
            with self.subTest(line=line):
                kind, *candidates = block.splitlines()
                if want in ("files", "dirs"):
                    self.assertEqual(kind, want)
                    continue
                # zsh filters by the typed prefix itself; do the same here.
                prefix = line.split(" ")[-1]
                names = sorted(c.split(":")[0].replace("\\:", ":") for c in candidates
                               if c.startswith(prefix))
                self.assertEqual((kind, names), ("words", sorted(want)))

    @unittest.skipUnless(shutil.which("zsh"), "zsh not installed")
    def test_zsh_interactive(self):
        # A real interactive zsh (in a zpty) with compinit: TAB completes unique candidates in
        # the line editor; a widget bound to ^X prints the buffer.
        fpath = tempfile.mkdtemp()
        try:
            shutil.copy(os.path.join(COMPLETIONS, "_azhub"), fpath)
            cases = [("azhub service de", "azhub service device "),
                     ("azhub service device create x --au", "azhub service device create x --auth "),
                     ("azhub service device create x --auth x509-t",
                      "azhub service device create x --auth x509-thumbprint "),
                     ("azhub -o js", "azhub -o json "),
                     ("azhub send --file alph", "azhub send --file alpha.pem ")]
            setup = ('PS1=""; PROMPT_EOL_MARK=""; unsetopt zle_bracketed_paste 2>/dev/null; '
                     'fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D; '
                     'bindkey "^I" complete-word; '
                     '_show() { print -rn -- $\'\\nBUF<\'"$BUFFER"$\'>END\\n\'; BUFFER=""; }; '
                     'zle -N _show; bindkey "^X" _show; cd %s; print READY') % (fpath, self.tmp.name)
            script = ["zmodload zsh/zpty", "zpty -b z zsh -f -i",
                      "zpty -w z %s" % shlex_quote(setup), "zpty -r z line '*READY*'"]
            for line, _ in cases:
                script += ["zpty -w -n z %s$'\\t\\x18'" % shlex_quote(line),
                           "zpty -r z out '*>END*'",
                           "print -r -- \"${${out##*BUF<}%%>END*}\""]
            out = subprocess.run(["zsh", "-f", "-c", "\n".join(script)], capture_output=True,
                                 text=True, timeout=60)
            got = out.stdout.splitlines()
            self.assertEqual(len(got), len(cases), out.stdout + out.stderr)
            for (line, want), have in zip(cases, got):
                with self.subTest(line=line):
                    self.assertEqual(have, want)
        finally:
            shutil.rmtree(fpath)


def shlex_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    unittest.main()
