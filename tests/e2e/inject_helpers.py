"""Helpers for the `skiff inject` tests (conformance and e2e layers)."""
import os
import subprocess

import yaml

from conftest import istio_vectors, run_skiff, skiff_bin_path  # noqa: F401  (re-exported)

INJECT_DIR = ("inject",)

# golden -> (input file, extra istiod environment), as the README lists them
GOLDEN_INPUTS = {
    "tcp-probes-disabled.yaml.injected": ("tcp-probes.yaml", {"REWRITE_TCP_PROBES": "false"}),
}


def vectors_dir():
    return istio_vectors(*INJECT_DIR)


def golden_pairs():
    """[(golden name, input path, golden path, env)] or [] when absent."""
    d = vectors_dir()
    if not d:
        return []
    out = []
    for g in sorted(os.listdir(d)):
        if not g.endswith(".yaml.injected"):
            continue
        inp, env = GOLDEN_INPUTS.get(g, (g[: -len(".injected")], {}))
        out.append((g, os.path.join(d, inp), os.path.join(d, g), env))
    return out


def inject(args, env=None, input=None, check=True):
    """Run `skiff inject ARGS`; return the CompletedProcess (checked)."""
    p = run_skiff(["inject"] + list(args), env=env, input=input)
    if check and p.returncode != 0:
        raise AssertionError(f"skiff inject {args} failed ({p.returncode}):\n{p.stderr}")
    return p


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def pod_spec(doc):
    kind = doc.get("kind")
    if kind == "Pod":
        return doc["spec"], doc.get("metadata", {})
    if kind == "CronJob":
        t = doc["spec"]["jobTemplate"]["spec"]["template"]
    else:
        t = doc["spec"]["template"]
    return t["spec"], t.get("metadata", {})


def container(spec, name, field="containers"):
    for c in spec.get(field) or []:
        if c.get("name") == name:
            return c
    return None


def env_of(c):
    return [(e["name"], e.get("value")) for e in c.get("env", [])]


def init_args(spec):
    c = container(spec, "istio-init", "initContainers")
    return c["args"] if c else None


def pod_doc(annotations=None, containers=None, name="p", labels=None):
    md = {"name": name}
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": containers or [{"name": "app", "image": "img"}]}}


def inject_doc(doc, env=None, extra_args=()):
    p = inject(["-f", "-"] + list(extra_args), env=env, input=yaml.safe_dump(doc))
    out = docs(p.stdout)
    assert len(out) == 1, p.stdout
    return out[0], p


def run_iptables_dry_run(args, resolv_conf):
    """Feed istio-init args (without the leading 'istio-iptables') to
    `skiff iptables --dry-run`; returns the CompletedProcess."""
    return run_skiff(["iptables", "--dry-run", "--ipv6=false",
                      f"--resolv-conf={resolv_conf}"] + list(args))
