"""`skiff webhook` against the real injection core: AdmissionReviews built
from Istio 1.13's inject vectors (each Deployment's pod template as a Pod,
as Istio's own webhook test does) must come back as a JSONPatch that, applied
with a real RFC 6902 implementation, gives exactly the pod `skiff inject`
writes for the same input, for admission.k8s.io/v1 and v1beta1. Also: the
opt-outs, the /inject/cluster/C/net/N path form, re-injection of a golden and
of a patched pod, and curl as the client.
"""
import base64
import json
import os
import subprocess

import pytest
import yaml

from conftest import istio_vectors
from webhook_helpers import (Webhook, apply_patch, decode_response, kube_inject_template,
                             make_ca, make_server_cert, patch_ops, pod_from_deployment,
                             review_for, run_skiff, strip_writer_artifacts, without_controller_fields)

VECTORS = istio_vectors("inject")
APIS = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]

# input -> (golden, istiod environment), from the vectors' README
CASES = {
    "hello-probes.yaml": ("hello-probes.yaml.injected", {}),
    "named_port.yaml": ("named_port.yaml.injected", {}),
    "hello-readiness.yaml": ("hello-readiness.yaml.injected", {}),
    "two_container.yaml": ("two_container.yaml.injected", {}),
    "startup_only.yaml": ("startup_only.yaml.injected", {}),
    "tcp-probes.yaml": ("tcp-probes.yaml.injected", {}),
    "tcp-probes-disabled": ("tcp-probes-disabled.yaml.injected", {"REWRITE_TCP_PROBES": "false"}),
    "hello-probes-with-flag-unset-in-annotation.yaml":
        ("hello-probes-with-flag-unset-in-annotation.yaml.injected", {}),
    "hello-probes-with-flag-set-in-annotation.yaml":
        ("hello-probes-with-flag-set-in-annotation.yaml.injected", {}),
    "hello-probes-proxyHoldApplication-ProxyConfig.yaml":
        ("hello-probes-proxyHoldApplication-ProxyConfig.yaml.injected", {}),
}


def input_file(case):
    return os.path.join(VECTORS, "tcp-probes.yaml" if case == "tcp-probes-disabled" else case)


@pytest.fixture(scope="module")
def core_available(skiff_bin):
    if VECTORS is None:
        pytest.skip("Istio 1.13 inject vectors not found (../shared/conformance or SKIFF_CONFORMANCE_DIR)")
    r = run_skiff(["inject", "-f", os.path.join(VECTORS, "named_port.yaml")])
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = make_ca(d, "ca")
    cert, key = make_server_cert(d, ca, "server")
    return {"dir": d, "ca": ca[0], "cert": cert, "key": key}


_hooks = {}


def webhook_for(pki, env, flags=()):
    """One webhook process per istiod environment and flags, shared by the module."""
    key = (tuple(sorted(env.items())), tuple(flags))
    if key not in _hooks:
        _hooks[key] = Webhook(pki["dir"], pki["cert"], pki["key"], pki["ca"], env=env,
                              extra=list(flags))
    return _hooks[key]


@pytest.fixture(scope="module", autouse=True)
def _stop_hooks():
    yield
    for w in _hooks.values():
        w.stop_clean()
    _hooks.clear()


def load_deployment(path):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    assert len(docs) == 1
    return docs[0]


def inject_via_webhook(w, pod, api, path="/inject", namespace="default"):
    review = review_for(pod, api=api, namespace=namespace)
    status, headers, body = w.post_review(review, path=path)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    resp = decode_response(body, review)
    assert resp["allowed"] is True, resp
    return resp


def same_pod(patched, expected):
    got = {"metadata": strip_writer_artifacts(without_controller_fields(patched.get("metadata") or {})),
           "spec": strip_writer_artifacts(patched["spec"])}
    want = {"metadata": strip_writer_artifacts(expected["metadata"]),
            "spec": strip_writer_artifacts(expected["spec"])}
    assert got["spec"] == want["spec"], json.dumps(got["spec"], indent=1)
    assert got["metadata"] == want["metadata"], json.dumps(got["metadata"], indent=1)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_patched_pod_equals_kube_inject(core_available, pki, case, api):
    golden, env = CASES[case]
    path = input_file(case)
    pod = pod_from_deployment(load_deployment(path))
    w = webhook_for(pki, env)
    resp = inject_via_webhook(w, pod, api)
    ops = patch_ops(resp)
    assert ops, "an injection must change the pod"
    for op in ops:
        assert op["op"] in ("add", "remove", "replace"), op
        assert not op["path"].startswith("/metadata/namespace"), op
        assert not op["path"].startswith(("/metadata/generateName", "/metadata/ownerReferences",
                                          "/metadata/labels/pod-template-hash")), op
    patched = apply_patch(pod, ops)
    assert patched["apiVersion"] == "v1" and patched["kind"] == "Pod"
    same_pod(patched, kube_inject_template(path, env=env))

    # the parts the vectors pin, straight from the golden
    g = load_deployment(os.path.join(VECTORS, golden))["spec"]["template"]["spec"]
    want_proxy = [c for c in g["containers"] if c["name"] == "istio-proxy"][0]
    got_proxy = [c for c in patched["spec"]["containers"] if c["name"] == "istio-proxy"][0]
    want_env = [e for e in want_proxy["env"] if e["name"] == "ISTIO_KUBE_APP_PROBERS"]
    got_env = [e for e in got_proxy["env"] if e["name"] == "ISTIO_KUBE_APP_PROBERS"]
    assert got_env == want_env
    if want_env:
        assert got_proxy["env"][-1]["name"] == "ISTIO_KUBE_APP_PROBERS"
    for c in g["containers"]:
        if c["name"] == "istio-proxy":
            continue
        mine = [x for x in patched["spec"]["containers"] if x["name"] == c["name"]][0]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert mine.get(probe) == c.get(probe), (c["name"], probe)
    assert patched["spec"]["initContainers"][0]["args"] == g["initContainers"][0]["args"]


@pytest.mark.parametrize("case", sorted(c for c in CASES if c != "tcp-probes-disabled"))
def test_golden_reinjected_unchanged(core_available, pki, case):
    """Istio's test injects each golden again: nothing may change."""
    golden, env = CASES[case]
    pod = pod_from_deployment(load_deployment(os.path.join(VECTORS, golden)))
    resp = inject_via_webhook(webhook_for(pki, env), pod, APIS[0])
    if "patch" in resp:
        assert strip_writer_artifacts(apply_patch(pod, patch_ops(resp))) == strip_writer_artifacts(pod)


def test_patched_pod_reinjected_unchanged(core_available, pki):
    pod = pod_from_deployment(load_deployment(os.path.join(VECTORS, "hello-probes.yaml")))
    w = webhook_for(pki, {})
    once = apply_patch(pod, patch_ops(inject_via_webhook(w, pod, APIS[0])))
    resp = inject_via_webhook(w, once, APIS[1])
    twice = apply_patch(once, patch_ops(resp)) if "patch" in resp else once
    assert twice == once


def base_pod():
    return pod_from_deployment(load_deployment(os.path.join(VECTORS, "named_port.yaml")))


@pytest.mark.parametrize("mutate", [
    lambda p: p["metadata"].setdefault("annotations", {}).update({"sidecar.istio.io/inject": "false"}),
    lambda p: p["metadata"].setdefault("labels", {}).update({"sidecar.istio.io/inject": "false"}),
    lambda p: p["spec"].update({"hostNetwork": True}),
], ids=["annotation-false", "label-false", "hostNetwork"])
def test_pod_opt_outs(core_available, pki, mutate):
    pod = base_pod()
    mutate(pod)
    resp = inject_via_webhook(webhook_for(pki, {}), pod, APIS[0])
    assert "patch" not in resp and "patchType" not in resp, resp


def test_label_wins_over_annotation(core_available, pki):
    pod = base_pod()
    pod["metadata"].setdefault("annotations", {})["sidecar.istio.io/inject"] = "false"
    pod["metadata"].setdefault("labels", {})["sidecar.istio.io/inject"] = "true"
    resp = inject_via_webhook(webhook_for(pki, {}), pod, APIS[0])
    patched = apply_patch(pod, patch_ops(resp))
    assert [c["name"] for c in patched["spec"]["containers"]][-1] == "istio-proxy"


def test_namespace_from_request_is_not_patched(core_available, pki):
    pod = base_pod()
    assert "namespace" not in pod["metadata"]
    resp = inject_via_webhook(webhook_for(pki, {}), pod, APIS[0], namespace="shop")
    patched = apply_patch(pod, patch_ops(resp))
    assert "namespace" not in patched["metadata"]


def test_cluster_and_network_from_path(core_available, pki):
    pod = pod_from_deployment(load_deployment(os.path.join(VECTORS, "hello-probes.yaml")))
    w = webhook_for(pki, {})
    plain = apply_patch(pod, patch_ops(inject_via_webhook(w, pod, APIS[0])))
    resp = inject_via_webhook(w, pod, APIS[0], path="/inject/cluster/east-1/net/network-2")
    patched = apply_patch(pod, patch_ops(resp))
    env = [c for c in patched["spec"]["containers"] if c["name"] == "istio-proxy"][0]["env"]
    names = [e["name"] for e in env]
    values = {e["name"]: e.get("value") for e in env}
    assert values["ISTIO_META_CLUSTER_ID"] == "east-1"
    assert values["ISTIO_META_NETWORK"] == "network-2"
    assert names.count("ISTIO_META_CLUSTER_ID") == 1 and names.count("ISTIO_META_NETWORK") == 1
    assert names[-1] == "ISTIO_KUBE_APP_PROBERS"
    # everything else is as on /inject
    plain_env = [c for c in plain["spec"]["containers"] if c["name"] == "istio-proxy"][0]["env"]
    rest = [e for e in env if e["name"] not in ("ISTIO_META_CLUSTER_ID", "ISTIO_META_NETWORK")]
    assert rest == [e for e in plain_env if e["name"] not in ("ISTIO_META_CLUSTER_ID", "ISTIO_META_NETWORK")]


def test_curl_client(core_available, pki, tmp_path):
    path = os.path.join(VECTORS, "hello-readiness.yaml")
    pod = pod_from_deployment(load_deployment(path))
    review = review_for(pod, api=APIS[1])
    body = tmp_path / "review.json"
    body.write_text(json.dumps(review))
    w = webhook_for(pki, {})
    r = subprocess.run(["curl", "-sS", "--fail", "--cacert", pki["ca"], "-H", "Content-Type: application/json",
                        "--data-binary", f"@{body}", f"https://127.0.0.1:{w.port}/inject"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    resp = decode_response(r.stdout, review)
    ops = json.loads(base64.b64decode(resp["patch"]))
    same_pod(apply_patch(pod, ops), kube_inject_template(path))


def test_injection_error_is_denied_with_reason(core_available, pki):
    pod = base_pod()
    pod["metadata"].setdefault("annotations", {})["status.sidecar.istio.io/port"] = "abc"
    review = review_for(pod)
    status, _, body = webhook_for(pki, {}).post_review(review)
    assert status == 200
    resp = decode_response(body, review)
    assert resp["allowed"] is False
    assert "status.sidecar.istio.io/port" in resp["status"]["message"], resp
    r = run_skiff(["inject", "-f", "-"], input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Pod", "metadata": pod["metadata"], "spec": pod["spec"]}))
    assert r.returncode != 0  # skiff inject refuses the same pod


@pytest.mark.parametrize("controlled,owner", [
    (True, ("hello", "kubernetes://apis/apps/v1/namespaces/shop/deployments/hello")),
    (False, ("p1", "kubernetes://apis/v1/namespaces/shop/pods/p1")),
], ids=["replicaset-pod", "bare-pod"])
def test_workload_from_owner_and_request_namespace(core_available, pki, controlled, owner):
    """The namespace of the request reaches the core (the pod itself has
    none, as the API server sends it): the workload env names it."""
    pod = pod_from_deployment(load_deployment(os.path.join(VECTORS, "named_port.yaml")), controlled)
    if not controlled:
        pod["metadata"]["name"] = "p1"
    resp = inject_via_webhook(webhook_for(pki, {}), pod, APIS[0], namespace="shop")
    patched = apply_patch(pod, patch_ops(resp))
    env = {e["name"]: e.get("value") for e in
           [c for c in patched["spec"]["containers"] if c["name"] == "istio-proxy"][0]["env"]}
    assert (env["ISTIO_META_WORKLOAD_NAME"], env["ISTIO_META_OWNER"]) == owner


@pytest.mark.parametrize("flags", [
    ["--status-port", "15099"],
    ["--interception-mode", "TPROXY", "--exclude-inbound-ports", "22"],
    ["--rewrite-app-probers", "false"],
    ["--hub", "registry.example/istio", "--tag", "1.13.0"],
], ids=lambda f: " ".join(f))
def test_injection_flags_as_kube_inject(core_available, pki, flags):
    """The webhook takes `skiff inject`'s injection settings and gives the
    same pod with them."""
    path = os.path.join(VECTORS, "hello-probes.yaml")
    pod = pod_from_deployment(load_deployment(path))
    patched = apply_patch(pod, patch_ops(inject_via_webhook(webhook_for(pki, {}, flags), pod, APIS[0])))
    expected = kube_inject_template(path, extra_args=flags)
    same_pod(patched, expected)
    assert expected != kube_inject_template(path)  # the flag did change something


def test_bad_injection_settings(skiff_bin, pki, tmp_path):
    base = ["webhook", "--tls-cert", pki["cert"], "--tls-key", pki["key"], "--port", "35998"]
    r = run_skiff(base + ["--status-port", "abc"])
    assert r.returncode == 1 and "--status-port" in r.stderr and "abc" in r.stderr, r.stderr
    r = run_skiff(base + ["--meshConfigFile", str(tmp_path / "none.yaml")])
    assert r.returncode == 1 and "--meshConfigFile" in r.stderr, r.stderr
    bad = tmp_path / "values.yaml"
    bad.write_text("global: [unclosed\n")
    r = run_skiff(base + ["--valuesFile", str(bad)])
    assert r.returncode == 1 and "values.yaml" in r.stderr, r.stderr


def test_concurrent_reviews(core_available, pki):
    """Reviews in parallel on keep-alive connections (the pool runs the core
    on two threads): every answer is the one its own pod gets alone."""
    import threading
    names = ["hello-probes.yaml", "two_container.yaml", "tcp-probes.yaml", "startup_only.yaml"]
    pods = [pod_from_deployment(load_deployment(os.path.join(VECTORS, n))) for n in names]
    w = webhook_for(pki, {})
    alone = [apply_patch(p, patch_ops(inject_via_webhook(w, p, APIS[0]))) for p in pods]
    failures = []

    def client(k):
        conn = w.connection()
        try:
            for i in range(15):
                j = (k + i) % len(pods)
                review = review_for(pods[j], api=APIS[i % 2])
                status, _, body = w.post_review(review, conn=conn)
                resp = decode_response(body, review)
                if status != 200 or apply_patch(pods[j], patch_ops(resp)) != alone[j]:
                    failures.append((k, i, names[j]))
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
