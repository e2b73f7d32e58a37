"""`skiff inject` behaviour beyond the goldens: every capture annotation,
gRPC probes, workload kinds, multi-document streams, JSON, Lists, mesh config
and values files, bad input (file/document/line, annotation names, no partial
output)."""
import json
import os
import stat
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from inject_helpers import (container, docs, env_of, init_args, inject,  # noqa: E402
                            inject_doc, pod_doc, pod_spec)

BASE = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
        "-i", "*", "-x", "", "-b", "*"]


def args_for(annotations, extra_args=()):
    out, _ = inject_doc(pod_doc(annotations), extra_args=extra_args)
    return init_args(out["spec"])


# ---- annotation matrix: every capture annotation (capture.md 11) ----

ANN = "traffic.sidecar.istio.io/"


@pytest.mark.parametrize("ann,want", [
    ({}, BASE + ["-d", "15090,15021,15020"]),
    ({ANN + "excludeInboundPorts": "22"}, BASE + ["-d", "15090,15021,22,15020"]),
    ({ANN + "excludeInboundPorts": "8080, 9090"}, BASE + ["-d", "15090,15021,8080,9090,15020"]),
    ({ANN + "excludeInboundPorts": "15020,22"}, BASE + ["-d", "15090,15021,15020,22"]),
    ({ANN + "excludeInboundPorts": ""}, BASE + ["-d", "15090,15021,15020"]),
    ({"status.sidecar.istio.io/port": "0"}, BASE + ["-d", "15090,15021"]),
    ({"status.sidecar.istio.io/port": "0", ANN + "excludeInboundPorts": "22"},
     BASE + ["-d", "15090,15021,22"]),
    ({"status.sidecar.istio.io/port": "15555"}, BASE + ["-d", "15090,15021,15555"]),
    ({ANN + "includeInboundPorts": "80,443"},
     BASE[:-1] + ["80,443", "-d", "15090,15021,15020"]),
    ({ANN + "includeInboundPorts": ""}, BASE[:-1] + ["", "-d", "15090,15021,15020"]),
    ({ANN + "includeOutboundIPRanges": "10.0.0.0/8,172.16.0.0/12"},
     BASE[:10] + ["10.0.0.0/8,172.16.0.0/12", "-x", "", "-b", "*", "-d", "15090,15021,15020"]),
    ({ANN + "excludeOutboundIPRanges": "169.254.169.254/32"},
     BASE[:12] + ["169.254.169.254/32", "-b", "*", "-d", "15090,15021,15020"]),
    ({ANN + "includeOutboundPorts": "3306"}, BASE + ["-d", "15090,15021,15020", "-q", "3306"]),
    ({ANN + "excludeOutboundPorts": "5432"}, BASE + ["-d", "15090,15021,15020", "-o", "5432"]),
    ({ANN + "kubevirtInterfaces": "net1"}, BASE + ["-d", "15090,15021,15020", "-k", "net1"]),
    ({ANN + "includeOutboundPorts": "1", ANN + "excludeOutboundPorts": "2",
      ANN + "kubevirtInterfaces": "k"},
     BASE + ["-d", "15090,15021,15020", "-q", "1", "-o", "2", "-k", "k"]),
    ({"sidecar.istio.io/interceptionMode": "TPROXY"},
     BASE[:8] + ["TPROXY"] + BASE[9:] + ["-d", "15090,15021,15020"]),
])
def test_capture_annotation_matrix(ann, want):
    assert args_for(ann) == want


def test_interception_none_adds_no_init_container():
    out, _ = inject_doc(pod_doc({"sidecar.istio.io/interceptionMode": "NONE"}))
    assert init_args(out["spec"]) is None
    assert container(out["spec"], "istio-proxy") is not None


def test_values_flags_and_annotations_win():
    a = args_for({}, ["--exclude-inbound-ports", "22", "--include-ip-ranges", "10.0.0.0/8",
                      "--exclude-outbound-ports=15020", "--status-port", "15555"])
    assert a == ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT",
                 "-i", "10.0.0.0/8", "-x", "", "-b", "*", "-d", "15090,15021,22,15555",
                 "-o", "15020"]
    a = args_for({ANN + "excludeInboundPorts": "8080"}, ["--exclude-inbound-ports", "22"])
    assert a[-1] == "15090,15021,8080,15020"


def test_tproxy_mode_from_flag():
    out, _ = inject_doc(pod_doc(), extra_args=["--interception-mode", "TPROXY"])
    assert init_args(out["spec"])[8] == "TPROXY"
    px = container(out["spec"], "istio-proxy")
    assert dict(env_of(px))["ISTIO_META_INTERCEPTION_MODE"] == "TPROXY"
    assert px["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]


@pytest.mark.parametrize("ann,value", [
    (ANN + "excludeInboundPorts", "22,ssh"),
    (ANN + "excludeInboundPorts", "99999"),
    (ANN + "includeInboundPorts", "80;443"),
    (ANN + "excludeOutboundPorts", "x"),
    (ANN + "includeOutboundIPRanges", "10.0.0.0"),
    (ANN + "excludeOutboundIPRanges", "10.0.0.0/40"),
    ("sidecar.istio.io/interceptionMode", "redirect"),
    ("status.sidecar.istio.io/port", "abc"),
])
def test_invalid_annotation_is_named(tmp_path, ann, value):
    src = tmp_path / "in.yaml"
    src.write_text(yaml.safe_dump(pod_doc({ann: value})))
    out = tmp_path / "out.yaml"
    p = inject(["-f", str(src), "-o", str(out)], check=False)
    assert p.returncode == 1
    assert f"annotation {ann}" in p.stderr and value in p.stderr, p.stderr
    assert "document 0" in p.stderr
    assert not out.exists()


# ---- probes through the command line ----

def test_grpc_probes():
    c = [{"name": "foo", "image": "i",
          "livenessProbe": {"grpc": {"port": 1234}},
          "readinessProbe": {"grpc": {"port": 1235, "service": "foo"}, "timeoutSeconds": 10}},
         {"name": "bar", "image": "i",
          "startupProbe": {"grpc": {"port": 1236}, "timeoutSeconds": 20, "periodSeconds": 10,
                           "initialDelaySeconds": 10}}]
    out, _ = inject_doc(pod_doc(containers=c))
    spec = out["spec"]
    assert container(spec, "foo")["livenessProbe"] == {
        "httpGet": {"path": "/app-health/foo/livez", "port": 15020}}
    assert container(spec, "foo")["readinessProbe"] == {
        "httpGet": {"path": "/app-health/foo/readyz", "port": 15020}, "timeoutSeconds": 10}
    assert container(spec, "bar")["startupProbe"] == {
        "httpGet": {"path": "/app-health/bar/startupz", "port": 15020}, "timeoutSeconds": 20,
        "periodSeconds": 10, "initialDelaySeconds": 10}
    env = dict(env_of(container(spec, "istio-proxy")))
    assert env["ISTIO_KUBE_APP_PROBERS"] == (
        '{"/app-health/bar/startupz":{"grpc":{"port":1236,"service":null},"timeoutSeconds":20},'
        '"/app-health/foo/livez":{"grpc":{"port":1234,"service":null}},'
        '"/app-health/foo/readyz":{"grpc":{"port":1235,"service":"foo"},"timeoutSeconds":10}}')


def test_https_named_port_status_port_annotation_and_warning():
    c = [{"name": "app", "image": "i", "ports": [{"name": "https", "containerPort": 8443}],
          "readinessProbe": {"httpGet": {"port": "https", "scheme": "HTTPS", "path": "/r"}},
          "livenessProbe": {"httpGet": {"port": "nosuch"}},
          "startupProbe": {"exec": {"command": ["true"]}}}]
    out, p = inject_doc(pod_doc({"status.sidecar.istio.io/port": "123"}, containers=c))
    app = container(out["spec"], "app")
    assert app["readinessProbe"] == {"httpGet": {"port": 123, "scheme": "HTTP",
                                                 "path": "/app-health/app/readyz"}}
    assert app["livenessProbe"] == {"httpGet": {"path": "/app-health/app/livez", "port": 123}}
    assert app["startupProbe"] == {"exec": {"command": ["true"]}}
    env = dict(env_of(container(out["spec"], "istio-proxy")))
    assert env["ISTIO_KUBE_APP_PROBERS"] == \
        '{"/app-health/app/readyz":{"httpGet":{"path":"/r","port":8443,"scheme":"HTTPS"}}}'
    assert '"nosuch" is not a named port' in p.stderr
    assert container(out["spec"], "istio-proxy")["readinessProbe"]["httpGet"]["port"] == 15021


def test_status_port_zero_drops_proxy_readiness():
    out, _ = inject_doc(pod_doc({"status.sidecar.istio.io/port": "0"}))
    assert "readinessProbe" not in container(out["spec"], "istio-proxy")


def test_rewrite_disabled_by_flag():
    c = [{"name": "a", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}}]
    out, _ = inject_doc(pod_doc(containers=c), extra_args=["--rewrite-app-probers=false"])
    assert container(out["spec"], "a")["readinessProbe"] == {"httpGet": {"port": 80}}
    assert "ISTIO_KUBE_APP_PROBERS" not in dict(env_of(container(out["spec"], "istio-proxy")))


# ---- workloads, documents, formats ----

def template(containers=None):
    return {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": containers or [
                {"name": "app", "image": "i", "readinessProbe": {"tcpSocket": {"port": 9}}}]}}


WORKLOADS = {
    "Deployment": ("apps/v1", lambda t: {"replicas": 1, "template": t}),
    "ReplicaSet": ("apps/v1", lambda t: {"template": t}),
    "StatefulSet": ("apps/v1", lambda t: {"serviceName": "s", "template": t}),
    "DaemonSet": ("apps/v1", lambda t: {"template": t}),
    "Job": ("batch/v1", lambda t: {"template": t}),
    "ReplicationController": ("v1", lambda t: {"template": t}),
    "CronJob": ("batch/v1", lambda t: {"schedule": "* * * * *",
                                       "jobTemplate": {"spec": {"template": t}}}),
}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_every_workload_kind(kind):
    api, spec = WORKLOADS[kind]
    doc = {"apiVersion": api, "kind": kind, "metadata": {"name": "w", "namespace": "ns1"},
           "spec": spec(template())}
    out, _ = inject_doc(doc)
    s, md = pod_spec(out)
    px = container(s, "istio-proxy")
    env = dict(env_of(px))
    assert env["ISTIO_META_OWNER"] == \
        f"kubernetes://apis/{api}/namespaces/ns1/{kind.lower()}s/w"
    assert env["ISTIO_META_WORKLOAD_NAME"] == "w"
    assert env["ISTIO_KUBE_APP_PROBERS"] == '{"/app-health/app/readyz":{"tcpSocket":{"port":9}}}'
    assert init_args(s)[-1] == "15090,15021,15020"
    assert "sidecar.istio.io/status" in md["annotations"]


def test_multi_document_stream_keeps_order_and_other_documents_verbatim(tmp_path):
    svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s  # keep me\nspec:\n  ports: [{port: 80}]\n"
    cm = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}\n'
    dep = yaml.safe_dump({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "d"}, "spec": {"template": template()}})
    skipped = yaml.safe_dump(pod_doc({"sidecar.istio.io/inject": "false"}, name="opt-out"))
    hostnet = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hn"},
               "spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "i"}]}}
    text = "\n".join([svc, "---", cm, "---", "# just a comment", "---", dep, "---", skipped,
                      "---", yaml.safe_dump(hostnet)])
    src = tmp_path / "multi.yaml"
    src.write_text(text)
    p = inject(["-f", str(src)])
    out = p.stdout.split("---\n")
    assert out[-1] == ""
    out = out[:-1]
    assert len(out) == 5
    assert out[0] == svc  # byte for byte, comment included
    assert out[1] == cm
    d = yaml.safe_load(out[2])
    assert d["kind"] == "Deployment" and container(pod_spec(d)[0], "istio-proxy")
    assert out[3] == skipped
    assert yaml.safe_load(out[4]) == hostnet
    assert "not injected" in p.stderr and "host network" in p.stderr
    assert 'sidecar.istio.io/inject is "false"' in p.stderr


def test_list_items_are_injected():
    lst = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": template()}},
        pod_doc(name="p")]}
    out, _ = inject_doc(lst)
    items = out["items"]
    assert items[0] == lst["items"][0]
    assert container(pod_spec(items[1])[0], "istio-proxy")
    assert container(items[2]["spec"], "istio-proxy")


def test_json_input_from_stdin():
    doc = pod_doc(containers=[{"name": "a", "image": "i",
                               "livenessProbe": {"httpGet": {"port": 8080, "path": "/x"}}}])
    p = inject(["-f", "-"], input=json.dumps(doc))
    out = docs(p.stdout)[0]
    assert dict(env_of(container(out["spec"], "istio-proxy")))["ISTIO_KUBE_APP_PROBERS"] == \
        '{"/app-health/a/livez":{"httpGet":{"path":"/x","port":8080}}}'


def test_mesh_config_and_values_files(tmp_path):
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("defaultConfig:\n  statusPort: 15555\n  proxyMetadata:\n"
                    "    ISTIO_META_DNS_CAPTURE: \"true\"\ntrustDomain: example.org\n")
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"global": {"hub": "reg.example/istio", "tag": "1.13.0",
                                             "proxy": {"statusPort": 15555,
                                                       "excludeInboundPorts": "22",
                                                       "includeIPRanges": "10.0.0.0/8"}},
                                  "sidecarInjectorWebhook": {"rewriteAppHTTPProbe": True}}))
    c = [{"name": "a", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}}]
    out, _ = inject_doc(pod_doc(containers=c), extra_args=[
        "--meshConfigFile", str(mesh), "--valuesFile", str(values)])
    s = out["spec"]
    px = container(s, "istio-proxy")
    env = dict(env_of(px))
    assert px["image"] == "reg.example/istio/proxyv2:1.13.0"
    assert env["TRUST_DOMAIN"] == "example.org"
    assert env["ISTIO_META_DNS_CAPTURE"] == "true"
    assert init_args(s)[10] == "10.0.0.0/8"
    assert init_args(s)[-1] == "15090,15021,22,15555"
    assert container(s, "a")["readinessProbe"]["httpGet"]["port"] == 15555
    assert out["metadata"]["annotations"]["prometheus.io/port"] == "15555"
    assert dict(env_of(container(s, "istio-init", "initContainers")))["ISTIO_META_DNS_CAPTURE"] == "true"
    # the same values as an istio-sidecar-injector ConfigMap
    cm = tmp_path / "cm.yaml"
    cm.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                  "data": {"values": values.read_text()}}))
    out2, _ = inject_doc(pod_doc(containers=c), extra_args=[
        "--meshConfigFile", str(mesh), "--valuesFile", str(cm)])
    assert out2 == out


@pytest.mark.parametrize("content,needle", [
    ("defaultConfig:\n  statusPort: abc\n", "defaultConfig.statusPort"),
    ("defaultConfig:\n  statusPort: 70000\n", "70000"),
    ("defaultConfig: [1\n", "line"),
    ("defaultConfig:\n  interceptionMode: FAST\n", "interceptionMode"),
])
def test_bad_mesh_config(tmp_path, content, needle):
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(content)
    p = inject(["-f", "-", "--meshConfigFile", str(mesh)], input="kind: Service\n", check=False)
    assert p.returncode == 1
    assert "--meshConfigFile" in p.stderr and needle in p.stderr, p.stderr


# ---- bad input and output ----

def test_unparseable_yaml_names_file_document_and_line(tmp_path):
    src = tmp_path / "broken.yaml"
    src.write_text("kind: Service\n---\nkind: Pod\nmetadata:\n  name: a\n  x: [1, 2\n")
    out = tmp_path / "out.yaml"
    out.write_text("old")
    p = inject(["-f", str(src), "-o", str(out)], check=False)
    assert p.returncode == 1
    assert f"{src}: document 1, line " in p.stderr, p.stderr
    assert out.read_text() == "old"  # untouched


def test_unparseable_json(tmp_path):
    src = tmp_path / "broken.json"
    src.write_text('{"kind": "Pod",\n "spec": {"containers": [}\n')
    p = inject(["-f", str(src)], check=False)
    assert p.returncode == 1
    assert "broken.json: document 0, line" in p.stderr


def test_unwritable_output(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(stat.S_IRUSR | stat.S_IXUSR)
    src = tmp_path / "in.yaml"
    src.write_text(yaml.safe_dump(pod_doc()))
    if os.geteuid() == 0:
        # root ignores the mode; use a path below a regular file instead
        p = inject(["-f", str(src), "-o", str(src) + "/out.yaml"], check=False)
    else:
        p = inject(["-f", str(src), "-o", str(d / "out.yaml")], check=False)
    assert p.returncode == 1
    assert "-o" in p.stderr
    assert os.listdir(d) == []


def test_missing_input_and_usage():
    p = inject(["-f", "/nonexistent/x.yaml"], check=False)
    assert p.returncode == 1 and "/nonexistent/x.yaml" in p.stderr
    p = inject([], check=False)
    assert p.returncode == 1 and "-f" in p.stderr
    p = inject(["--bogus", "1"], check=False)
    assert p.returncode == 1 and "--bogus" in p.stderr
    p = inject(["--help"])
    assert "--meshConfigFile" in p.stdout and "--valuesFile" in p.stdout


def test_wrong_types_in_pod_are_errors():
    doc = pod_doc(containers=[{"name": "a", "livenessProbe": {"httpGet": {"port": [80]}}}])
    p = inject(["-f", "-"], input=yaml.safe_dump(doc), check=False)
    assert p.returncode == 1
    assert "livenessProbe.port" in p.stderr


def test_example_does_what_its_readme_says():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "inject")
    p = inject(["-f", os.path.join(root, "deployment.yaml")])
    out = docs(p.stdout)
    src = docs(open(os.path.join(root, "deployment.yaml")).read())
    assert out[0] == src[0]
    s, _ = pod_spec(out[1])
    assert init_args(s)[-1] == "15090,15021,22,9999,15020"
    web = container(s, "web")
    assert [web[k]["httpGet"]["path"] for k in ("readinessProbe", "livenessProbe", "startupProbe")] \
        == ["/app-health/web/readyz", "/app-health/web/livez", "/app-health/web/startupz"]
    env = env_of(container(s, "istio-proxy"))
    assert env[-1] == ("ISTIO_KUBE_APP_PROBERS",
                       '{"/app-health/web/livez":{"tcpSocket":{"port":8080}},'
                       '"/app-health/web/readyz":{"httpGet":{"path":"/ready","port":8080}},'
                       '"/app-health/web/startupz":{"grpc":{"port":9090,"service":null}}}')
    again = inject(["-f", "-"], input=p.stdout).stdout
    assert docs(again) == out


def test_user_istio_proxy_is_merged_and_its_probe_untouched():
    """probes.md 13 / golden proxy-override: a user-defined istio-proxy keeps
    its own livenessProbe and fields; the template fills in the rest."""
    c = [{"name": "app", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}},
         {"name": "istio-proxy", "image": "my/proxy:1",
          "livenessProbe": {"httpGet": {"port": 15000, "path": "/x"}},
          "env": [{"name": "CUSTOM", "value": "1"}, {"name": "JWT_POLICY", "value": "first-party-jwt"}]}]
    out, _ = inject_doc(pod_doc(containers=c))
    cl = out["spec"]["containers"]
    assert [x["name"] for x in cl] == ["app", "istio-proxy"]
    px = cl[1]
    assert px["livenessProbe"] == {"httpGet": {"port": 15000, "path": "/x"}}
    assert px["image"] == "my/proxy:1"
    env = dict(env_of(px))
    assert env["CUSTOM"] == "1" and env["JWT_POLICY"] == "first-party-jwt"
    assert env["ISTIO_KUBE_APP_PROBERS"] == '{"/app-health/app/readyz":{"httpGet":{"port":80}}}'
    assert env_of(px)[-1][0] == "ISTIO_KUBE_APP_PROBERS"
    assert px["readinessProbe"]["httpGet"]["port"] == 15021  # from the template


def test_prometheus_merge_hands_the_app_settings_to_the_agent():
    c = [{"name": "app", "image": "i", "readinessProbe": {"httpGet": {"port": 80}}}]
    out, _ = inject_doc(pod_doc({"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                                 "prometheus.io/path": "/m"}, containers=c))
    env = env_of(container(out["spec"], "istio-proxy"))
    assert env[-2] == ("ISTIO_PROMETHEUS_ANNOTATIONS", '{"scrape":"true","path":"/m","port":"9090"}')
    assert env[-1][0] == "ISTIO_KUBE_APP_PROBERS"
    ann = out["metadata"]["annotations"]
    assert (ann["prometheus.io/port"], ann["prometheus.io/path"], ann["prometheus.io/scrape"]) == \
        ("15020", "/stats/prometheus", "true")
    out, _ = inject_doc(pod_doc({"prometheus.io/scrape": "false"}))
    assert out["metadata"]["annotations"]["prometheus.io/scrape"] == "false"
    assert "prometheus.io/port" not in out["metadata"]["annotations"]


def test_invalid_utf8_input(tmp_path):
    src = tmp_path / "bad.yaml"
    src.write_bytes(b"kind: Service\n---\nkind: Pod\nmetadata:\n  name: \xff\n")
    p = inject(["-f", str(src)], check=False)
    assert p.returncode == 1
    assert "document 1, line 5: not valid UTF-8" in p.stderr
