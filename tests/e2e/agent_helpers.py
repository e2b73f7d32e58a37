"""Helpers for the agent e2e tests: real application servers that record
what they receive, and a running `skiff agent`.

AppServer is a small threaded HTTP/1.1 server on a loopback address. Every
accepted connection is counted with its client address, every request is
recorded with its raw header lines (order and duplicates kept), and each
path answers what the test configured (status, headers, delay, endless body).
It speaks keep-alive unless the request says Connection: close. With
`tls=True` it is an HTTPS server with a throw-away self-signed certificate.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from conftest import free_tcp_port, skiff_bin_path

PORT_LO, PORT_HI = 20000, 24999


def free_port(host="127.0.0.1"):
    return free_tcp_port(PORT_LO, PORT_HI, host)


_CERT = None


def self_signed_cert():
    global _CERT
    if _CERT is None:
        d = tempfile.mkdtemp(prefix="ska-tls-")
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=app.test"],
                       check=True, capture_output=True)
        _CERT = (cert, key)
    return _CERT


class Route:
    def __init__(self, status=200, headers=None, body=b"ok", delay=0.0, endless=False,
                 no_length=False, drop_after=False):
        self.status, self.headers, self.body = status, headers or [], body
        self.delay, self.endless, self.no_length = delay, endless, no_length
        self.drop_after = drop_after  # close the connection silently after answering


class Request:
    def __init__(self, line, headers, client):
        self.line, self.headers, self.client = line, headers, client
        self.method, self.target = line.split(" ")[0], line.split(" ")[1]

    def values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def names(self):
        return [k for k, _ in self.headers]


class AppServer:
    def __init__(self, host="127.0.0.1", port=None, tls=False):
        self.host, self.tls = host, tls
        self.port = port or free_port(host)
        self.routes = {}
        self.default = Route(404, body=b"no route")
        self.connections = []   # client (addr, port) per accepted connection
        self.requests = []      # Request objects
        self.lock = threading.Lock()
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, self.port))
        self.sock.listen(512)
        self.ctx = None
        if tls:
            cert, key = self_signed_cert()
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert, key)
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def route(self, path, **kw):
        self.routes[path] = Route(**kw)
        return self

    def _accept(self):
        while not self.stopped:
            try:
                c, addr = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(addr)
            threading.Thread(target=self._serve, args=(c, addr), daemon=True).start()

    def _serve(self, c, addr):
        try:
            if self.ctx:
                c = self.ctx.wrap_socket(c, server_side=True)
            f = c.makefile("rb")
            while True:
                line = f.readline(65537)
                if not line:
                    return
                line = line.decode("latin-1").rstrip("\r\n")
                headers = []
                while True:
                    h = f.readline(65537)
                    if not h or h in (b"\r\n", b"\n"):
                        break
                    k, _, v = h.decode("latin-1").rstrip("\r\n").partition(":")
                    headers.append((k, v.strip()))
                req = Request(line, headers, addr)
                with self.lock:
                    self.requests.append(req)
                path = req.target
                r = self.routes.get(path) or self.routes.get(path.split("?")[0]) or self.default
                if r.delay:
                    time.sleep(r.delay)
                close = any(v.lower() == "close" for v in req.values("Connection"))
                out = [f"HTTP/1.1 {r.status} X"]
                out += [f"{k}: {v}" for k, v in r.headers]
                if r.endless:
                    c.sendall(("\r\n".join(out) + "\r\n\r\n").encode())
                    while True:
                        c.sendall(b"x" * 1024)
                        time.sleep(0.05)
                if not r.no_length:
                    out.append(f"Content-Length: {len(r.body)}")
                if close or r.no_length:
                    out.append("Connection: close")
                c.sendall(("\r\n".join(out) + "\r\n\r\n").encode() + r.body)
                if close or r.no_length:
                    return
                if r.drop_after:
                    time.sleep(0.05)
                    return
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def reset(self):
        with self.lock:
            self.connections.clear()
            self.requests.clear()

    def close(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass


class Agent:
    """A running `skiff agent` on a free status port."""

    def __init__(self, probers=None, env=None, args=None, port=None, netns=None, wait=True):
        self.port = port or free_port()
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full[k] = os.environ[k]
        full.setdefault("INSTANCE_IP", "127.0.0.1")
        # no Envoy and no gRPC bootstrap here: /healthz/ready is then 200
        # (spec 9.3); the readiness checks have their own tests
        full.setdefault("DISABLE_ENVOY", "true")
        full.setdefault("GRPC_XDS_BOOTSTRAP", "")
        if probers is not None:
            full["ISTIO_KUBE_APP_PROBERS"] = probers if isinstance(probers, str) else _json(probers)
        full.update(env or {})
        self.env = full
        self.cwd = tempfile.mkdtemp(prefix="ska-agent-")
        cmd = [skiff_bin_path(), "agent", "--status-port", str(self.port)] + list(args or [])
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.log_path = os.path.join(self.cwd, "agent.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(cmd, env=full, cwd=self.cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("agent exited: " + self.output())
            if "listening on port" in self.output():
                return
            time.sleep(0.02)
        raise RuntimeError("agent did not start: " + self.output())

    def output(self):
        if getattr(self, "_final_output", None) is not None:
            return self._final_output
        with open(self.log_path) as f:
            return f.read()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            if not self.log.closed:
                self.log.close()
                with open(self.log_path) as f:
                    self._final_output = f.read()
                shutil.rmtree(self.cwd, ignore_errors=True)


def _json(obj):
    import json
    return json.dumps(obj)


def raw_request(port, data, host="127.0.0.1", timeout=10, read_all=True):
    """Send raw bytes to the status port, return the raw answer (until close
    or the first complete response when read_all is False)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            if not read_all and b"\r\n\r\n" in buf:
                head, _, body = buf.partition(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if len(body) >= n:
                    break
        return buf
    finally:
        s.close()


def get(port, path, headers=None, method="GET", close=True, timeout=10):
    """One request; returns (status, headers dict (lower-case names), body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    for k, v in (headers or []):
        lines.append(f"{k}: {v}")
    if close:
        lines.append("Connection: close")
    raw = raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode(), timeout=timeout,
                      read_all=False)
    return parse_response(raw)


def parse_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def time_wait_count(local_addr):
    """Sockets in TIME_WAIT whose local address is local_addr."""
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True,
                         text=True).stdout
    n = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2].rsplit(":", 1)[0].strip("[]") == local_addr:
            n += 1
    return n
