#!/usr/bin/python3
"""Run every test layer of skiff and print one closing count.

    tests/run.py [--build build] [--asan-build build-asan] [--layer NAME ...]

Layers, in order:
  unit          cmocka programs registered with meson (suite "unit"), TAP output
  conformance   pytest over Istio 1.13's vectors (tests/conformance)
  e2e           pytest against real peers: netns + iptables, HTTP/gRPC servers
  unit-asan     the unit programs again, built with ASan+UBSan (+LeakSanitizer)
  conformance-asan   the conformance tests again, driving the sanitizer build
  fuzz-smoke    every libFuzzer harness (build-fuzz) for a few seconds on its
                seeds; a crash, leak or sanitizer report fails it

Each test case counts once per layer. The last line is
"N passed, N failed, N skipped"; the exit status is 1 when anything failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"  # Debian's, where pytest and grpcio are installed


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures

    def line(self):
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


TAP_LINE = re.compile(r"^(not ok|ok)\b\s*\d*\s*(?:-\s*)?(.*)$")


def run_unit(build, label, extra_env=None):
    """Run each meson 'unit' test binary and count its TAP lines."""
    t = Tally()
    out = subprocess.run(["meson", "introspect", build, "--tests"],
                         capture_output=True, text=True, check=True).stdout
    tests = [x for x in json.loads(out) if "unit" in x.get("suite", [])
             or any(s.endswith(":unit") for s in x.get("suite", []))]
    for test in tests:
        env = dict(os.environ)
        env.update(test.get("env") or {})
        env.update(extra_env or {})
        env["CMOCKA_MESSAGE_OUTPUT"] = "TAP"
        try:
            p = subprocess.run(test["cmd"], env=env, capture_output=True, text=True,
                               timeout=test.get("timeout") or 300, cwd=ROOT)
            output, rc = p.stdout + p.stderr, p.returncode
        except subprocess.TimeoutExpired as exc:
            output, rc = (exc.stdout or b"").decode(errors="replace") + "\nTIMEOUT", -1
        seen = 0
        for raw in output.splitlines():
            m = TAP_LINE.match(raw.strip())
            if not m or raw.startswith("#"):
                continue
            seen += 1
            name = f"{label}/{test['name']}/{m.group(2)}"
            if "# SKIP" in raw.upper():
                t.skipped += 1
            elif m.group(1) == "ok":
                t.passed += 1
            else:
                t.failed += 1
                t.failures.append(name)
        # A crash, a sanitizer report or a leak makes the program exit non-zero
        # even if every TAP line said ok: that is a failure of its own.
        if rc != 0 and (seen == 0 or t.failed == 0 or "Sanitizer" in output):
            if not any(f.startswith(f"{label}/{test['name']}/") for f in t.failures):
                t.failed += 1
                t.failures.append(f"{label}/{test['name']} (exit {rc})")
        if rc != 0:
            sys.stdout.write(f"--- {label}/{test['name']} exited {rc}:\n{output[-6000:]}\n")
    return t


def run_pytest(path, label, skiff_bin, extra_env=None):
    t = Tally()
    if not os.path.isdir(path) or not any(
            f.startswith("test_") for _, _, fs in os.walk(path) for f in fs):
        return t
    xml_path = os.path.join(ROOT, "build", f"pytest-{label}.xml")
    os.makedirs(os.path.dirname(xml_path), exist_ok=True)
    env = dict(os.environ)
    env["SKIFF_BIN"] = skiff_bin
    env.update(extra_env or {})
    cmd = [PYTHON, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider",
           f"--junitxml={xml_path}", path]
    p = subprocess.run(cmd, env=env, cwd=ROOT)
    if not os.path.exists(xml_path):
        t.failed += 1
        t.failures.append(f"{label} (pytest did not run, exit {p.returncode})")
        return t
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        name = f"{label}/{case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            t.failed += 1
            t.failures.append(name)
        elif case.find("skipped") is not None:
            t.skipped += 1
        else:
            t.passed += 1
    os.unlink(xml_path)
    if p.returncode not in (0, 1, 5) and t.failed == 0:
        t.failed += 1
        t.failures.append(f"{label} (pytest exit {p.returncode})")
    return t


def run_fuzz_smoke(build, seconds):
    """Run each fuzz-* harness briefly; each harness counts as one test."""
    import tempfile
    t = Tally()
    fuzz_dir = os.path.join(build, "fuzz")
    if not os.path.isdir(fuzz_dir):
        return t
    for name in sorted(os.listdir(fuzz_dir)):
        path = os.path.join(fuzz_dir, name)
        if not (name.startswith("fuzz-") and os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        short = name[len("fuzz-"):]
        seeds = os.path.join(ROOT, "fuzz", "seeds", short)
        with tempfile.TemporaryDirectory(prefix=f"skiff-fuzz-{short}-") as corpus:
            cmd = [path, f"-max_total_time={seconds}", "-print_final_stats=1", corpus]
            if os.path.isdir(seeds):
                cmd.append(seeds)
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=corpus,
                               timeout=seconds * 4 + 60)
        execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", p.stderr)
        if p.returncode == 0:
            t.passed += 1
            print(f"fuzz {short}: clean, {execs.group(1) if execs else '?'} runs in {seconds}s")
        else:
            t.failed += 1
            t.failures.append(f"fuzz-smoke/{short}")
            sys.stdout.write(f"--- fuzz {short} exited {p.returncode}:\n{p.stderr[-6000:]}\n")
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--asan-build", default="build-asan")
    ap.add_argument("--fuzz-build", default="build-fuzz")
    ap.add_argument("--fuzz-seconds", type=int, default=10)
    ap.add_argument("--layer", action="append",
                    help="run only these layers (repeatable)")
    args = ap.parse_args()
    build = os.path.join(ROOT, args.build)
    asan = os.path.join(ROOT, args.asan_build)

    layers = [
        ("unit", lambda: run_unit(build, "unit")),
        ("conformance", lambda: run_pytest(os.path.join(ROOT, "tests/conformance"),
                                           "conformance", os.path.join(build, "skiff"))),
        ("e2e", lambda: run_pytest(os.path.join(ROOT, "tests/e2e"), "e2e",
                                   os.path.join(build, "skiff"))),
    ]
    if os.path.isdir(asan):
        san_env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
                   "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
                   "SKIFF_SANITIZED": "1"}
        layers += [
            ("unit-asan", lambda: run_unit(asan, "unit-asan", san_env)),
            ("conformance-asan", lambda: run_pytest(
                os.path.join(ROOT, "tests/conformance"), "conformance-asan",
                os.path.join(asan, "skiff"), san_env)),
        ]
    fuzz = os.path.join(ROOT, args.fuzz_build)
    if os.path.isdir(fuzz):
        layers.append(("fuzz-smoke", lambda: run_fuzz_smoke(fuzz, args.fuzz_seconds)))
    total = Tally()
    summary = []
    for name, fn in layers:
        if args.layer and name not in args.layer:
            continue
        print(f"=== layer {name}", flush=True)
        start = time.monotonic()
        t = fn()
        summary.append(f"{name:18s} {t.line()}  ({time.monotonic() - start:.0f}s)")
        total.add(t)
    print("\n=== summary")
    for s in summary:
        print(s)
    for f in total.failures:
        print(f"FAILED {f}")
    print(total.line())
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main())
