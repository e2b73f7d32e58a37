"""The status server itself (spec probes.md 3, 10, 12, 2.4): routing and Go's
answers, loopback-only routes, request limits, bounded resources, TIME_WAIT,
keep-alive on the status port, SIGTERM."""
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from agent_helpers import Agent, AppServer, free_port, get, raw_request, time_wait_count

P = "/app-health/app/readyz"


@pytest.fixture(scope="module")
def app():
    a = AppServer().route("/", status=200)
    yield a
    a.close()


@pytest.fixture
def agent(app):
    ag = Agent({P: {"httpGet": {"path": "/", "port": app.port}},
                "/app-health/app/livez": {"tcpSocket": {"port": app.port}}})
    yield ag
    assert ag.stop() == 0, ag.output()


def test_404_body_and_headers(agent):
    st, h, body = get(agent.port, "/bad-path-should-be-404")
    assert st == 404
    assert body == b"404 page not found\n"
    assert h["content-type"] == "text/plain; charset=utf-8"
    assert h["x-content-type-options"] == "nosniff"


def test_exact_routes_do_not_take_trailing_slash(agent):
    assert get(agent.port, "/healthz/ready/")[0] == 404
    assert get(agent.port, "/healthz/ready")[0] == 200


def test_subtree_redirect_and_root(agent):
    st, h, body = get(agent.port, "/app-health?x=1")
    assert st == 301
    assert h["location"] == "/app-health/?x=1"
    assert h["content-type"] == "text/html; charset=utf-8"
    assert body == b'<a href="/app-health/?x=1">Moved Permanently</a>.\n\n'
    st, _, body = get(agent.port, "/app-health/")
    assert st == 400
    assert body == b"app prober config does not exists for /app-health/"


@pytest.mark.parametrize("path,loc", [
    ("//app-health/app/readyz", "/app-health/app/readyz"),
    ("/app-health/x/../app/readyz", "/app-health/app/readyz"),
    ("/./nothing//here/", "/nothing/here/"),
])
def test_unclean_paths_redirect(agent, path, loc):
    st, h, _ = get(agent.port, path)
    assert st == 301
    assert h["location"] == loc


def test_trailing_slash_prober_path_is_400(agent):
    assert get(agent.port, P + "/")[0] == 400


def test_query_ignored_and_path_decoded(agent, app):
    app.reset()
    assert get(agent.port, "/app-health/app/ready%7A?x=1")[0] == 200
    assert app.requests[0].target == "/"


def test_probe_answer_has_only_a_status(agent):
    st, h, body = get(agent.port, P)
    assert st == 200 and body == b""
    assert h["content-length"] == "0"
    assert "content-type" not in h


def test_quitquitquit_method_and_loopback(agent):
    st, _, body = get(agent.port, "/quitquitquit")
    assert st == 405
    assert body == b"Method Not Allowed\n"
    assert get(agent.port, "/debug/ndsz") == (404, get(agent.port, "/debug/ndsz")[1], b"{}")
    assert get(agent.port, "/debug/pprof/")[0] == 404


def test_quitquitquit_post_stops_agent(app):
    ag = Agent("{}")
    st, _, body = get(ag.port, "/quitquitquit", method="POST")
    assert st == 200 and body == b"OK"
    assert ag.proc.wait(timeout=10) == 0
    assert "SIGTERM" in ag.output()
    ag.stop()


def test_bad_requests_answered_like_go(agent):
    raw = raw_request(agent.port, b"GET / HTTP/1.1\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert raw.endswith(b"400 Bad Request: missing required Host header")
    raw = raw_request(agent.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 431 ")
    raw = raw_request(agent.port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 505 ")
    raw = raw_request(agent.port, b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ")
    raw = raw_request(agent.port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400 ")


def test_keepalive_and_pipelining_on_status_port(agent):
    req = (f"GET {P} HTTP/1.1\r\nHost: x\r\n\r\n"
           f"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
           f"GET {P} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
    raw = raw_request(agent.port, req)
    assert raw.count(b"HTTP/1.1 200 OK") == 2
    assert raw.count(b"HTTP/1.1 404 Not Found") == 1
    assert raw.rstrip().endswith(b"Connection: close")


def test_request_body_is_discarded(agent):
    req = (f"POST {P} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           f"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
    raw = raw_request(agent.port, req)
    assert raw.count(b"HTTP/1.1 200 OK") == 1
    assert raw.count(b"HTTP/1.1 404") == 1


def test_http10_closes(agent):
    raw = raw_request(agent.port, f"GET {P} HTTP/1.0\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert b"Connection: close" in raw


def test_thousand_idle_and_slow_connections_do_not_stop_probes(agent):
    socks = []
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", agent.port))
            if i % 2:
                s.sendall(b"GET /app-health/app/readyz HTTP/1.1\r\nHo")  # slow sender
            socks.append(s)
        t0 = time.time()
        for _ in range(20):
            assert get(agent.port, P)[0] == 200
        assert get(agent.port, "/healthz/ready")[0] == 200
        assert time.time() - t0 < 5
    finally:
        for s in socks:
            s.close()


def test_connection_limit_evicts_oldest_idle(app):
    ag = Agent({P: {"httpGet": {"path": "/", "port": app.port}}},
               args=["--max-connections", "50"])
    socks = []
    try:
        for _ in range(80):
            s = socket.create_connection(("127.0.0.1", ag.port))
            s.sendall(b"G")  # a started head: accepted at once (TCP_DEFER_ACCEPT)
            socks.append(s)
            time.sleep(0.002)
        time.sleep(0.3)
        assert get(ag.port, P)[0] == 200
        # the first connections were dropped to admit the newer ones
        socks[0].settimeout(2)
        try:
            assert socks[0].recv(10) == b""
        except ConnectionResetError:
            pass  # dropped with RST
    finally:
        for s in socks:
            s.close()
        ag.stop()


def test_no_time_wait_on_probe_side(app):
    ag = Agent({P: {"httpGet": {"path": "/", "port": app.port}},
                "/app-health/app/livez": {"tcpSocket": {"port": app.port}}})
    try:
        before = time_wait_count("127.0.0.6")
        for i in range(200):
            assert get(ag.port, P if i % 2 else "/app-health/app/livez")[0] == 200
        after = time_wait_count("127.0.0.6")
        assert after - before <= 5, (before, after)
    finally:
        ag.stop()


def test_sigterm_refuses_new_connections_and_finishes_in_flight():
    slow = AppServer().route("/slow", delay=1.0)
    ag = Agent({P: {"httpGet": {"path": "/slow", "port": slow.port}, "timeoutSeconds": 5}})
    try:
        res = []
        t = threading.Thread(target=lambda: res.append(get(ag.port, P)[0]))
        t.start()
        time.sleep(0.3)
        ag.proc.terminate()
        time.sleep(0.2)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ag.port), timeout=1)
        t.join()
        assert res == [200]
        assert ag.proc.wait(timeout=10) == 0
    finally:
        ag.stop()
        slow.close()


def test_sigterm_grace_ends_hung_probe():
    slow = AppServer().route("/slow", delay=10)
    ag = Agent({P: {"httpGet": {"path": "/slow", "port": slow.port}, "timeoutSeconds": 30}},
               args=["--grace-ms", "500"])
    try:
        got = []

        def hung():
            try:
                got.append(get(ag.port, P, timeout=15)[0])
            except (OSError, IndexError):
                got.append("closed")

        t = threading.Thread(target=hung)
        t.start()
        time.sleep(0.3)
        t0 = time.time()
        ag.proc.terminate()
        assert ag.proc.wait(timeout=10) == 0
        assert time.time() - t0 < 3
        t.join()
        assert got == ["closed"]  # the probe was cut at the end of the grace
    finally:
        ag.stop()
        slow.close()


# ---- loopback-only routes from a non-loopback peer (needs a namespace) ----

def netns(name):
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root to create a network namespace (CI runs as root)")
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode:
        pytest.skip("cannot create a network namespace: " + r.stderr.strip())
    return name


def nsrun(ns, *cmd):
    return subprocess.run(["ip", "netns", "exec", ns] + list(cmd), capture_output=True,
                          text=True, timeout=30)


def test_loopback_only_routes_from_pod_ip():
    ns = netns("ska-lo")
    try:
        nsrun(ns, "ip", "link", "set", "lo", "up")
        # a pod-like address: not in 127.0.0.0/8, so not loopback for the agent
        nsrun(ns, "ip", "addr", "add", "10.1.2.3/32", "dev", "lo")
        ag = Agent("{}", netns=ns, env={"INSTANCE_IP": "10.1.2.3"})
        try:
            def curl(*a):
                r = nsrun(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *a)
                return r.stdout
            base = f"http://10.1.2.3:{ag.port}"
            local = f"http://127.0.0.1:{ag.port}"
            assert curl("-X", "POST", "--interface", "10.1.2.3", base + "/quitquitquit") == "403"
            assert curl("--interface", "10.1.2.3", base + "/quitquitquit") == "403"
            assert curl("--interface", "10.1.2.3", base + "/debug/ndsz") == "403"
            assert curl("--interface", "10.1.2.3", base + "/debug/pprof/") == "403"
            assert curl(local + "/debug/ndsz") == "404"
            assert curl("--interface", "10.1.2.3", base + "/healthz/ready") == "200"
            r = nsrun(ns, "curl", "-s", "--interface", "10.1.2.3", base + "/quitquitquit")
            assert r.stdout == "Only requests from localhost are allowed\n"
            assert curl("-X", "POST", "-g", f"http://[::1]:{ag.port}/quitquitquit") == "200"
            assert ag.proc.wait(timeout=10) == 0
        finally:
            ag.stop()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_ipv6_mode_probes_from_v6_source():
    ns = netns("ska-v6")
    try:
        nsrun(ns, "ip", "link", "set", "lo", "up")
        nsrun(ns, "ip", "addr", "add", "::6/128", "dev", "lo")
        # the pod IP; no non-loopback interface is up, so the address list is
        # just INSTANCE_IP and the agent derives IPv6 mode
        nsrun(ns, "ip", "-6", "addr", "add", "fd00::5/128", "dev", "lo")
        port = free_port()
        script = ("import socket,sys\n"
                  "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  f"s.bind(('fd00::5',{port}));s.listen(8)\n"
                  "print('up',flush=True)\n"
                  "while True:\n"
                  " c,a=s.accept();d=c.recv(4096).decode()\n"
                  " host=[l for l in d.split('\\r\\n') if l.startswith('Host:')][0]\n"
                  " c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\nX-Peer: '+a[0].encode()+b'\\r\\n\\r\\n')\n"
                  " sys.stderr.write(a[0]+' '+host+'\\n');sys.stderr.flush();c.close()\n")
        srv = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", script],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert srv.stdout.readline().strip() == "up"
        ag = Agent({P: {"httpGet": {"path": "/", "port": port}},
                    "/app-health/app/livez": {"tcpSocket": {"port": port}}},
                   netns=ns, env={"INSTANCE_IP": "fd00::5"})
        try:
            assert "(IPv6 mode)" in ag.output()
            r = nsrun(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://127.0.0.1:{ag.port}{P}")
            assert r.stdout == "200"
            r = nsrun(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                      f"http://127.0.0.1:{ag.port}/app-health/app/livez")
            assert r.stdout == "200"
        finally:
            ag.stop()
            srv.kill()
            _, err = srv.communicate(timeout=5)
        assert f"::6 Host: [fd00::5]:{port}" in err
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
