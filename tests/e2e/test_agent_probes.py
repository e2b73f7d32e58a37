"""The agent's application probes against real servers (spec probes.md 5-7,
edge cases of section 18): connections, source address, destination,
status mapping, redirects, headers, paths, HTTPS, timeouts, concurrency."""
import threading
import time

import pytest

from agent_helpers import Agent, AppServer, free_port, get

P = "/app-health/app/readyz"


@pytest.fixture
def app():
    a = AppServer()
    a.route("/", status=200)
    yield a
    a.close()


def agent_for(probe, env=None, timeout=None, key=P):
    p = {key: dict(probe)}
    if timeout is not None:
        p[key]["timeoutSeconds"] = timeout
    return Agent(p, env=env)


def probe_status(agent, path=P, headers=None, method="GET", close=True):
    return get(agent.port, path, headers=headers, method=method, close=close)[0]


def run(app, http_get, env=None, headers=None, timeout=None):
    ag = agent_for({"httpGet": dict(http_get, port=http_get.get("port", app.port))},
                   env=env, timeout=timeout)
    try:
        return probe_status(ag, headers=headers), ag
    finally:
        assert ag.stop() == 0, ag.output()


# ---- connections ----

def test_one_connection_per_probe_by_default(app):
    ag = agent_for({"httpGet": {"path": "/", "port": app.port}})
    try:
        for _ in range(3):
            # a caller without Connection: close, so only the agent decides
            assert probe_status(ag, close=False) == 200
        assert len(app.connections) == 3
        assert all(r.values("Connection") == ["close"] for r in app.requests)
    finally:
        assert ag.stop() == 0


@pytest.mark.parametrize("var", ["ENABLE_PROBE_KEEPALIVE_CONNECTIONS",
                                 "ENABLE_PROBE_KEEPALIVE_CONNECTION"])
def test_keepalive_reuses_under_each_spelling(app, var):
    ag = agent_for({"httpGet": {"path": "/", "port": app.port}}, env={var: "true"})
    try:
        for _ in range(4):
            assert probe_status(ag, close=False) == 200
        assert len(app.requests) == 4
        assert len(app.connections) == 1
        assert all(r.values("Connection") == [] for r in app.requests)
        assert f"read from {var}" in ag.output()
    finally:
        assert ag.stop() == 0


def test_keepalive_stale_connection_is_retried_fresh(app):
    # the app drops idle connections without saying so: the pooled one is
    # dead at the next probe, which must still succeed on a new connection
    app.route("/drop", drop_after=True)
    ag = agent_for({"httpGet": {"path": "/drop", "port": app.port}},
                   env={"ENABLE_PROBE_KEEPALIVE_CONNECTIONS": "true"})
    try:
        for _ in range(3):
            assert probe_status(ag, close=False) == 200
            time.sleep(0.2)
        assert len(app.requests) == 3
        assert len(app.connections) == 3
    finally:
        assert ag.stop() == 0


def test_keepalive_caller_close_is_forwarded(app):
    # the kubelet's Connection: close is forwarded, so the app closes anyway
    ag = agent_for({"httpGet": {"path": "/", "port": app.port}},
                   env={"ENABLE_PROBE_KEEPALIVE_CONNECTIONS": "1"})
    try:
        for _ in range(2):
            assert probe_status(ag, close=True) == 200
        assert len(app.connections) == 2
    finally:
        ag.stop()


def test_source_address_is_127_0_0_6(app):
    st, _ = run(app, {"path": "/"})
    assert st == 200
    assert app.connections and all(c[0] == "127.0.0.6" for c in app.connections)


def test_tcp_probe_source_and_result():
    a = AppServer()
    closed = free_port()
    ag = Agent({"/app-health/a/livez": {"tcpSocket": {"port": a.port}},
                "/app-health/a/readyz": {"tcpSocket": {"port": closed}}})
    try:
        assert probe_status(ag, "/app-health/a/livez") == 200
        assert probe_status(ag, "/app-health/a/readyz") == 500
        time.sleep(0.1)
        assert a.connections[0][0] == "127.0.0.6"
        assert a.requests == []  # nothing is sent
    finally:
        ag.stop()
        a.close()


# ---- destination ----

def test_pod_ip_destination_and_host_header():
    a = AppServer(host="127.0.0.2").route("/", status=200)
    try:
        st, _ = run(a, {"path": "/"}, env={"INSTANCE_IP": "127.0.0.2"})
        assert st == 200
        assert a.requests[0].values("Host") == [f"127.0.0.2:{a.port}"]
    finally:
        a.close()


def test_pod_ip_not_reached_when_app_on_other_address(app):
    # app listens on 127.0.0.1 only; INSTANCE_IP points elsewhere
    st, _ = run(app, {"path": "/"}, env={"INSTANCE_IP": "127.0.0.3"})
    assert st == 500
    assert app.connections == []


def test_legacy_localhost_destination(app):
    st, _ = run(app, {"path": "/"}, env={"INSTANCE_IP": "127.0.0.3",
                                         "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION": "true"})
    assert st == 200
    assert app.requests[0].values("Host") == [f"localhost:{app.port}"]


# ---- status mapping ----

@pytest.mark.parametrize("code", [200, 204, 404, 503, 418, 500, 299])
def test_status_passed_through(app, code):
    app.route("/s", status=code)
    st, _ = run(app, {"path": "/s"})
    assert st == code


@pytest.mark.parametrize("code", [300, 304, 305, 307, 308])
def test_3xx_not_followed_answers_200(app, code):
    app.route("/r", status=code)  # no Location
    st, _ = run(app, {"path": "/r"})
    assert st == 200
    assert len(app.requests) == 1


@pytest.mark.parametrize("code", [301, 302, 303])
def test_301_302_303_without_location_is_500(app, code):
    app.route("/r", status=code)
    st, _ = run(app, {"path": "/r"})
    assert st == 500


def test_redirect_same_host_followed(app):
    app.route("/r", status=301, headers=[("Location", "/")])
    st, _ = run(app, {"path": "/r"})
    assert st == 200
    assert [r.target for r in app.requests] == ["/r", "/"]
    assert app.requests[1].values("Referer") == [f"http://127.0.0.1:{app.port}/r"]


def test_redirect_followed_status_passthrough(app):
    app.route("/r", status=302, headers=[("Location", "/gone")]).route("/gone", status=404)
    st, _ = run(app, {"path": "/r"})
    assert st == 404


def test_redirect_other_host_is_success_not_contacted(app):
    app.route("/r", status=302, headers=[("Location", "http://example.com/foo")])
    st, _ = run(app, {"path": "/r"})
    assert st == 200
    assert len(app.requests) == 1


def test_redirect_same_ip_closed_port_is_500(app):
    closed = free_port()
    app.route("/r", status=302, headers=[("Location", f"http://127.0.0.1:{closed}/")])
    st, _ = run(app, {"path": "/r"})
    assert st == 500


@pytest.mark.parametrize("hops,want", [(9, 200), (10, 500)])
def test_redirect_chain_limit(app, hops, want):
    for i in range(hops):
        app.route(f"/c{i}", status=302, headers=[("Location", f"/c{i + 1}")])
    app.route(f"/c{hops}", status=200)
    st, _ = run(app, {"path": "/c0"})
    assert st == want
    assert len(app.requests) == min(hops + 1, 10)


def test_redirect_loop_is_500(app):
    app.route("/loop", status=307, headers=[("Location", "/loop")])
    st, _ = run(app, {"path": "/loop"})
    assert st == 500


def test_redirect_to_other_port_drops_credentials(app):
    other = AppServer().route("/", status=200)
    try:
        app.route("/r", status=302, headers=[("Location", f"http://127.0.0.1:{other.port}/")])
        st, _ = run(app, {"path": "/r"}, headers=[("Authorization", "x"), ("X-Keep", "k")])
        assert st == 200
        assert other.requests[0].values("Authorization") == []
        assert other.requests[0].values("X-Keep") == ["k"]
        assert app.requests[0].values("Authorization") == ["x"]
    finally:
        other.close()


def test_app_closed_port_is_500(app):
    st, _ = run(app, {"path": "/", "port": free_port()})
    assert st == 500


def test_port_zero_and_out_of_range_are_500(app):
    for port in (0, 70000):
        ag = agent_for({"httpGet": {"path": "/", "port": port}})
        try:
            assert probe_status(ag) == 500
        finally:
            ag.stop()


# ---- headers ----

def test_incoming_headers_forwarded_and_defaults(app):
    st, _ = run(app, {"path": "/"}, headers=[("User-Agent", "kube-probe/1.23"),
                                             ("Accept", "*/*"), ("x-custom", "v")])
    assert st == 200
    r = app.requests[0]
    assert r.values("User-Agent") == ["kube-probe/1.23"]
    assert r.values("Accept") == ["*/*"]
    assert r.values("X-Custom") == ["v"]
    assert r.values("Accept-Encoding") == ["gzip"]
    assert r.values("Host") == [f"127.0.0.1:{app.port}"]
    assert r.names()[:2] == ["Host", "User-Agent"]


def test_default_user_agent_is_gos(app):
    st, _ = run(app, {"path": "/"})
    assert app.requests[0].values("User-Agent") == ["Go-http-client/1.1"]


def test_prober_header_overrides_canonical_name(app):
    st, _ = run(app, {"path": "/", "httpHeaders": [{"name": "X-Custom", "value": "v2"}]},
                headers=[("X-Custom", "v")])
    assert st == 200
    assert app.requests[0].values("X-Custom") == ["v2"]


def test_prober_header_lower_case_duplicates(app):
    st, _ = run(app, {"path": "/", "httpHeaders": [{"name": "x-custom", "value": "v"}]},
                headers=[("X-Custom", "v")])
    assert st == 200
    assert app.requests[0].values("X-Custom") == ["v", "v"]


def test_prober_host_header(app):
    st, _ = run(app, {"path": "/", "httpHeaders": [{"name": "Host", "value": "foo"}]})
    assert st == 200
    assert app.requests[0].values("Host") == ["foo"]


def test_prober_lower_host_header_is_lost(app):
    st, _ = run(app, {"path": "/", "httpHeaders": [{"name": "host", "value": "foo"}]})
    assert st == 200
    assert app.requests[0].values("Host") == [f"127.0.0.1:{app.port}"]


def test_prober_authority_header_is_500(app):
    st, _ = run(app, {"path": "/", "httpHeaders": [{"name": ":authority", "value": "x"}]})
    assert st == 500
    assert app.requests == []


# ---- paths and schemes ----

@pytest.mark.parametrize("path,target", [
    ("hello/texas", "/hello/texas"),
    (None, "/"),
    ("/h?a=1&b=2", "/h?a=1&b=2"),
    ("/h#x", "/h"),
    ("/a b", "/a%20b"),
])
def test_probe_paths(app, path, target):
    hg = {} if path is None else {"path": path}
    st, _ = run(app, hg)
    assert app.requests[0].target == target


def test_post_runs_the_same_get(app):
    ag = agent_for({"httpGet": {"path": "/", "port": app.port}})
    try:
        assert probe_status(ag, method="POST") == 200
        assert app.requests[0].method == "GET"
    finally:
        ag.stop()


def test_lower_case_https_scheme_is_plain_http(app):
    st, _ = run(app, {"path": "/", "scheme": "https"})
    assert st == 200


def test_https_self_signed_succeeds():
    a = AppServer(tls=True).route("/", status=204)
    try:
        st, _ = run(a, {"path": "/", "scheme": "HTTPS"})
        assert st == 204
        assert a.requests[0].values("Host") == [f"127.0.0.1:{a.port}"]
    finally:
        a.close()


def test_https_against_plain_server_is_500(app):
    st, _ = run(app, {"path": "/", "scheme": "HTTPS"}, timeout=2)
    assert st == 500


# ---- timeouts ----

def test_timeout_bounds_a_slow_app(app):
    app.route("/slow", delay=3)
    t0 = time.time()
    st, _ = run(app, {"path": "/slow"}, timeout=1)
    assert st == 500
    assert time.time() - t0 < 2.5


def test_missing_timeout_means_one_second(app):
    # skiff decision: Istio would wait forever
    app.route("/slow", delay=3)
    t0 = time.time()
    st, _ = run(app, {"path": "/slow"})
    took = time.time() - t0
    assert st == 500
    assert 0.9 < took < 2.5


def test_timeout_covers_endless_body(app):
    app.route("/endless", endless=True)
    t0 = time.time()
    st, _ = run(app, {"path": "/endless"}, timeout=1)
    assert st == 500
    assert time.time() - t0 < 2.5


def test_body_without_length_read_to_eof(app):
    app.route("/nolen", status=203, body=b"x" * 100000, no_length=True)
    st, _ = run(app, {"path": "/nolen"})
    assert st == 203


def test_hung_app_does_not_delay_other_probes(app):
    app.route("/slow", delay=4)
    ag = Agent({"/app-health/a/livez": {"httpGet": {"path": "/slow", "port": app.port},
                                        "timeoutSeconds": 2},
                "/app-health/a/readyz": {"httpGet": {"path": "/", "port": app.port}}})
    try:
        results = []
        hung = [threading.Thread(target=lambda: results.append(
            probe_status(ag, "/app-health/a/livez"))) for _ in range(8)]
        for t in hung:
            t.start()
        time.sleep(0.3)
        t0 = time.time()
        assert probe_status(ag, "/app-health/a/readyz") == 200
        assert probe_status(ag, "/healthz/ready") == 200
        assert time.time() - t0 < 1.0
        for t in hung:
            t.join()
        assert results == [500] * 8
    finally:
        ag.stop()


def test_concurrent_probes_each_get_their_answer(app):
    app.route("/a", status=200).route("/b", status=503)
    ag = Agent({"/app-health/x/livez": {"httpGet": {"path": "/a", "port": app.port}},
                "/app-health/x/readyz": {"httpGet": {"path": "/b", "port": app.port}}})
    try:
        out = {}

        def worker(i):
            path = "/app-health/x/livez" if i % 2 else "/app-health/x/readyz"
            out[i] = (path, probe_status(ag, path))

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(40)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert len(out) == 40
        for path, st in out.values():
            assert st == (200 if path.endswith("livez") else 503)
        assert len(app.connections) == 40
    finally:
        ag.stop()
