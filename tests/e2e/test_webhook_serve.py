"""`skiff webhook` as an HTTPS server: TLS with a test CA, /healthz, the
400/404/405/415 answers, non-Pod objects, ignored namespaces, flags,
SIGTERM, connection limits and certificate rotation without a restart.

Everything here runs against the real binary over real TLS on loopback
(ports 35000-39999); the injection results themselves are checked in
test_webhook_inject.py.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from webhook_helpers import (Webhook, decode_response, install_pair, make_ca,
                             make_server_cert, review_for, run_skiff, tls_context)

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
       "spec": {"containers": [{"name": "app", "image": "nginx"}]}}


@pytest.fixture
def pki(tmp_path):
    d = str(tmp_path)
    ca = make_ca(d, "ca1")
    cert, key = make_server_cert(d, ca, "server1")
    return {"dir": d, "ca": ca, "cert": cert, "key": key}


@pytest.fixture
def webhook(pki, skiff_bin):
    w = Webhook(pki["dir"], pki["cert"], pki["key"], pki["ca"][0],
                extra=["--max-request-bytes", "65536"])
    yield w
    w.stop_clean()


def test_help(skiff_bin):
    r = run_skiff(["webhook", "--help"])
    assert r.returncode == 0
    for flag in ("--tls-cert", "--tls-key", "--port", "--meshConfigFile", "--valuesFile"):
        assert flag in r.stdout


@pytest.mark.parametrize("args,message", [
    ([], "--tls-cert is required"),
    (["--tls-cert", "c.pem"], "--tls-key is required"),
    (["--tls-cert", "c", "--tls-key", "k", "--port", "70000"], "--port \"70000\""),
    (["--tls-cert", "c", "--tls-key", "k", "--port", "x1"], "--port \"x1\""),
    (["--tls-cert", "c", "--tls-key", "k", "--threads", "0"], "--threads \"0\""),
    (["--tls-cert", "c", "--tls-key", "k", "--log_output_level", "loud"], "--log_output_level \"loud\""),
    (["--tls-cert", "c", "--tls-key", "k", "--bogus"], "unknown option \"--bogus\""),
    (["--tls-cert", "c", "--tls-key", "k", "extra"], "unexpected argument \"extra\""),
])
def test_bad_flags(skiff_bin, args, message):
    r = run_skiff(["webhook", *args])
    assert r.returncode == 1, r
    assert message in r.stderr, r.stderr


def test_bad_files(skiff_bin, pki, tmp_path):
    other = make_server_cert(pki["dir"], pki["ca"], "other")
    missing = str(tmp_path / "nope.pem")
    port = "35999"
    r = run_skiff(["webhook", "--tls-cert", missing, "--tls-key", pki["key"], "--port", port])
    assert r.returncode == 1 and "--tls-cert" in r.stderr and "nope.pem" in r.stderr, r.stderr
    r = run_skiff(["webhook", "--tls-cert", pki["cert"], "--tls-key", pki["cert"], "--port", port])
    assert r.returncode == 1 and "--tls-key" in r.stderr and "no PEM private key" in r.stderr, r.stderr
    r = run_skiff(["webhook", "--tls-cert", pki["key"], "--tls-key", pki["key"], "--port", port])
    assert r.returncode == 1 and "--tls-cert" in r.stderr, r.stderr
    r = run_skiff(["webhook", "--tls-cert", pki["cert"], "--tls-key", other[1], "--port", port])
    assert r.returncode == 1 and "does not belong to the certificate" in r.stderr, r.stderr


def test_port_in_use(skiff_bin, pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_skiff(["webhook", "--tls-cert", pki["cert"], "--tls-key", pki["key"],
                       "--address", "127.0.0.1", "--port", str(port)], timeout=20)
    assert r.returncode == 2, r
    assert f"--port {port}" in r.stderr


def test_healthz_python_and_curl(webhook, pki):
    status, headers, body = webhook.request("GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    r = subprocess.run(["curl", "-sS", "--cacert", pki["ca"][0], "-w", "%{http_code}",
                        f"https://127.0.0.1:{webhook.port}/healthz"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n200"
    # without the CA the certificate is not trusted
    r = subprocess.run(["curl", "-sS", f"https://127.0.0.1:{webhook.port}/healthz"],
                       capture_output=True, text=True)
    assert r.returncode != 0


def test_tls_versions(webhook):
    ctx = tls_context(webhook.cafile)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", webhook.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = tls_context(webhook.cafile)
        ctx.minimum_version = ctx.maximum_version = v
        with socket.create_connection(("127.0.0.1", webhook.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() == ("TLSv1.2" if v == ssl.TLSVersion.TLSv1_2 else "TLSv1.3")


def post_raw(webhook, body, path="/inject", ctype="application/json"):
    headers = {"Content-Type": ctype} if ctype else {}
    return webhook.request("POST", path, body, headers)


@pytest.mark.parametrize("body,message", [
    (b"", "no body found"),
    (b"{", "could not decode the AdmissionReview"),
    (b"[1,2]", "not a JSON object"),
    (json.dumps({"apiVersion": "admission.k8s.io/v2", "kind": "AdmissionReview"}).encode(),
     "apiVersion \"admission.k8s.io/v2\""),
    (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
     "request: missing"),
    (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                 "request": {"kind": {"kind": "Pod"}}}).encode(), "request.uid: missing"),
    (json.dumps(review_for(POD) | {"request": review_for(POD)["request"] | {"object": None}}).encode(),
     "request.object: missing"),
])
def test_malformed_is_400(webhook, body, message):
    status, headers, data = post_raw(webhook, body)
    assert status == 400, data
    assert message in data.decode(), data
    assert headers["Content-Type"].startswith("text/plain")


def test_oversized_is_400(webhook):
    review = review_for(POD)
    review["request"]["object"]["metadata"]["annotations"] = {"big": "x" * 70000}
    status, _, data = webhook.post_review(review)
    assert status == 400
    assert b"over the limit of 65536 bytes" in data
    # a chunked body (no Content-Length) that grows over the limit
    conn = webhook.connection()
    body = json.dumps(review).encode()
    conn.putrequest("POST", "/inject")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(body), 8192):
        chunk = body[i:i + 8192]
        conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 400
    assert b"over the limit of 65536 bytes" in resp.read()
    conn.close()
    # the server is still fine afterwards
    assert webhook.request("GET", "/healthz")[0] == 200


def test_other_answers(webhook):
    assert post_raw(webhook, b"{}", ctype="text/plain")[0] == 415
    assert b"want `application/json`" in post_raw(webhook, b"{}", ctype=None)[2]
    assert webhook.request("GET", "/inject")[0] == 405
    assert post_raw(webhook, b"{}", path="/mutate")[0] == 404
    assert post_raw(webhook, b"{}", path="/injectx")[0] == 404


@pytest.mark.parametrize("api", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
@pytest.mark.parametrize("obj,kind", [
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
     {"group": "apps", "version": "v1", "kind": "Deployment"}),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {}},
     {"group": "", "version": "v1", "kind": "Service"}),
])
def test_non_pod_allowed_unpatched(webhook, api, obj, kind):
    review = review_for(obj, api=api, kind=kind)
    status, headers, data = webhook.post_review(review)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    resp = decode_response(data, review)
    assert resp == {"uid": review["request"]["uid"], "allowed": True}


@pytest.mark.parametrize("ns", ["kube-system", "kube-public"])
def test_ignored_namespaces(webhook, ns):
    review = review_for(POD, namespace=ns)
    status, _, data = webhook.post_review(review)
    assert status == 200
    assert decode_response(data, review) == {"uid": review["request"]["uid"], "allowed": True}
    assert f"namespace {ns} is never injected" in webhook.logs()


def test_keepalive_many_requests(webhook):
    conn = webhook.connection()
    for i in range(20):
        review = review_for({"kind": "ConfigMap"}, kind={"group": "", "version": "v1", "kind": "ConfigMap"})
        status, _, data = webhook.post_review(review, conn=conn)
        assert status == 200
        decode_response(data, review)
    conn.close()


def test_sigterm_exits_cleanly(pki, skiff_bin):
    w = Webhook(pki["dir"], pki["cert"], pki["key"], pki["ca"][0])
    conn = w.connection()
    assert w.request("GET", "/healthz", conn=conn)[0] == 200  # an open keep-alive connection
    start = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    rc = w.proc.wait(timeout=10)
    assert rc == 0
    assert time.monotonic() - start < 5
    assert "SIGTERM received" in w.logs()
    conn.close()
    w.stop()


def test_connection_limit(pki, skiff_bin):
    w = Webhook(pki["dir"], pki["cert"], pki["key"], pki["ca"][0],
                extra=["--max-connections", "2", "--threads", "1"])
    try:
        held = []
        for _ in range(2):
            c = w.connection()
            assert w.request("GET", "/healthz", conn=c)[0] == 200
            held.append(c)
        # over the limit the server stops accepting: the handshake stalls
        with pytest.raises((OSError, ssl.SSLError)):
            with socket.create_connection(("127.0.0.1", w.port), timeout=1) as raw:
                with tls_context(w.cafile).wrap_socket(raw, server_hostname="127.0.0.1"):
                    pass
        for c in held:
            c.close()
        time.sleep(0.2)
        assert w.request("GET", "/healthz")[0] == 200
    finally:
        w.stop_clean()


def peer_cert_der(port, cafile):
    ctx = tls_context(cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def pem_to_der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def test_certificate_rotation_without_restart(pki, skiff_bin, tmp_path):
    d = pki["dir"]
    serving = str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")
    install_pair((pki["cert"], pki["key"]), *serving)
    # both CAs are trusted by the client, so each connection tells which
    # certificate it got
    bundle = str(tmp_path / "bundle.pem")
    ca2 = make_ca(d, "ca2")
    with open(bundle, "w") as f:
        f.write(open(pki["ca"][0]).read() + open(ca2[0]).read())
    w = Webhook(d, *serving, bundle)
    try:
        pid = w.proc.pid
        old = w.connection()
        assert w.request("GET", "/healthz", conn=old)[0] == 200
        assert peer_cert_der(w.port, bundle) == pem_to_der(pki["cert"])

        # rotate to a new pair from another CA (an RSA key this time)
        second = make_server_cert(d, ca2, "server2", key_type="rsa")
        install_pair(second, *serving)
        assert peer_cert_der(w.port, bundle) == pem_to_der(second[0])
        assert w.proc.poll() is None and w.proc.pid == pid
        # the connection opened before keeps working with its certificate
        assert w.request("GET", "/healthz", conn=old)[0] == 200
        # a client that trusts only the first CA now fails; the second CA works
        with pytest.raises(ssl.SSLCertVerificationError):
            peer_cert_der(w.port, pki["ca"][0])
        assert peer_cert_der(w.port, ca2[0]) == pem_to_der(second[0])

        # a half-done rotation (new certificate, old key) is not used
        third = make_server_cert(d, pki["ca"], "server3")
        shutil.copy(third[0], serving[0] + ".tmp")
        os.rename(serving[0] + ".tmp", serving[0])
        assert peer_cert_der(w.port, bundle) == pem_to_der(second[0])
        assert "does not belong to the certificate" in w.logs()
        # ... until the key follows
        shutil.copy(third[1], serving[1] + ".tmp")
        os.rename(serving[1] + ".tmp", serving[1])
        assert peer_cert_der(w.port, bundle) == pem_to_der(third[0])

        # rewritten in place (same inode) counts too
        with open(serving[0], "w") as f:
            f.write(open(pki["cert"]).read())
        with open(serving[1], "w") as f:
            f.write(open(pki["key"]).read())
        assert peer_cert_der(w.port, bundle) == pem_to_der(pki["cert"])
        old.close()
        assert w.logs().count("serving certificate reloaded") >= 3
    finally:
        w.stop_clean()


def test_api_server_timeout_query(webhook):
    """The API server calls webhooks as POST /inject?timeout=10s."""
    review = review_for({"kind": "ConfigMap"}, kind={"group": "", "version": "v1", "kind": "ConfigMap"})
    status, _, data = webhook.post_review(review, path="/inject?timeout=10s")
    assert status == 200
    assert decode_response(data, review)["allowed"] is True
    status, _, data = webhook.post_review(review, path="/inject/cluster/c1/net/n1?timeout=30s")
    assert status == 200
