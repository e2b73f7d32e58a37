"""Round trip: the istio-init args `skiff inject` gives a pod, fed to
`skiff iptables --dry-run`, produce the rules the annotations promise
(capture.md 11 and 13: in 1.13 port 22 is captured unless
traffic.sidecar.istio.io/excludeInboundPorts names it). With root, the same
args are also applied in a fresh network namespace (ski-inj-*) and the kernel's
rule set is checked."""
import os
import re
import shutil
import subprocess
import uuid

import pytest

from inject_helpers import init_args, inject_doc, pod_doc, run_iptables_dry_run, run_skiff

ANN = "traffic.sidecar.istio.io/"


@pytest.fixture(scope="module")
def resolv(tmp_path_factory):
    p = tmp_path_factory.mktemp("rc") / "resolv.conf"
    p.write_text("nameserver 10.96.0.10\n")
    return str(p)


def need_iptables():
    p = run_skiff(["iptables", "--help"])
    if p.returncode != 0 or "--dry-run" not in p.stdout + p.stderr:
        pytest.skip("skiff iptables is not built in this tree yet")


def rules_for(annotations, resolv, extra_args=()):
    need_iptables()
    out, _ = inject_doc(pod_doc(annotations), extra_args=extra_args)
    args = init_args(out["spec"])
    assert args[0] == "istio-iptables"
    p = run_iptables_dry_run(args[1:], resolv)
    assert p.returncode == 0, p.stderr
    return [line for line in p.stdout.splitlines() if line.startswith("iptables")], args


def has(rules, pattern):
    return any(re.search(pattern, r) for r in rules)


def inbound_return(port):
    return rf"-t (nat|mangle) -A ISTIO_INBOUND -p tcp --dport {port} -j RETURN$"


def test_defaults_capture_port_22(resolv):
    rules, _ = rules_for({}, resolv)
    for p in (15008, 15090, 15021, 15020):
        assert has(rules, inbound_return(p)), p
    assert not has(rules, r"--dport 22 "), "1.13 captures port 22 by default"
    assert has(rules, r"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT$")
    assert has(rules, r"-A ISTIO_OUTPUT -j ISTIO_REDIRECT$")  # -i '*'


def test_exclude_inbound_22_keeps_ssh_direct(resolv):
    rules, args = rules_for({ANN + "excludeInboundPorts": "22"}, resolv)
    assert args[-1] == "15090,15021,22,15020"
    assert has(rules, inbound_return(22))


def test_status_port_annotation_moves_the_exclusion(resolv):
    rules, _ = rules_for({"status.sidecar.istio.io/port": "15555"}, resolv)
    assert has(rules, inbound_return(15555))
    assert not has(rules, inbound_return(15020))
    rules, _ = rules_for({"status.sidecar.istio.io/port": "0"}, resolv)
    assert not has(rules, inbound_return(15020))


def test_include_inbound_ports_list(resolv):
    rules, _ = rules_for({ANN + "includeInboundPorts": "80,443"}, resolv)
    assert has(rules, r"-A ISTIO_INBOUND -p tcp --dport 80 -j ISTIO_IN_REDIRECT$")
    assert has(rules, r"-A ISTIO_INBOUND -p tcp --dport 443 -j ISTIO_IN_REDIRECT$")
    assert not has(rules, r"-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT$")
    assert not has(rules, inbound_return(15020))  # -d only applies with -b '*'


def test_no_inbound_capture(resolv):
    rules, _ = rules_for({ANN + "includeInboundPorts": ""}, resolv)
    assert not has(rules, r"-A PREROUTING -p tcp -j ISTIO_INBOUND")


def test_outbound_ranges(resolv):
    rules, _ = rules_for({ANN + "includeOutboundIPRanges": "10.0.0.0/8",
                          ANN + "excludeOutboundIPRanges": "10.1.0.0/16"}, resolv)
    assert has(rules, r"-A ISTIO_OUTPUT -d 10\.1\.0\.0/16 -j RETURN$")
    assert has(rules, r"-A ISTIO_OUTPUT -d 10\.0\.0\.0/8 -j ISTIO_REDIRECT$")
    assert not has(rules, r"-A ISTIO_OUTPUT -j ISTIO_REDIRECT$")


def test_outbound_ports(resolv):
    rules, _ = rules_for({ANN + "excludeOutboundPorts": "5432",
                          ANN + "includeOutboundPorts": "3306"}, resolv)
    assert has(rules, r"-A ISTIO_OUTPUT -p tcp --dport 5432 -j RETURN$")
    assert has(rules, r"--dport 3306 -j ISTIO_REDIRECT$")


def test_kubevirt_interfaces(resolv):
    rules, _ = rules_for({ANN + "kubevirtInterfaces": "net1"}, resolv)
    assert has(rules, r"-i net1 .*-j ISTIO_REDIRECT") or has(rules, r"-i net1")


def test_tproxy_mode(resolv):
    rules, _ = rules_for({"sidecar.istio.io/interceptionMode": "TPROXY"}, resolv)
    assert has(rules, r"-t mangle -A ISTIO_INBOUND")
    assert has(rules, r"TPROXY")


def test_proxy_metadata_dns_capture_reaches_istio_init(resolv):
    need_iptables()
    out, _ = inject_doc(pod_doc({"proxy.istio.io/config":
                                 'proxyMetadata: {ISTIO_META_DNS_CAPTURE: "true"}'}))
    init = next(c for c in out["spec"]["initContainers"] if c["name"] == "istio-init")
    env = {e["name"]: e["value"] for e in init.get("env", [])}
    assert env == {"ISTIO_META_DNS_CAPTURE": "true"}
    p = run_skiff(["iptables", "--dry-run", "--ipv6=false", f"--resolv-conf={resolv}"]
                  + init["args"][1:], env=env)
    assert p.returncode == 0, p.stderr
    assert "--dport 53" in p.stdout and "10.96.0.10" in p.stdout


# ---- the same args on a real kernel ----

def netns_or_skip():
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace; CI runs as root")
    for tool in ("ip", "iptables-restore", "iptables-save"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool}")
    name = f"ski-inj-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot create a network namespace: " + r.stderr.strip())
    return name


@pytest.mark.parametrize("ann,port22_excluded", [({}, False),
                                                  ({ANN + "excludeInboundPorts": "22"}, True)])
def test_applied_in_a_namespace(resolv, ann, port22_excluded):
    need_iptables()
    ns = netns_or_skip()
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
                       check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", "10.44.0.2/24", "dev", "d0"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "d0", "up"], check=True)
        out, _ = inject_doc(pod_doc(ann))
        args = init_args(out["spec"])
        skiff = os.environ.get("SKIFF_BIN", "build/skiff")
        r = subprocess.run(["ip", "netns", "exec", ns, skiff, "iptables",
                            f"--resolv-conf={resolv}"] + args[1:],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        saved = subprocess.run(["ip", "netns", "exec", ns, "iptables-save", "-t", "nat"],
                               capture_output=True, text=True, check=True).stdout
        assert "-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN" in saved
        assert ("-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN" in saved) == port22_excluded
        assert "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT" in saved
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
