"""Real kernel: TPROXY inbound capture delivering to a transparent listener."""
from capture_helpers import pair  # noqa: F401 (fixture)


def test_tproxy_delivers_to_transparent_listener(pair):
    p = pair
    p.server(p.pod, "tproxy", [15006], transparent=True)
    p.server(p.pod, "app", [8080])
    r = p.skiff("iptables", "-m", "TPROXY", "-b", "*", "-d", "22,15090,15021,15020",
                "-u", "1337", "-i", "*")
    assert r.returncode == 0, r.stderr
    # With TPROXY the listener's local address is the original destination.
    got = p.connect(p.peer, "10.77.0.2", 8080)
    assert got.startswith("tproxy local=8080"), got
    assert "src=10.77.0.1" in got  # source preserved
    rules = p.ns(p.pod, "ip", "rule", "show").stdout
    assert "fwmark 0x539 lookup 133" in rules
    assert "local default dev lo" in p.ns(p.pod, "ip", "route", "show", "table", "133").stdout


def test_tproxy_rerun_after_clean_keeps_one_policy_rule(pair):
    p = pair
    args = ["-m", "TPROXY", "-b", "*", "-u", "1337", "-i", "*"]
    assert p.skiff("iptables", *args).returncode == 0
    assert p.skiff("clean-iptables").returncode == 0
    r = p.skiff("iptables", *args)
    assert r.returncode == 0, r.stderr  # an existing policy rule/route is fine
    # clean-iptables leaves the policy rule (as Istio's does); the second
    # install must neither fail nor add a duplicate.
    rules = p.ns(p.pod, "ip", "rule", "show").stdout
    assert rules.count("lookup 133") == 1, rules
    assert p.skiff("clean-iptables").returncode == 0
    assert p.skiff("iptables", "--ipv6=true", *args).returncode == 0
    assert p.ns(p.pod, "ip", "-6", "rule", "show").stdout.count("lookup 133") == 1
