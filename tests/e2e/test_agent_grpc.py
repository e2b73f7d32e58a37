"""The gRPC health prober (spec probes.md section 8, edge cases 18.12,
18.14-16) against a real gRPC server (python3-grpcio)."""
import os
import re
import shutil
import subprocess
import time

import pytest

import agent_extras_helpers as h
from agent_extras_helpers import (HealthServer, SERVING, NOT_SERVING, UNKNOWN,
                                  SERVICE_UNKNOWN, grpc_probe)


@pytest.fixture(scope="module", autouse=True)
def need_driver():
    if not os.access(h.driver_path(), os.X_OK):
        pytest.fail("driver not built: " + h.driver_path())
    pytest.importorskip("grpc")


@pytest.fixture
def server(request):
    servers = []

    def make(**kw):
        s = HealthServer(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


@pytest.mark.parametrize("st,want", [(SERVING, 200), (NOT_SERVING, 500), (UNKNOWN, 500),
                                     (SERVICE_UNKNOWN, 500)])
def test_status_mapping(server, st, want):
    s = server(statuses={"": st})
    status, reason, _ = grpc_probe("127.0.0.1", s.port)
    assert status == want, reason
    assert len(s.calls) == 1


def test_unknown_service_not_found_is_500(server):
    s = server(statuses={"other": SERVING})
    status, reason, _ = grpc_probe("127.0.0.1", s.port, service="missing")
    assert status == 500
    assert "grpc-status 5" in reason  # NOT_FOUND


def test_no_health_service_unimplemented_is_500(server):
    s = server(health=False)
    status, reason, _ = grpc_probe("127.0.0.1", s.port)
    assert status == 500
    assert "grpc-status 12" in reason  # UNIMPLEMENTED


def test_closed_port_is_500_at_once():
    port = h.free_port()
    status, reason, elapsed = grpc_probe("127.0.0.1", port, timeout_ms=2000)
    assert status == 500
    assert "refused" in reason.lower()
    # skiff decision: a refused connection fails at once (grpc-go would retry
    # until the deadline; both answer 500).
    assert elapsed < 1000


def test_slow_server_deadline(server):
    s = server(delay=3.0)
    t0 = time.monotonic()
    status, reason, elapsed = grpc_probe("127.0.0.1", s.port, timeout_ms=400)
    assert status == 500
    # our deadline, or the server enforcing the grpc-timeout we sent
    assert "deadline" in reason.lower()
    assert 350 <= elapsed < 1500, elapsed
    assert time.monotonic() - t0 < 2.5


def test_service_name_forwarded_and_null_is_empty(server):
    s = server(statuses={"foo.Bar": SERVING, "": NOT_SERVING})
    assert grpc_probe("127.0.0.1", s.port, service="foo.Bar")[0] == 200
    assert grpc_probe("127.0.0.1", s.port)[0] == 500          # null service
    assert grpc_probe("127.0.0.1", s.port, service="")[0] == 500  # "" service
    assert [c[0] for c in s.calls] == ["foo.Bar", "", ""]


def test_user_agent_prefix(server):
    s = server()
    assert grpc_probe("127.0.0.1", s.port, ua="kube-probe/1.23")[0] == 200
    assert grpc_probe("127.0.0.1", s.port)[0] == 200
    ua1, ua2 = s.calls[0][2].get("user-agent", ""), s.calls[1][2].get("user-agent", "")
    assert ua1.startswith("kube-probe/1.23 grpc-skiff/"), ua1
    assert ua2.startswith("grpc-skiff/"), ua2


def test_source_address_and_new_connection_per_probe(server):
    s = server()
    for _ in range(3):
        assert grpc_probe("127.0.0.1", s.port)[0] == 200
    peers = [c[1] for c in s.calls]
    for p in peers:
        assert re.match(r"ipv4:127\.0\.0\.6:\d+$", p), p
    assert len(set(peers)) == 3, peers  # a new connection (source port) each time


def test_legacy_localhost_destination(server):
    s = server()
    assert grpc_probe("localhost", s.port)[0] == 200
    assert s.calls[0][1].startswith("ipv4:127.0.0.6:")


def test_ipv6_source_in_namespace():
    """IPv6 mode probes from ::6: needs ::6 on lo, so run in a namespace."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root to create a network namespace with ::6 on lo")
    ns = "skx-grpc6-%d" % os.getpid()
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", "::6/128", "dev", "lo", "nodad"],
                       check=True)
        port = 25050
        code = ("import sys, time; sys.path.insert(0, %r); import agent_extras_helpers as h;"
                "s = h.HealthServer(host='::1', port=%d); print('up', flush=True); time.sleep(30)"
                % (os.path.dirname(os.path.abspath(__file__)), port))
        srv = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code],
                               stdout=subprocess.PIPE, text=True)
        try:
            assert srv.stdout.readline().strip() == "up"
            status, reason, _ = grpc_probe("::1", port, ipv6=True, netns=ns)
            assert status == 200, reason
            # IPv4 destination from ::6: no suitable address -> 500
            status, reason, _ = grpc_probe("127.0.0.1", port, ipv6=True, netns=ns)
            assert status == 500
        finally:
            srv.kill()
            srv.wait()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_no_time_wait_left_behind(server):
    """Probe sockets are closed with RST once the outcome is known, so none
    of them waits in TIME_WAIT (kubernetes#115143's concern)."""
    if not shutil.which("ss"):
        pytest.skip("needs ss (iproute2)")
    s = server()
    for _ in range(30):
        assert grpc_probe("127.0.0.1", s.port)[0] == 200
    time.sleep(0.3)
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True,
                         text=True).stdout
    mine = [l for l in out.splitlines() if "127.0.0.6:" in l and ":%d" % s.port in l]
    assert len(mine) <= 2, mine


# ---- through the real `skiff agent` (/app-health/<c>/<kind> -> gRPC) ----

def test_agent_grpc_probers(server, tmp_path):
    ok = server(statuses={"": SERVING, "db": NOT_SERVING})
    bad = server(health=False)
    closed = h.free_port()
    probers = {
        "/app-health/a/livez": {"grpc": {"port": ok.port, "service": None}, "timeoutSeconds": 1},
        "/app-health/a/readyz": {"gRPC": {"port": ok.port, "service": "db"}, "timeoutSeconds": 1},
        "/app-health/b/livez": {"grpc": {"port": bad.port}, "timeoutSeconds": 1},
        "/app-health/c/livez": {"grpc": {"port": closed}, "timeoutSeconds": 1},
        "/app-health/d/livez": {"grpc": {"port": ok.port}},  # no timeout: skiff uses 1 s
    }
    import json
    a = h.Agent({"ISTIO_KUBE_APP_PROBERS": json.dumps(probers)}, tmp_path)
    try:
        assert a.exit_code is None, a.startup_error
        assert a.get("/app-health/a/livez", {"User-Agent": "kube-probe/1.23"})[0] == 200
        assert a.get("/app-health/a/readyz")[0] == 500
        assert a.get("/app-health/b/livez")[0] == 500
        assert a.get("/app-health/c/livez")[0] == 500
        assert a.get("/app-health/d/livez")[0] == 200
    finally:
        a.stop()
    assert [c[0] for c in ok.calls] == ["", "db", ""]
    assert ok.calls[0][2]["user-agent"].startswith("kube-probe/1.23 grpc-skiff/")
    assert ok.calls[0][1].startswith("ipv4:127.0.0.6:")


def test_agent_grpc_slow_app_bounded_by_timeout(server, tmp_path):
    slow = server(delay=3.0)
    import json
    probers = {"/app-health/s/readyz": {"grpc": {"port": slow.port}, "timeoutSeconds": 1}}
    a = h.Agent({"ISTIO_KUBE_APP_PROBERS": json.dumps(probers)}, tmp_path)
    try:
        t0 = time.monotonic()
        assert a.get("/app-health/s/readyz")[0] == 500
        assert 0.9 <= time.monotonic() - t0 < 2.0
    finally:
        a.stop()
