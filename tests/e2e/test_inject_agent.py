"""Round trip of the probe rewrite: the kubelet's view of an injected pod.
`skiff inject` rewrites the app's probes and writes ISTIO_KUBE_APP_PROBERS;
`skiff agent`, started with the istio-proxy container's environment, answers
the rewritten probes by probing a real application on loopback."""
import http.server
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from inject_helpers import container, env_of, inject_doc, pod_doc, skiff_bin_path

APP_PORT = 31081
TCP_PORT = 31082
STATUS_PORT = 31020


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/ready" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def injected():
    c = [{"name": "app", "image": "i", "ports": [{"name": "http", "containerPort": APP_PORT}],
          "readinessProbe": {"httpGet": {"port": "http", "path": "/ready"}, "timeoutSeconds": 2},
          "livenessProbe": {"tcpSocket": {"port": TCP_PORT}},
          "startupProbe": {"httpGet": {"port": APP_PORT, "path": "/missing"}}}]
    out, _ = inject_doc(pod_doc({"status.sidecar.istio.io/port": str(STATUS_PORT)}, containers=c))
    return out


@pytest.fixture
def app_servers():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", APP_PORT), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", TCP_PORT))
    tcp.listen(16)
    yield httpd, tcp
    httpd.shutdown()
    httpd.server_close()
    tcp.close()


def start_agent(env, tmp_path):
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "INSTANCE_IP": "127.0.0.1",
            "DISABLE_ENVOY": "true"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            full[k] = os.environ[k]
    full.update(env)
    p = subprocess.Popen([skiff_bin_path(), "agent", "--status-port", str(STATUS_PORT),
                          "--mesh-config", str(tmp_path / "none"),
                          "--annotations", str(tmp_path / "none")],
                         env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_port(STATUS_PORT)
    except AssertionError:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"agent did not start: {err}")
    return p


def test_agent_answers_the_rewritten_probes(injected, app_servers, tmp_path):
    spec = injected["spec"]
    app = container(spec, "app")
    env = {k: v for k, v in env_of(container(spec, "istio-proxy")) if v is not None}
    assert "ISTIO_KUBE_APP_PROBERS" in env
    agent = start_agent({k: env[k] for k in ("ISTIO_KUBE_APP_PROBERS", "PROXY_CONFIG")}, tmp_path)
    try:
        rp = app["readinessProbe"]["httpGet"]
        lp = app["livenessProbe"]["httpGet"]
        sp = app["startupProbe"]["httpGet"]
        assert rp["port"] == lp["port"] == sp["port"] == STATUS_PORT
        assert get(rp["port"], rp["path"]) == 200      # httpGet on a named port
        assert get(lp["port"], lp["path"]) == 200      # tcpSocket
        assert get(sp["port"], sp["path"]) == 404      # app's own answer passed on
        httpd, tcp = app_servers
        httpd.shutdown()
        httpd.server_close()
        tcp.close()
        assert get(rp["port"], rp["path"]) == 500
        assert get(lp["port"], lp["path"]) == 500
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
