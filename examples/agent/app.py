#!/usr/bin/python3
"""A tiny example application for `make run`: what the agent probes.

  GET  /healthz   200 (liveness; echoes the X-Probe header it got)
  GET  /ready     200, or 503 after POST /toggle (readiness)
  POST /toggle    flips readiness
  GET  /slow      answers after 3 s (longer than the probes' timeouts)
  GET  /metrics   a few Prometheus lines (merged into /stats/prometheus)
Every request is logged with the client address: probes come from 127.0.0.6.
"""
import http.server
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
state = {"ready": True, "requests": 0}


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        state["requests"] += 1
        if self.path == "/healthz":
            self.answer(200, b"alive, X-Probe=%s\n" % (self.headers.get("X-Probe") or "").encode())
        elif self.path == "/ready":
            self.answer(200 if state["ready"] else 503,
                        b"ready\n" if state["ready"] else b"not ready\n")
        elif self.path == "/slow":
            import time
            time.sleep(3)
            self.answer(200, b"slow\n")
        elif self.path == "/metrics":
            self.answer(200, b"# TYPE demo_requests_total counter\ndemo_requests_total %d\n"
                        % state["requests"])
        else:
            self.answer(404, b"not found\n")

    def do_POST(self):
        if self.path == "/toggle":
            state["ready"] = not state["ready"]
            self.answer(200, b"ready=%s\n" % str(state["ready"]).lower().encode())
        else:
            self.answer(404, b"not found\n")

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:
            # TCP probes: the agent connects and resets at once (no TIME_WAIT)
            sys.stderr.write("app: %s connected and reset (a tcpSocket probe)\n"
                             % self.client_address[0])

    def log_message(self, fmt, *args):
        sys.stderr.write("app: %s %s\n" % (self.client_address[0], fmt % args))


if __name__ == "__main__":
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), App)
    sys.stderr.write(f"app: listening on 127.0.0.1:{PORT}\n")
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
