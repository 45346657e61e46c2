"""`cmake --install` puts azhub, its man pages and completions in the standard places, and
`cpack -G DEB` makes a package whose Depends come from dpkg-shlibdeps and whose azhub runs."""

import os
import shutil
import subprocess
import tempfile
import unittest

EXPECTED = [
    "bin/azhub",
    "share/bash-completion/completions/azhub",
    "share/zsh/vendor-completions/_azhub",
    "share/fish/vendor_completions.d/azhub.fish",
    "share/man/man1/azhub.1",
] + ["share/man/man1/azhub-%s.1" % g
     for g in ("sas", "send", "listen", "twin", "method", "emulate", "service")]


def build_dir():
    path = os.environ.get("AZHUB_BUILD_DIR")
    if not path:
        raise unittest.SkipTest("AZHUB_BUILD_DIR not set")
    return path


class InstallTest(unittest.TestCase):
    def test_cmake_install(self):
        with tempfile.TemporaryDirectory() as prefix:
            proc = subprocess.run(["cmake", "--install", build_dir(), "--prefix", prefix],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            for path in EXPECTED:
                self.assertTrue(os.path.isfile(os.path.join(prefix, path)), path)
            version = subprocess.run([os.path.join(prefix, "bin/azhub"), "--version"],
                                     capture_output=True, text=True, timeout=30)
            self.assertEqual(version.returncode, 0)
            self.assertRegex(version.stdout, r"^azhub \d+\.\d+\.\d+\n$")

    @unittest.skipUnless(shutil.which("cpack") and shutil.which("dpkg-deb") and
                         shutil.which("dpkg-shlibdeps"), "needs cpack and dpkg-dev")
    def test_deb_package(self):
        config = os.path.join(build_dir(), "CPackConfig.cmake")
        with tempfile.TemporaryDirectory() as out:
            proc = subprocess.run(["cpack", "-G", "DEB", "--config", config, "-B", out],
                                  capture_output=True, text=True, timeout=600)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            debs = [f for f in os.listdir(out) if f.endswith(".deb")]
            self.assertEqual(len(debs), 1, os.listdir(out))
            deb = os.path.join(out, debs[0])
            fields = subprocess.run(["dpkg-deb", "-f", deb, "Package", "Depends"],
                                    capture_output=True, text=True, check=True).stdout
            self.assertIn("Package: azhub", fields)
            for lib in ("libssl3", "libpaho-mqtt1.3", "libsqlite3-0", "libc6"):
                self.assertIn(lib, fields)
            root = os.path.join(out, "root")
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True, timeout=60)
            for path in EXPECTED:
                self.assertTrue(os.path.isfile(os.path.join(root, "usr", path)), path)
            version = subprocess.run([os.path.join(root, "usr/bin/azhub"), "--version"],
                                     capture_output=True, text=True, timeout=30)
            self.assertEqual(version.returncode, 0, version.stderr)
            self.assertTrue(version.stdout.startswith("azhub "), version.stdout)


if __name__ == "__main__":
    unittest.main()
