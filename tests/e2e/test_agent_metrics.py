"""/stats/prometheus (spec probes.md section 11, edge cases 18.39-44) with
real HTTP servers standing in for Envoy's 15090 and the application."""
import json
import os
import subprocess
import time

import pytest

import agent_extras_helpers as h
from agent_extras_helpers import Driver, FakeHTTP, Route

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=0.0.1; charset=utf-8"
ENVOY_BODY = b"# TYPE envoy_a counter\nenvoy_a 1\n\n# TYPE envoy_b gauge\nenvoy_b 2\n\n\n"
APP_BODY = b"# TYPE app_x counter\napp_x 7\n"


@pytest.fixture(scope="module", autouse=True)
def need_driver():
    if not os.access(h.driver_path(), os.X_OK):
        pytest.fail("driver not built: " + h.driver_path())


@pytest.fixture
def peers():
    envoy = FakeHTTP({"/stats/prometheus": Route(200, ENVOY_BODY, {"Content-Type": "text/plain"})})
    app = FakeHTTP({"/metrics": Route(200, APP_BODY, {"Content-Type": "text/plain; version=0.0.4"})})
    yield envoy, app
    envoy.stop()
    app.stop()


def metrics(envoy_port, annotations=None, status_port=15020):
    env = {"ENVOY_PROMETHEUS_PORT": str(envoy_port)}
    if annotations is not None:
        env["ISTIO_PROMETHEUS_ANNOTATIONS"] = (annotations if isinstance(annotations, str)
                                               else json.dumps(annotations))
    d = Driver("metrics", status_port, env)
    assert d.started(), d.first
    return d


def counter(body, name):
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("%s not in %r" % (name, body))


def test_merge_order_and_blank_lines(peers):
    envoy, app = peers
    d = metrics(envoy.port, {"scrape": "true", "path": "/metrics", "port": str(app.port)})
    try:
        st, ct, body = d.scrape()
    finally:
        d.close()
    assert st == 200 and ct == TEXT
    agent_end = body.index("# TYPE envoy_a")
    agent = body[:agent_end]
    assert counter(agent, "istio_agent_scrapes_total") == 1
    assert counter(agent, 'istio_agent_scrape_failures_total{type="envoy"}') == 0
    assert counter(agent, 'istio_agent_scrape_failures_total{type="application"}') == 0
    # Envoy's "\n\n" become "\n" (one pass: "\n\n\n" -> "\n\n"), then the app, last
    assert body[agent_end:] == ("# TYPE envoy_a counter\nenvoy_a 1\n# TYPE envoy_b gauge\n"
                                "envoy_b 2\n\n" + APP_BODY.decode())
    assert [r[0] for r in envoy.requests] == ["/stats/prometheus"]
    assert [r[0] for r in app.requests] == ["/metrics"]


def test_openmetrics_from_app(peers):
    envoy, app = peers
    app.routes["/metrics"] = Route(200, b"app_x_total 1\n# EOF\n",
                                   {"Content-Type": "application/openmetrics-text; version=1.0.0"})
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        st, ct, body = d.scrape(accept="application/openmetrics-text; version=1.0.0")
    finally:
        d.close()
    assert st == 200 and ct == OPENMETRICS  # Istio's fixed value, not the app's version
    assert body.endswith("# EOF\n")


def test_app_failure_still_200(peers):
    envoy, app = peers
    app.routes["/metrics"] = Route(500, b"boom", {"Content-Type": "application/openmetrics-text"})
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        st, ct, body = d.scrape()
        st2, _, body2 = d.scrape()
    finally:
        log = d.close()
    assert st == 200 and ct == TEXT  # a failed scrape does not choose the format
    assert "envoy_a 1" in body and "boom" not in body
    assert counter(body2, 'istio_agent_scrape_failures_total{type="application"}') == 2
    assert counter(body2, "istio_agent_scrapes_total") == 2
    assert "failed scraping application metrics" in log and "status code: 500" in log


def test_envoy_down(peers):
    _, app = peers
    d = metrics(h.free_port(), {"port": str(app.port)})
    try:
        st, ct, body = d.scrape()
    finally:
        log = d.close()
    assert st == 200
    assert counter(body, 'istio_agent_scrape_failures_total{type="envoy"}') == 1
    assert body.endswith(APP_BODY.decode()) and "envoy_a" not in body
    assert "failed scraping envoy metrics" in log


def test_scrape_false_and_absent_variable(peers):
    envoy, app = peers
    for ann in ({"scrape": "false", "port": str(app.port)}, None):
        d = metrics(envoy.port, ann)
        try:
            st, ct, body = d.scrape()
        finally:
            d.close()
        assert st == 200 and ct == TEXT
        assert "app_x" not in body
    assert app.requests == []


def test_headers_forwarded(peers):
    envoy, app = peers
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        d.scrape(accept="text/plain;version=0.0.4", ua="Prometheus/2.30.0", timeout="9.5")
        d.scrape()
    finally:
        d.close()
    for srv in (envoy, app):
        first, second = srv.requests[0][1], srv.requests[1][1]
        assert first["Accept"] == "text/plain;version=0.0.4"
        assert first["User-Agent"] == "Prometheus/2.30.0"
        assert first["X-Prometheus-Scrape-Timeout-Seconds"] == "9.5"
        for k in ("Accept", "User-Agent", "X-Prometheus-Scrape-Timeout-Seconds"):
            assert k not in second


def test_scrape_timeout_header(peers):
    envoy, app = peers
    app.routes["/metrics"] = Route(200, APP_BODY, delay=3.0)
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        t0 = time.monotonic()
        st, _, body = d.scrape(timeout="0.5")
        took = time.monotonic() - t0
        assert st == 200 and "envoy_a" in body and "app_x" not in body
        assert 0.4 <= took < 1.5, took
        n_env = len(envoy.requests)
        st, _, body = d.scrape(timeout="0")  # zero: both scrapes fail at once
        assert st == 200 and "envoy_a" not in body
        assert len(envoy.requests) == n_env
    finally:
        d.close()


def test_redirect_followed(peers):
    envoy, app = peers
    app.routes["/metrics"] = Route(302, b"", {"Location": "/real?x=1"})
    app.routes["/real?x=1"] = Route(200, b"app_y 3\n")
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        _, _, body = d.scrape()
    finally:
        d.close()
    assert body.endswith("app_y 3\n")


def test_path_appended_raw(peers):
    envoy, app = peers
    app.routes["/custom"] = Route(200, b"app_custom 1\n")
    d = metrics(envoy.port, {"path": "/custom?a=b", "port": str(app.port)})
    try:
        _, _, body = d.scrape()
    finally:
        d.close()
    assert app.requests[0][0] == "/custom?a=b" and body.endswith("app_custom 1\n")
    d = metrics(envoy.port, {"path": "metrics", "port": str(app.port)})  # broken URL
    try:
        _, _, body = d.scrape()
    finally:
        d.close()
    assert len(app.requests) == 1
    assert counter(body, 'istio_agent_scrape_failures_total{type="application"}') == 1


def test_default_path(peers):
    envoy, app = peers
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        _, _, body = d.scrape()
    finally:
        d.close()
    assert app.requests[0][0] == "/metrics" and body.endswith(APP_BODY.decode())


@pytest.mark.parametrize("value,field", [
    ('{"scrape":"true","path":"","port":"15020"}', "port"),   # 18.39
    ("", "invalid JSON"),                                     # 18.40
    ("[]", "JSON object"),
    ('{"port":8080}', '"port"'),
    ('{"scrape":false}', '"scrape"'),
])
def test_bad_annotations_stop_the_start(value, field):
    d = Driver("metrics", 15020, {"ISTIO_PROMETHEUS_ANNOTATIONS": value})
    assert d.first.startswith("error: ISTIO_PROMETHEUS_ANNOTATIONS"), d.first
    assert field in d.first
    d.close()
    assert d.p.returncode == 1


def test_bad_envoy_port_stops_the_start():
    d = Driver("metrics", 15020, {"ENVOY_PROMETHEUS_PORT": "99999"})
    assert d.first.startswith("error: ENVOY_PROMETHEUS_PORT") and "99999" in d.first
    d.close()


def test_startup_gauge(peers):
    envoy, _ = peers
    d = metrics(envoy.port)
    try:
        _, _, before = d.scrape()
        d.send("startup 2.25")
        _, _, after = d.scrape()
    finally:
        d.close()
    assert "istio_agent_startup_duration_seconds" not in before
    assert counter(after, "istio_agent_startup_duration_seconds") == 2.25


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_body_framings(peers, framing):
    envoy, app = peers
    envoy.routes["/stats/prometheus"] = Route(200, ENVOY_BODY, framing=framing)
    app.routes["/metrics"] = Route(200, APP_BODY * 50, framing=framing)
    d = metrics(envoy.port, {"port": str(app.port)})
    try:
        st, _, body = d.scrape()
    finally:
        d.close()
    assert st == 200
    assert "envoy_b 2\n\n" + (APP_BODY * 50).decode() in body
    assert body.endswith((APP_BODY * 50).decode())


# ---- through the real `skiff agent` ----

def test_agent_stats_prometheus(peers, tmp_path):
    envoy, app = peers
    a = h.Agent({"ENVOY_PROMETHEUS_PORT": str(envoy.port),
                 "ISTIO_PROMETHEUS_ANNOTATIONS": json.dumps({"scrape": "true", "path": "/metrics",
                                                             "port": str(app.port)})},
                tmp_path)
    try:
        assert a.exit_code is None, a.startup_error
        st, hdrs, body = a.get("/stats/prometheus", {"Accept": "text/plain",
                                                      "X-Prometheus-Scrape-Timeout-Seconds": "5"})
    finally:
        a.stop()
    assert st == 200
    assert hdrs["Content-Type"] == TEXT
    assert counter(body, "istio_agent_scrapes_total") == 1
    assert body.endswith(APP_BODY.decode()) and "envoy_b 2\n" in body
    assert app.requests[0][1]["X-Prometheus-Scrape-Timeout-Seconds"] == "5"


def test_agent_refuses_recursive_annotations(tmp_path):
    status = h.free_port()
    a = h.Agent({"ISTIO_PROMETHEUS_ANNOTATIONS": '{"port":"%d"}' % status}, tmp_path,
                status_port=status)
    if a.exit_code is None:
        a.stop()
        pytest.fail("agent started with ISTIO_PROMETHEUS_ANNOTATIONS naming its own port")
    a.stop()
    assert a.exit_code != 0
    assert "ISTIO_PROMETHEUS_ANNOTATIONS" in a.startup_error


def test_no_envoy_mode_skips_envoy(peers):
    envoy, app = peers
    env = {"ENVOY_PROMETHEUS_PORT": str(envoy.port), "DISABLE_ENVOY": "true",
           "ISTIO_PROMETHEUS_ANNOTATIONS": json.dumps({"port": str(app.port)})}
    d = Driver("metrics", 15020, env)
    assert d.started(), d.first
    try:
        st, _, body = d.scrape()
    finally:
        log = d.close()
    assert st == 200 and envoy.requests == []
    assert counter(body, 'istio_agent_scrape_failures_total{type="envoy"}') == 0
    assert body.endswith(APP_BODY.decode())
    assert "failed scraping envoy" not in log


def test_redirect_absolute_and_loop(peers):
    envoy, app = peers
    other = FakeHTTP({"/there": Route(200, b"app_far 1\n")})
    try:
        app.routes["/metrics"] = Route(301, b"", {"Location": "http://127.0.0.1:%d/there" % other.port})
        d = metrics(envoy.port, {"port": str(app.port)})
        try:
            _, _, body = d.scrape()
            assert body.endswith("app_far 1\n")
            app.routes["/metrics"] = Route(302, b"", {"Location": "/metrics"})  # a loop
            _, _, body = d.scrape()
        finally:
            log = d.close()
    finally:
        other.stop()
    assert counter(body, 'istio_agent_scrape_failures_total{type="application"}') == 1
    assert "stopped after 10 redirects" in log
    assert len([r for r in app.requests if r[0] == "/metrics"]) == 1 + 11
