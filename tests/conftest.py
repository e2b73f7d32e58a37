"""Fixtures shared by the pytest layers (conformance, e2e).

SKIFF_BIN names the binary under test (tests/run.py sets it: build/skiff, or
build-asan/skiff for the sanitizer layer). Conformance vectors are read from
../shared/conformance (or SKIFF_CONFORMANCE_DIR) and skipped with a clear
message when that folder is absent; they are never copied into the project.
"""
import os
import random
import shutil
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def skiff_bin_path():
    # Absolute, so helpers that start skiff from another working directory
    # (namespaces, temp dirs) find the same binary.
    return os.path.abspath(os.environ.get("SKIFF_BIN", os.path.join(ROOT, "build", "skiff")))


def conformance_root():
    return os.environ.get("SKIFF_CONFORMANCE_DIR",
                          os.path.join(os.path.dirname(ROOT), "shared", "conformance"))


def istio_vectors(*parts):
    """Path to a directory of Istio 1.13 vectors, or None when absent."""
    p = os.path.join(conformance_root(), "istio-1.13", *parts)
    return p if os.path.exists(p) else None


@pytest.fixture(scope="session")
def skiff_bin():
    path = skiff_bin_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"skiff binary not found at {path}: run `make build` first")
    return path


@pytest.fixture(scope="session")
def sanitized():
    """True when SKIFF_BIN is the ASan/UBSan build (slower; leak checks on)."""
    return os.environ.get("SKIFF_SANITIZED") == "1"


def need_root_netns():
    """Skip unless we can create network namespaces and run iptables."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces and iptables); CI runs as root")
    for tool in ("ip", "iptables-restore"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool} (make deps installs it)")
    r = subprocess.run(["ip", "netns", "add", "skiff-probe-ns"], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace here: "
                    + r.stderr.decode(errors="replace").strip())
    subprocess.run(["ip", "netns", "del", "skiff-probe-ns"], capture_output=True)


def free_tcp_port(lo, hi, host="127.0.0.1"):
    """A port in [lo, hi] that nothing on HOST is bound to right now. Each
    subsystem's tests keep to their own range so suites can run side by side."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(lo, hi)
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free TCP port in {lo}-{hi} on {host}")


def run_skiff(args, env=None, input=None, timeout=60, check=False):
    """Run the binary under test with exactly ENV (no inherited environment
    beyond PATH and sanitizer options) and return the CompletedProcess."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"):
        if k in os.environ:
            full_env[k] = os.environ[k]
    full_env.update(env or {})
    return subprocess.run([skiff_bin_path()] + list(args), env=full_env, input=input,
                          capture_output=True, text=True, timeout=timeout, check=check)
