"""examples/webhook/ must work as written: make-cert.sh makes a pair the
webhook serves and curl trusts under the Service's DNS name, the
Deployment's args are flags skiff accepts, and the Service, the Deployment
and the MutatingWebhookConfiguration agree on names, ports and path."""
import os
import subprocess

import yaml

from webhook_helpers import ROOT_DIR, Webhook, free_port, run_skiff  # noqa: F401

EX = os.path.join(ROOT_DIR, "examples", "webhook")


def load(name):
    return [d for d in yaml.safe_load_all(open(os.path.join(EX, name))) if d]


def test_manifests_agree():
    (dep,) = load("deployment.yaml")
    (svc,) = load("service.yaml")
    (mwc,) = load("mutatingwebhookconfiguration.yaml")
    assert (dep["kind"], svc["kind"], mwc["kind"]) == ("Deployment", "Service", "MutatingWebhookConfiguration")
    c = dep["spec"]["template"]["spec"]["containers"][0]
    args = c["args"]
    assert args[0] == "webhook"
    port = int(args[args.index("--port") + 1])
    assert c["ports"][0]["containerPort"] == port
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": port, "scheme": "HTTPS"}
    assert svc["spec"]["ports"][0]["targetPort"] == port
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    hook = mwc["webhooks"][0]
    ref = hook["clientConfig"]["service"]
    assert (ref["name"], ref["namespace"]) == (svc["metadata"]["name"], svc["metadata"]["namespace"])
    assert ref["port"] == svc["spec"]["ports"][0]["port"]
    assert ref["path"] == "/inject"
    assert hook["rules"][0]["resources"] == ["pods"] and hook["rules"][0]["operations"] == ["CREATE"]
    assert set(hook["admissionReviewVersions"]) == {"v1", "v1beta1"}
    assert hook["sideEffects"] == "None"


def test_cert_script_and_deployment_args(skiff_bin, tmp_path):
    d = str(tmp_path / "certs")
    subprocess.run([os.path.join(EX, "make-cert.sh"), "istio-system", "skiff-webhook", d],
                   check=True, capture_output=True)
    (dep,) = load("deployment.yaml")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    # the Deployment's flags, with the mounted paths pointing at the test's files
    args = [a.replace("/etc/skiff/certs", d) for a in args]
    i = args.index("--meshConfigFile")
    del args[i:i + 2]
    i = args.index("--valuesFile")
    del args[i:i + 2]
    port = args.index("--port")
    del args[port:port + 2]
    assert args[:5] == ["webhook", "--tls-cert", f"{d}/tls.crt", "--tls-key", f"{d}/tls.key"]
    w = Webhook(str(tmp_path), args[2], args[4], os.path.join(d, "ca.crt"), extra=args[5:],
                check_hostname=False)  # the name is checked by curl below
    try:
        r = subprocess.run(["curl", "-sS", "--cacert", os.path.join(d, "ca.crt"), "--resolve",
                            f"skiff-webhook.istio-system.svc:{w.port}:127.0.0.1",
                            f"https://skiff-webhook.istio-system.svc:{w.port}/healthz"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "ok\n"
    finally:
        w.stop_clean()
