"""Helpers for the `skiff webhook` e2e tests: a test PKI made with openssl,
a webhook process over real TLS, AdmissionReviews built from pods, and the
`skiff inject` side the patched pods are compared with.

Ports come from the webhook's loopback range 35000-39999.
"""
import base64
import copy
import http.client
import json
import os
import random
import ssl
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import free_tcp_port, run_skiff, skiff_bin_path  # noqa: E402

PORT_RANGE = (35000, 39999)
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    return free_tcp_port(*PORT_RANGE)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    """A self-signed EC CA: returns (cert path, key path)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign", cwd=d)
    return os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")


def make_server_cert(d, ca, name, key_type="ec"):
    """A server certificate for 127.0.0.1 / localhost signed by CA (name
    prefix for the files): returns (cert path, key path)."""
    ca_crt, ca_key = ca
    if key_type == "rsa":
        newkey = ["-newkey", "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    openssl("req", *newkey, "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca_crt, "-CAkey", ca_key,
            "-set_serial", str(random.randint(1, 2**62)), "-days", "2",
            "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    return os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")


def install_pair(src, cert_path, key_path):
    """Replace the served files the way a rotation does: write aside, rename."""
    for s, dst in zip(src, (cert_path, key_path)):
        tmp = dst + ".new"
        with open(s, "rb") as fi, open(tmp, "wb") as fo:
            fo.write(fi.read())
        os.rename(tmp, dst)


def tls_context(cafile, check_hostname=True):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = check_hostname
    return ctx


class Webhook:
    """A running `skiff webhook` on 127.0.0.1."""

    def __init__(self, tmp, cert, key, cafile, extra=(), env=None, check_hostname=True):
        self.port = free_port()
        self.cafile = cafile
        self.check_hostname = check_hostname
        self.log_path = os.path.join(tmp, f"webhook-{self.port}.log")
        self.log = open(self.log_path, "w")
        full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                full_env[k] = os.environ[k]
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [skiff_bin_path(), "webhook", "--tls-cert", cert, "--tls-key", key,
             "--port", str(self.port), "--address", "127.0.0.1", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        try:
            self.wait_ready()
        except BaseException:
            self.proc.kill()  # never leave a server behind a failed start
            self.proc.wait()
            self.log.close()
            raise

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"webhook exited {self.proc.returncode}: {self.logs()}")
            try:
                status, _, _ = self.request("GET", "/healthz")
                if status == 200:
                    return
            except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
                last = exc
            time.sleep(0.05)
        raise AssertionError(f"webhook not ready: {last}: {self.logs()}")

    def connection(self, cafile=None):
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                           context=tls_context(cafile or self.cafile, self.check_hostname))

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, dict(resp.getheaders()), data
        finally:
            if own:
                conn.close()

    def post_review(self, review, path="/inject", conn=None):
        body = review if isinstance(review, (bytes, str)) else json.dumps(review)
        if isinstance(body, str):
            body = body.encode()
        return self.request("POST", path, body, {"Content-Type": "application/json"}, conn)

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def stop_clean(self):
        """Stop with SIGTERM; the exit must be 0 and the log free of
        sanitizer reports (when SKIFF_BIN is the ASan build)."""
        rc = self.stop()
        logs = self.logs()
        assert "Sanitizer" not in logs and "runtime error" not in logs, logs[-4000:]
        assert rc == 0, f"webhook exited {rc}: {logs[-2000:]}"


RS_HASH = "7d9c5b8f4c"
CONTROLLER_FIELDS = ("generateName", "ownerReferences")


def pod_from_deployment(doc, controlled=True):
    """Istio's webhook test converts each input's pod template to a Pod.
    With `controlled`, the Pod is shaped as the ReplicaSet controller of
    the Deployment creates it (generateName, pod-template-hash label, a
    controller ownerReference), so the injector can name the workload as
    kube-inject does from the Deployment (ISTIO_META_WORKLOAD_NAME/OWNER)."""
    tmpl = doc["spec"]["template"]
    meta = copy.deepcopy(tmpl.get("metadata") or {})
    if controlled and doc.get("kind") == "Deployment":
        name = doc["metadata"]["name"]
        meta["generateName"] = f"{name}-{RS_HASH}-"
        meta.setdefault("labels", {})["pod-template-hash"] = RS_HASH
        meta["ownerReferences"] = [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-{RS_HASH}",
            "uid": "5f0a4a3e-0b6c-4a43-9d0e-3f1c2b7d9a11", "controller": True,
            "blockOwnerDeletion": True}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(tmpl["spec"])}
    return pod


def without_controller_fields(meta):
    """The metadata a controlled pod has that its template had not."""
    meta = copy.deepcopy(meta)
    for k in CONTROLLER_FIELDS:
        meta.pop(k, None)
    labels = meta.get("labels") or {}
    if labels.get("pod-template-hash") == RS_HASH:
        del labels["pod-template-hash"]
    return meta


def review_for(obj, api="admission.k8s.io/v1", namespace="default", operation="CREATE",
               kind=None, uid=None):
    if kind is None:
        kind = {"group": "", "version": "v1", "kind": obj.get("kind", "Pod")}
    req = {
        "uid": uid or str(uuid.uuid4()),
        "kind": kind,
        "resource": {"group": kind.get("group", ""), "version": kind.get("version", "v1"),
                     "resource": kind.get("kind", "Pod").lower() + "s"},
        "requestKind": kind,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
        "object": copy.deepcopy(obj),
        "oldObject": None,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }
    return {"apiVersion": api, "kind": "AdmissionReview", "request": req}


def decode_response(body, review):
    """Parse a response review and check the envelope against the request."""
    resp = json.loads(body)
    assert resp["apiVersion"] == review["apiVersion"], resp
    assert resp["kind"] == "AdmissionReview", resp
    assert resp["response"]["uid"] == review["request"]["uid"], resp
    return resp["response"]


def patch_ops(response):
    assert response.get("patchType") == "JSONPatch", response
    return json.loads(base64.b64decode(response["patch"], validate=True))


def apply_patch(doc, ops):
    """Apply with a real RFC 6902 implementation (python3-jsonpatch)."""
    import jsonpatch
    return jsonpatch.apply_patch(doc, ops)


def strip_writer_artifacts(obj):
    """Remove what only the YAML writer of kube-inject adds (spec/probes.md
    section 16 and the README of the vectors): creationTimestamp: null,
    empty resources/status/strategy objects."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "creationTimestamp" and v is None:
                continue
            out[k] = strip_writer_artifacts(v)
        return out
    if isinstance(obj, list):
        return [strip_writer_artifacts(x) for x in obj]
    return obj


def kube_inject_template(path, extra_args=(), env=None):
    """`skiff inject` of a Deployment file: the injected pod template as a
    Pod-shaped dict (metadata, spec)."""
    import yaml
    r = run_skiff(["inject", "-f", path, *extra_args], env=env)
    assert r.returncode == 0, f"skiff inject -f {path}: {r.stderr}"
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert len(docs) == 1, docs
    tmpl = docs[0]["spec"]["template"]
    return {"metadata": tmpl.get("metadata") or {}, "spec": tmpl["spec"]}
