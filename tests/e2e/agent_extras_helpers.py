"""Peers for the agent-extras e2e tests (gRPC prober, /healthz/ready,
/stats/prometheus): a real gRPC health server (python3-grpcio, the Health
service implemented with generic handlers and a hand-written protobuf),
small HTTP servers standing in for Envoy admin and the application, and the
driver program that calls skiff's modules in-process.

Loopback ports come from 25000-29999 (this subsystem's range)."""
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Also imported by helper processes started in namespaces, outside pytest.
sys.path.insert(0, os.path.join(ROOT, "tests"))
from conftest import free_tcp_port  # noqa: E402

PORT_LO, PORT_HI = 25000, 29999


def build_dir():
    skiff = os.environ.get("SKIFF_BIN", os.path.join(ROOT, "build", "skiff"))
    return os.path.dirname(os.path.abspath(skiff))


def driver_path():
    return os.path.join(build_dir(), "tests", "unit", "agent", "agent-extras-driver")


def free_port(host="127.0.0.1"):
    return free_tcp_port(PORT_LO, PORT_HI, host)


# ---- gRPC health server ----

SERVING, NOT_SERVING, UNKNOWN, SERVICE_UNKNOWN = 1, 2, 0, 3


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i


def decode_service(req):
    """HealthCheckRequest bytes -> service name."""
    i, service = 0, ""
    while i < len(req):
        key, i = _varint(req, i)
        if key == 0x0A:
            n, i = _varint(req, i)
            service = req[i:i + n].decode()
            i += n
        else:
            raise ValueError("unexpected field %d" % key)
    return service


def encode_status(st):
    return b"" if st == 0 else bytes([0x08, st])


class HealthServer:
    """grpc.health.v1.Health/Check with a status per service name. A service
    missing from `statuses` gets NOT_FOUND, like the reference server.
    health=False serves nothing (every call: UNIMPLEMENTED)."""

    def __init__(self, statuses=None, health=True, delay=0.0, host="127.0.0.1", port=None):
        import grpc
        self.statuses = statuses if statuses is not None else {"": SERVING}
        self.delay = delay
        self.calls = []  # (service, peer, metadata dict)
        self.port = port or free_port()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        if health:
            handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
                "Check": grpc.unary_unary_rpc_method_handler(self._check),
            })
            self.server.add_generic_rpc_handlers((handler,))
        addr = "[%s]:%d" % (host, self.port) if ":" in host else "%s:%d" % (host, self.port)
        if self.server.add_insecure_port(addr) != self.port:
            raise RuntimeError("cannot listen on " + addr)
        self.server.start()

    def _check(self, req, context):
        import grpc
        service = decode_service(req)
        self.calls.append((service, context.peer(), dict(context.invocation_metadata())))
        if self.delay:
            time.sleep(self.delay)
        if service not in self.statuses:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return encode_status(self.statuses[service])

    def stop(self):
        self.server.stop(0)


def grpc_probe(host, port, service=None, ua=None, timeout_ms=1000, ipv6=False, netns=None):
    """Run one probe through the driver; returns (status, reason, elapsed_ms)."""
    cmd = [driver_path(), "grpc", host, str(port), "-t", str(timeout_ms)]
    if ipv6:
        cmd.append("-6")
    if service is not None:
        cmd += ["-s", service]
    if ua is not None:
        cmd += ["-u", ua]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "runtime error:" not in p.stderr, p.stderr
    out = p.stdout
    first, elapsed = out.splitlines()[0], out.splitlines()[1]
    status, _, reason = first.partition(" ")
    return int(status), reason, int(elapsed.split()[1])


# ---- HTTP peers ----

class Route:
    """What a fake server answers on a path: status, headers, body, delay."""

    def __init__(self, status=200, body=b"", headers=None, delay=0.0, framing="length"):
        """framing: "length" (Content-Length), "chunked", or "close" (no
        length; the body ends when the server closes the connection)."""
        self.status, self.body, self.headers, self.delay = status, body, headers or {}, delay
        self.framing = framing


class FakeHTTP:
    """A threaded HTTP/1.1 server; routes maps the path (with query) to a
    Route, changeable while running. Records (path, headers) of every GET."""

    def __init__(self, routes=None, host="127.0.0.1", port=None):
        self.routes = routes or {}
        self.requests = []
        self.port = port or free_port()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                r = outer.routes.get(self.path) or outer.routes.get(self.path.split("?")[0])
                if r is None:
                    r = Route(404, b"not found\n")
                if r.delay:
                    time.sleep(r.delay)
                body = r.body() if callable(r.body) else r.body
                self.send_response(r.status)
                for k, v in r.headers.items():
                    self.send_header(k, v)
                if r.framing == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    # odd-sized chunks with an extension, and a trailer
                    wire = b"".join(b"%x;x=1\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                                    for i in range(0, len(body), 7)) + b"0\r\nX-T: 1\r\n\r\n"
                elif r.framing == "close":
                    self.send_header("Connection", "close")
                    self.close_connection = True
                    wire = body
                else:
                    self.send_header("Content-Length", str(len(body)))
                    wire = body
                self.end_headers()
                try:
                    self.wfile.write(wire)
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        class S(http.server.ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
            daemon_threads = True

        self.httpd = S((host, self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Driver:
    """The driver's line-oriented `ready` / `metrics` modes."""

    def __init__(self, mode, arg, env, extra=()):
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full[k] = os.environ[k]
        full.update(env)
        self.p = subprocess.Popen([driver_path(), mode, str(arg)] + list(extra), env=full,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.first = self.p.stdout.readline().decode().strip()

    def started(self):
        return self.first == "started"

    def send(self, line):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()

    def readline(self):
        return self.p.stdout.readline().decode().rstrip("\n")

    def check(self, draining=False):
        self.send("check draining" if draining else "check")
        status, blen = self.readline().split()
        return int(status), int(blen)

    def scrape(self, accept=None, ua=None, timeout=None):
        self.send("\t".join(["scrape", accept or "-", ua or "-", timeout or "-"]))
        status = int(self.readline().split()[1])
        ct = self.readline()[3:]
        n = int(self.readline().split()[1])
        body = b""
        while len(body) < n:
            body += self.p.stdout.read(n - len(body))
        return status, ct, body.decode()

    def close(self):
        """End the driver; returns its standard error (the module's log)."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        self.p.wait(timeout=20)
        err = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        # A sanitizer report (driver built with ASan/UBSan) fails the test.
        assert "Sanitizer" not in err and "runtime error:" not in err, err
        return err


# ---- the real `skiff agent` ----

class Agent:
    """`skiff agent --status-port PORT` with exactly ENV (plus PATH and the
    sanitizer options), run in a scratch working directory so no mesh config
    or pod annotations file is found. Skips the test when this build's agent
    does not serve yet."""

    def __init__(self, env, tmp_path, status_port=None, admin_port=None):
        import pytest
        self.port = status_port or free_port()
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full[k] = os.environ[k]
        full.setdefault("INSTANCE_IP", "127.0.0.1")
        if admin_port:
            full["PROXY_CONFIG"] = '{"proxyAdminPort": %d}' % admin_port
        full.update(env)
        skiff = os.environ.get("SKIFF_BIN", os.path.join(ROOT, "build", "skiff"))
        self.p = subprocess.Popen([skiff, "agent", "--status-port", str(self.port)], env=full,
                                  cwd=str(tmp_path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                err = self.p.stderr.read().decode()
                if "not built yet" in err:
                    pytest.skip("`skiff agent` has no status server in this build yet")
                self.exit_code, self.startup_error = self.p.returncode, err
                return
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                self.exit_code, self.startup_error = None, None
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("skiff agent did not listen on %d" % self.port)

    def get(self, path, headers=None, timeout=10):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
        finally:
            c.close()

    def stop(self):
        """SIGTERM, wait; returns the agent's standard error."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        err = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        assert "Sanitizer" not in err and "runtime error:" not in err, err
        return err
