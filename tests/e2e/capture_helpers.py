"""Helpers for the capture e2e tests: a "pod" network namespace and a "peer"
namespace joined by a veth pair, tagged TCP servers inside them, and a
client that reports who answered.

Addresses: peer 10.77.0.1 / fd00:77::1, pod 10.77.0.2 / fd00:77::2.
Namespaces are named skc-<pid>-<n>-pod / -peer and removed afterwards.
"""
import itertools
import os
import subprocess
import sys
import time

import pytest

from conftest import need_root_netns, skiff_bin_path

PY = "/usr/bin/python3"
_counter = itertools.count()

# A server that answers every connection with one line:
#   "<tag> local=<port the socket is bound to> orig=<original dst port|-> src=<peer ip>"
# SO_ORIGINAL_DST (80) tells which port a REDIRECTed connection was for; with
# TPROXY the local address itself is the original destination.
SERVER = r'''
import os, socket, struct, sys, threading
tag, family, transparent = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
ports = [int(p) for p in sys.argv[4:]]
fam = socket.AF_INET6 if family == "6" else socket.AF_INET
socks = []
for port in ports:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if transparent:
        s.setsockopt(socket.IPPROTO_IPV6 if fam == socket.AF_INET6 else socket.SOL_IP, 19, 1)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    s.listen(64)
    socks.append(s)
def orig(c):
    try:
        if fam == socket.AF_INET6:
            raw = c.getsockopt(socket.IPPROTO_IPV6, 80, 28)
            return struct.unpack("!H", raw[2:4])[0]
        raw = c.getsockopt(socket.SOL_IP, 80, 16)
        return struct.unpack("!H", raw[2:4])[0]
    except OSError:
        return "-"
def serve(s):
    while True:
        c, peer = s.accept()
        local = c.getsockname()[1]
        c.sendall(f"{tag} local={local} orig={orig(c)} src={peer[0]}\n".encode())
        c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
'''

CLIENT = r'''
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    c = socket.create_connection((host, port), timeout=3)
    c.settimeout(3)
    print(c.recv(200).decode().strip() or "EMPTY")
except OSError as e:
    print("ERROR", type(e).__name__, e)
'''


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, check=check, **kw)


class Pair:
    """Two namespaces joined by veth; .pod is where capture is installed."""

    def __init__(self, v4=True, v6=True):
        n = f"{os.getpid()}-{next(_counter)}"
        self.pod, self.peer = f"skc-{n}-pod", f"skc-{n}-peer"
        self.servers = []
        try:
            self._setup(n, v4, v6)
        except Exception:
            self.close()
            raise

    def _setup(self, n, v4, v6):
        sh("ip", "netns", "add", self.pod)
        sh("ip", "netns", "add", self.peer)
        sh("ip", "link", "add", f"skcv{n}"[:15], "netns", self.pod, "type", "veth",
           "peer", "name", "veth1", "netns", self.peer)
        self.ifname = f"skcv{n}"[:15]
        self.ns(self.pod, "ip", "link", "set", self.ifname, "name", "eth0")
        self.ns(self.peer, "ip", "link", "set", "veth1", "name", "eth0")
        for ns, last in ((self.peer, 1), (self.pod, 2)):
            self.ns(ns, "ip", "link", "set", "lo", "up")
            if v4:
                self.ns(ns, "ip", "addr", "add", f"10.77.0.{last}/24", "dev", "eth0")
            if v6:
                self.ns(ns, "ip", "-6", "addr", "add", f"fd00:77::{last}/64", "dev", "eth0",
                        "nodad")
            self.ns(ns, "ip", "link", "set", "eth0", "up")
        if v6:
            self.ns(self.pod, "ip", "-6", "addr", "add", "::6/128", "dev", "lo", check=False)
        time.sleep(0.2)

    def ns(self, ns, *cmd, check=True, env=None, input=None):
        full_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full_env[k] = os.environ[k]
        full_env.update(env or {})
        return subprocess.run(["ip", "netns", "exec", ns] + list(cmd), capture_output=True,
                              text=True, check=check, env=full_env, input=input, timeout=60)

    def skiff(self, *args, env=None, ns=None):
        return self.ns(ns or self.pod, skiff_bin_path(), *args, check=False, env=env)

    def server(self, ns, tag, ports, family="4", transparent=False):
        p = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", SERVER, tag, family,
                              "1" if transparent else "0"] + [str(x) for x in ports],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert line.strip() == "ready", f"server {tag} did not start"
        self.servers.append(p)
        return p

    def connect(self, ns, host, port, uid=None):
        cmd = [PY, "-c", CLIENT, host, str(port)]
        if uid is not None:
            cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
        return self.ns(ns, *cmd).stdout.strip()

    def save(self, v6=False):
        return self.ns(self.pod, "ip6tables-save" if v6 else "iptables-save").stdout

    def rules(self, v6=False):
        """Rules and user chains in the pod namespace (no counters/comments)."""
        return sorted(l for l in self.save(v6).splitlines()
                      if l.startswith("-A ") or (l.startswith(":") and not l.split()[1] == "ACCEPT"))

    def close(self):
        for p in self.servers:
            p.kill()
            p.wait()
        sh("ip", "netns", "del", self.pod, check=False)
        sh("ip", "netns", "del", self.peer, check=False)


@pytest.fixture
def pair():
    need_root_netns()
    p = Pair()
    yield p
    p.close()


@pytest.fixture
def pair_v6only():
    need_root_netns()
    p = Pair(v4=False, v6=True)
    yield p
    p.close()
