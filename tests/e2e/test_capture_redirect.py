"""Real kernel: REDIRECT-mode capture in a pod namespace joined by veth to a
peer namespace. Inbound to 15006 (port 22 included under -b '*'), -d 22 and
the VM cluster.env leaving 22 direct, outbound to 15001, uid 1337 exempt,
IPv6 inbound with Istio's address-based detection."""
import os

from capture_helpers import pair, pair_v6only  # noqa: F401 (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIDECAR = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
           "-b", "*", "-d", "15090,15021,15020"]


def start_pod_servers(p, family="4"):
    p.server(p.pod, "inbound-capture", [15006], family)
    p.server(p.pod, "outbound-capture", [15001], family)
    p.server(p.pod, "app", [22, 8080], family)


def test_wildcard_inbound_captures_port_22(pair):
    p = pair
    start_pod_servers(p)
    assert p.connect(p.peer, "10.77.0.2", 22).startswith("app local=22"), "before capture"
    r = p.skiff("iptables", *SIDECAR)
    assert r.returncode == 0, r.stderr
    # 1.13: no rule special-cases 22; the wildcard captures it.
    got = p.connect(p.peer, "10.77.0.2", 22)
    assert got.startswith("inbound-capture local=15006 orig=22"), got
    got = p.connect(p.peer, "10.77.0.2", 8080)
    assert got.startswith("inbound-capture local=15006 orig=8080"), got
    assert "--dport 22" not in p.save()


def test_exclude_port_22_keeps_ssh_direct(pair):
    p = pair
    start_pod_servers(p)
    args = [a if a != "15090,15021,15020" else "22,15090,15021,15020" for a in SIDECAR]
    r = p.skiff("iptables", *args)
    assert r.returncode == 0, r.stderr
    assert p.connect(p.peer, "10.77.0.2", 22).startswith("app local=22")
    assert p.connect(p.peer, "10.77.0.2", 8080).startswith("inbound-capture local=15006 orig=8080")


def test_vm_cluster_env_keeps_ssh_direct(pair):
    """istio-start.sh style: cluster.env sourced with set -a, no flags."""
    p = pair
    start_pod_servers(p)
    env_file = os.path.join(ROOT, "examples", "capture", "cluster.env")
    script = os.path.join(ROOT, "examples", "capture", "vm-start.sh")
    r = p.ns(p.pod, "sh", script, env_file, check=False,
             env={"SKIFF": os.environ.get("SKIFF_BIN", os.path.join(ROOT, "build", "skiff")),
                  "ISTIO_SIDECAR_CONFIG": "/nonexistent"})
    assert r.returncode == 0, r.stderr
    assert "-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN" in p.save()
    assert p.connect(p.peer, "10.77.0.2", 22).startswith("app local=22")
    assert p.connect(p.peer, "10.77.0.2", 8080).startswith("inbound-capture local=15006 orig=8080")


def test_vm_env_without_22_captures_ssh(pair):
    """A 1.12-generated cluster.env (no 22) after upgrading: SSH is captured."""
    p = pair
    start_pod_servers(p)
    r = p.skiff("iptables", env={"ISTIO_INBOUND_PORTS": "*", "ISTIO_SERVICE_CIDR": "*",
                                 "ISTIO_LOCAL_EXCLUDE_PORTS": "15090,15021,15020"})
    assert r.returncode == 0, r.stderr
    assert p.connect(p.peer, "10.77.0.2", 22).startswith("inbound-capture local=15006 orig=22")


def test_outbound_capture_and_proxy_uid_exempt(pair):
    p = pair
    start_pod_servers(p)
    p.server(p.peer, "remote", [9000])
    assert p.connect(p.pod, "10.77.0.1", 9000).startswith("remote"), "before capture"
    r = p.skiff("iptables", *SIDECAR)
    assert r.returncode == 0, r.stderr
    got = p.connect(p.pod, "10.77.0.1", 9000)
    assert got.startswith("outbound-capture local=15001 orig=9000"), got
    # The proxy's own traffic (uid 1337) goes out untouched.
    got = p.connect(p.pod, "10.77.0.1", 9000, uid=1337)
    assert got.startswith("remote local=9000"), got
    # Another uid is captured.
    assert p.connect(p.pod, "10.77.0.1", 9000, uid=1234).startswith("outbound-capture")


def test_outbound_excluded_range_and_port(pair):
    p = pair
    start_pod_servers(p)
    p.server(p.peer, "remote", [9000, 9001])
    r = p.skiff("iptables", "-u", "1337", "-i", "10.0.0.0/8", "-o", "9001")
    assert r.returncode == 0, r.stderr
    assert p.connect(p.pod, "10.77.0.1", 9000).startswith("outbound-capture")
    assert p.connect(p.pod, "10.77.0.1", 9001).startswith("remote local=9001")
    r2 = p.skiff("clean-iptables")
    assert r2.returncode == 0
    r = p.skiff("iptables", "-u", "1337", "-i", "*", "-x", "10.77.0.0/24")
    assert r.returncode == 0, r.stderr
    assert p.connect(p.pod, "10.77.0.1", 9000).startswith("remote local=9000")


def test_ipv6_inbound_autodetected(pair_v6only):
    p = pair_v6only
    start_pod_servers(p, family="6")
    r = p.skiff("iptables", *SIDECAR)  # --ipv6=auto: no IPv4 address, an IPv6 one
    assert r.returncode == 0, r.stderr
    assert "ISTIO_INBOUND" in p.save(v6=True)
    got = p.connect(p.peer, "fd00:77::2", 8080)
    assert got.startswith("inbound-capture local=15006 orig=8080"), got
    got = p.connect(p.peer, "fd00:77::2", 22)
    assert got.startswith("inbound-capture local=15006 orig=22"), got


def test_dual_stack_gets_ipv4_rules_only(pair):
    p = pair
    r = p.skiff("iptables", *SIDECAR)
    assert r.returncode == 0, r.stderr
    assert "ISTIO_INBOUND" in p.save()
    assert "ISTIO" not in p.save(v6=True)
    p.skiff("clean-iptables")
    r = p.skiff("iptables", "--ipv6=true", *SIDECAR)
    assert r.returncode == 0, r.stderr
    assert "ISTIO_INBOUND" in p.save(v6=True)
