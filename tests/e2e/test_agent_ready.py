"""/healthz/ready (spec probes.md section 9, edge cases 18.36-38) against a
fake Envoy admin server (a real HTTP server answering Envoy's /stats text)."""
import os
import time

import pytest

import agent_extras_helpers as h
from agent_extras_helpers import Driver, FakeHTTP, Route

CONFIG = ("/stats?usedonly&filter=^(cluster_manager\\.cds|listener_manager\\.lds)"
          "\\.(update_success|update_rejected)$")
LIVE = "/stats?usedonly&filter=^(server\\.state|listener_manager\\.workers_started)"


def config_stats(cds=1, cds_rej=0, lds=1, lds_rej=0):
    return ("cluster_manager.cds.update_rejected: %d\ncluster_manager.cds.update_success: %d\n"
            "listener_manager.lds.update_rejected: %d\nlistener_manager.lds.update_success: %d\n"
            % (cds_rej, cds, lds_rej, lds)).encode()


def live_stats(state=0, workers=1):
    return ("listener_manager.workers_started: %d\nserver.state: %d\n" % (workers, state)).encode()


@pytest.fixture(scope="module", autouse=True)
def need_driver():
    if not os.access(h.driver_path(), os.X_OK):
        pytest.fail("driver not built: " + h.driver_path())


@pytest.fixture
def admin():
    srv = FakeHTTP({CONFIG: Route(200, config_stats()), LIVE: Route(200, live_stats())})
    yield srv
    srv.stop()


def ready(port, env=None, ipv6=False):
    e = {"ENVOY_PROMETHEUS_PORT": str(h.free_port()),
         "ISTIO_PROMETHEUS_ANNOTATIONS": '{"scrape":"false"}'}
    e.update(env or {})
    d = Driver("ready", port, e, ["-6"] if ipv6 else [])
    assert d.started(), d.first
    return d


def test_ready_when_envoy_live_then_remembered(admin):
    d = ready(admin.port)
    try:
        assert d.check() == (200, 0)
        assert [r[0] for r in admin.requests] == [CONFIG, LIVE]  # regexes sent unescaped
        # 18.36: once both parts have passed, admin failures no longer matter
        admin.routes[CONFIG] = Route(500, b"")
        admin.routes[LIVE] = Route(200, live_stats(state=1))
        assert d.check()[0] == 200
        assert len(admin.requests) == 2
        admin.stop()
        assert d.check()[0] == 200
    finally:
        log = d.close()
    assert log.count("Envoy proxy is ready") == 1


@pytest.mark.parametrize("stats,msg", [
    (config_stats(cds=0, lds=0), "config not received from XDS server (is Istiod running?): "
     "cds updates: 0 successful, 0 rejected; lds updates: 0 successful, 0 rejected"),
    (config_stats(cds=3, lds=0, lds_rej=2), "config received from XDS server, but was rejected: "
     "cds updates: 3 successful, 0 rejected; lds updates: 0 successful, 2 rejected"),
    (config_stats(cds=3, lds=0), "config not fully received from XDS server"),
    (b"", "config not received from XDS server"),
    (b"cluster_manager.cds.update_success 1\n",
     "envoy stat cluster_manager.cds.update_success missing separator"),
])
def test_config_not_received(admin, stats, msg):
    admin.routes[CONFIG] = Route(200, stats)
    d = ready(admin.port)
    try:
        assert d.check() == (503, 0)
        assert d.check()[0] == 503
        # not remembered: the next check asks again and now passes
        admin.routes[CONFIG] = Route(200, config_stats())
        assert d.check()[0] == 200
    finally:
        log = d.close()
    assert "Envoy proxy is NOT ready: " + msg in log
    assert log.count("Envoy proxy is ready") == 1


@pytest.mark.parametrize("stats,msg", [
    (live_stats(state=2), "server is not live, current state is: PRE_INITIALIZING"),
    (live_stats(state=3), "server is not live, current state is: INITIALIZING"),
    (live_stats(state=1), "server is not live, current state is: DRAINING"),
    (live_stats(workers=0), "workers have not yet started"),
    (b"server.state: 0\n", "listener_manager.workers_started is not yet updated"),
    (b"listener_manager.workers_started: 1\n", "server.state is not yet updated"),
])
def test_envoy_not_live(admin, stats, msg):
    admin.routes[LIVE] = Route(200, stats)
    d = ready(admin.port)
    try:
        assert d.check()[0] == 503
        admin.routes[LIVE] = Route(200, live_stats())
        assert d.check()[0] == 200
    finally:
        log = d.close()
    assert msg in log


def test_admin_errors(admin):
    admin.routes[CONFIG] = Route(503, b"no")
    d = ready(admin.port)
    try:
        assert d.check()[0] == 503
        admin.routes[CONFIG] = Route(200, config_stats())
        admin.routes[LIVE] = Route(404, b"")
        assert d.check()[0] == 503
    finally:
        log = d.close()
    assert "unexpected status code: 503" in log
    assert "failed to get readiness stats: unexpected status code: 404" in log


def test_admin_port_closed():
    d = ready(h.free_port())
    try:
        assert d.check()[0] == 503
    finally:
        log = d.close()
    assert "refused" in log.lower()


def test_config_check_timeout_1s(admin):
    admin.routes[CONFIG] = Route(200, config_stats(), delay=2.5)
    d = ready(admin.port)
    try:
        t0 = time.monotonic()
        assert d.check()[0] == 503
        took = time.monotonic() - t0
    finally:
        d.close()
    assert 0.9 <= took < 2.0, took


def test_live_check_timeout_3s(admin):
    admin.routes[LIVE] = Route(200, live_stats(), delay=4.0)
    d = ready(admin.port)
    try:
        t0 = time.monotonic()
        assert d.check()[0] == 503
        took = time.monotonic() - t0
    finally:
        d.close()
    assert 2.9 <= took < 3.9, took


def test_draining(admin):
    d = ready(admin.port)
    try:
        assert d.check()[0] == 200
        n = len(admin.requests)
        assert d.check(draining=True)[0] == 503  # checked every time, before the cache
        assert d.check()[0] == 200
        assert len(admin.requests) == n
    finally:
        log = d.close()
    assert "server is not live, current state is: DRAINING" in log
    assert log.count("Envoy proxy is ready") == 2  # first success, and after the failure


def test_no_envoy_mode():
    d = ready(h.free_port(), {"DISABLE_ENVOY": "true"})
    try:
        assert d.check() == (200, 0)
        assert d.check(draining=True)[0] == 200  # no Envoy check at all (9.3)
    finally:
        d.close()


def test_bad_disable_envoy_value_warns_and_keeps_default(admin):
    d = ready(admin.port, {"DISABLE_ENVOY": "yes"})
    try:
        assert d.check()[0] == 200
        assert len(admin.requests) == 2  # Envoy was checked
    finally:
        log = d.close()
    assert "DISABLE_ENVOY" in log and "yes" in log


def test_ipv6_admin_address():
    try:
        srv = FakeHTTP({CONFIG: Route(200, config_stats()), LIVE: Route(200, live_stats())},
                       host="::1")
    except OSError as e:
        pytest.skip("no ::1 here: %s" % e)
    try:
        d = ready(srv.port, ipv6=True)
        try:
            assert d.check()[0] == 200
            assert srv.requests[0][1]["Host"] == "[::1]:%d" % srv.port
        finally:
            d.close()
        d = ready(srv.port)  # IPv4 mode asks 127.0.0.1, where nothing listens
        try:
            assert d.check()[0] == 503
        finally:
            d.close()
    finally:
        srv.stop()


def test_startup_duration_recorded_on_first_live(admin):
    admin.routes[LIVE] = Route(200, live_stats(workers=0))
    d = ready(admin.port)
    try:
        d.send("metrics")
        n = int(d.readline().split()[1])
        body = d.p.stdout.read(n).decode()
        assert "istio_agent_startup_duration_seconds" not in body
        assert d.check()[0] == 503
        time.sleep(0.3)
        admin.routes[LIVE] = Route(200, live_stats())
        assert d.check()[0] == 200
        d.send("metrics")
        n = int(d.readline().split()[1])
        body = d.p.stdout.read(n).decode()
    finally:
        d.close()
    line = [l for l in body.splitlines() if l.startswith("istio_agent_startup_duration_seconds ")]
    assert len(line) == 1, body
    assert 0.3 <= float(line[0].split()[1]) < 10


# ---- through the real `skiff agent` ----

def test_agent_healthz_ready(admin, tmp_path):
    admin.routes[CONFIG] = Route(200, config_stats(cds=0, lds=0))
    a = h.Agent({"ENVOY_PROMETHEUS_PORT": str(h.free_port())}, tmp_path, admin_port=admin.port)
    try:
        assert a.exit_code is None, a.startup_error
        st, hdrs, body = a.get("/healthz/ready")
        assert st == 503 and body == ""
        admin.routes[CONFIG] = Route(200, config_stats())
        st, hdrs, body = a.get("/healthz/ready")
        assert st == 200 and body == ""
        assert a.get("/healthz/ready/")[0] == 404  # exact route only
    finally:
        log = a.stop()
    assert "Envoy proxy is NOT ready: config not received from XDS server" in log
    assert "Envoy proxy is ready" in log


def test_agent_healthz_ready_no_envoy(tmp_path):
    a = h.Agent({"DISABLE_ENVOY": "true"}, tmp_path, admin_port=h.free_port())
    try:
        assert a.exit_code is None, a.startup_error
        assert a.get("/healthz/ready")[0] == 200
    finally:
        a.stop()
