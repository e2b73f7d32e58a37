"""Real kernel: refused configurations leave no rule, a second install is
refused without touching the first, a failure in a later table is rolled
back, clean-iptables leaves no ISTIO chain and is idempotent, validation
mode, and the istio-iptables / istio-clean-iptables links."""
import os
import subprocess

import pytest

from capture_helpers import pair  # noqa: F401 (fixture)
from conftest import run_skiff, skiff_bin_path

SIDECAR = ["-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*",
           "-b", "*", "-d", "15090,15021,15020"]


@pytest.mark.parametrize("args,needle", [
    (["-d", "70000"], '-d: port "70000" is out of range 1-65535'),
    (["-b", "80,abc"], '-b: "abc" is not a port'),
    (["-x", "*"], '-x: "*" is not allowed'),
    (["-i", "10.0.0.0/33"], "-i: prefix length of \"10.0.0.0/33\""),
    (["-i", "10.0.0.1"], '-i: "10.0.0.1" is not a CIDR range'),
    (["-m", "tproxy"], '-m: interception mode "tproxy" is not REDIRECT or TPROXY'),
    (["-u", "-5"], '-u: user id "-5" is out of range'),
    (["-u", "no-such-user-x"], '-u: "no-such-user-x" is not a user id'),
    (["-t", "0x10"], '-t: mark "0x10" is not a decimal number'),
    (["-r", "254"], "-r: route table \"254\""),
    (["-k", "eth0,bad/name"], '-k: interface name "bad/name"'),
    (["--bogus"], "unknown flag: --bogus"),
])
def test_refused_configuration_leaves_no_rule(pair, args, needle):
    p = pair
    before = p.rules()
    r = p.skiff("iptables", *SIDECAR, *args)
    assert r.returncode == 1, r.stderr
    assert needle in r.stderr
    assert p.rules() == before
    assert "ISTIO" not in p.save()


def test_refused_value_from_environment_names_the_variable(pair):
    p = pair
    r = p.skiff("iptables", env={"ISTIO_LOCAL_EXCLUDE_PORTS": "22,99999", "ISTIO_INBOUND_PORTS": "*"})
    assert r.returncode == 1
    assert 'ISTIO_LOCAL_EXCLUDE_PORTS: port "99999" is out of range 1-65535' in r.stderr
    assert "ISTIO" not in p.save()


def test_install_twice_is_refused_and_keeps_the_first(pair):
    p = pair
    assert p.skiff("iptables", *SIDECAR).returncode == 0
    first = p.rules()
    r = p.skiff("iptables", *SIDECAR)
    assert r.returncode == 255
    assert "clean-iptables" in r.stderr
    assert p.rules() == first


def test_later_table_failure_rolls_back_earlier_tables(pair):
    """TPROXY over an existing REDIRECT install: mangle commits, nat fails
    (its chains exist); skiff must take the mangle rules out again."""
    p = pair
    assert p.skiff("iptables", *SIDECAR).returncode == 0
    first = p.rules()
    r = p.skiff("iptables", "-m", "TPROXY", "-b", "*", "-u", "1337", "-i", "*")
    assert r.returncode == 255
    assert p.rules() == first
    assert "ISTIO" not in p.ns(p.pod, "iptables-save", "-t", "mangle").stdout


def test_ipv6_failure_rolls_back_ipv4(pair):
    p = pair
    # Leave an ISTIO_INBOUND chain in ip6tables nat so only the v6 restore fails.
    p.ns(p.pod, "ip6tables", "-t", "nat", "-N", "ISTIO_INBOUND")
    r = p.skiff("iptables", "--ipv6=true", *SIDECAR)
    assert r.returncode == 255
    assert "ip6tables-restore" in r.stderr
    assert "ISTIO" not in p.save()


@pytest.mark.parametrize("extra", [
    [],
    ["-k", "eth0"],                     # kube-virt jumps keep ISTIO_REDIRECT alive in Istio
    ["--redirect-dns", "--capture-all-dns"],
    ["-m", "TPROXY"],
    ["--ipv6=true"],
])
def test_clean_leaves_no_istio_chain_and_runs_twice(pair, extra):
    p = pair
    r = p.skiff("iptables", *SIDECAR, *extra)
    assert r.returncode == 0, r.stderr
    assert "ISTIO" in p.save() + p.save(v6=True)
    env = {"CAPTURE_ALL_DNS": "true"} if "--capture-all-dns" in extra else None
    r = p.skiff("clean-iptables", *(["--redirect-dns"] if "--redirect-dns" in extra else []), env=env)
    assert r.returncode == 0, r.stderr
    assert "ISTIO" not in p.save()
    assert "ISTIO" not in p.save(v6=True)
    r = p.skiff("clean-iptables")
    assert r.returncode == 0
    # And the namespace takes a fresh install again.
    assert p.skiff("iptables", *SIDECAR).returncode == 0


def test_validation_mode(pair):
    p = pair
    assert p.skiff("iptables", *SIDECAR).returncode == 0
    # As the istio-validation container: uid 1337, rules installed by someone else.
    r = p.ns(p.pod, "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups",
             skiff_bin_path(), "iptables", "--run-validation", "--skip-rule-apply",
             "--probe-timeout=4s", check=False)
    assert r.returncode == 0, r.stderr
    assert "Validation passed" in r.stderr
    p.skiff("clean-iptables")
    r = p.ns(p.pod, "setpriv", "--reuid=1337", "--regid=1337", "--clear-groups",
             skiff_bin_path(), "iptables", "--run-validation", "--skip-rule-apply",
             "--probe-timeout=1500ms", check=False)
    assert r.returncode == 126
    assert "validation timeout" in r.stderr


def test_istio_named_links(tmp_path):
    """argv[0] istio-iptables / istio-clean-iptables selects the command."""
    link = tmp_path / "istio-iptables"
    os.symlink(os.path.abspath(skiff_bin_path()), link)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    args = ["--dry-run", "--ipv6=false", *SIDECAR]
    a = subprocess.run([str(link)] + args, capture_output=True, text=True, env=env)
    b = run_skiff(["iptables"] + args)
    assert a.returncode == 0 and b.returncode == 0, a.stderr
    assert a.stdout == b.stdout and "-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT" in a.stdout
    h = subprocess.run([str(link), "--help"], capture_output=True, text=True, env=env)
    assert h.returncode == 0 and h.stdout.startswith("Usage: istio-iptables")
    bad = subprocess.run([str(link), "-d", "0"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("istio-iptables: -d: port \"0\"")
    clean = tmp_path / "istio-clean-iptables"
    os.symlink(os.path.abspath(skiff_bin_path()), clean)
    c = subprocess.run([str(clean), "--dry-run"], capture_output=True, text=True, env=env)
    assert c.returncode == 0
    assert c.stdout.splitlines()[0] == "iptables -t nat -D PREROUTING -p tcp -j ISTIO_INBOUND"


def test_command_mode_installs_the_same_rules(pair):
    """--restore-format=false: one iptables process per rule, same result."""
    p = pair
    assert p.skiff("iptables", *SIDECAR, "-k", "eth9").returncode == 0
    restore_mode = p.rules()
    assert p.skiff("clean-iptables").returncode == 0
    p.ns(p.pod, "iptables", "-t", "nat", "-D", "PREROUTING", "-i", "eth9", "-j", "RETURN")
    assert "ISTIO" not in p.save()
    r = p.skiff("iptables", "-f=false", *SIDECAR, "-k", "eth9")
    assert r.returncode == 0, r.stderr
    assert p.rules() == restore_mode


def test_command_mode_failure_rolls_back(pair):
    p = pair
    p.ns(p.pod, "iptables", "-t", "nat", "-N", "ISTIO_OUTPUT")  # the 4th chain will fail
    r = p.skiff("iptables", "--restore-format=false", *SIDECAR)
    assert r.returncode == 255
    assert "iptables -t nat -N ISTIO_OUTPUT" in r.stderr
    assert [l for l in p.rules() if "ISTIO" in l] == [":ISTIO_OUTPUT - [0:0]"]


def test_cni_mode_applies_inside_the_named_namespace(pair):
    """--cni-mode runs every command through nsenter into --network-namespace;
    skiff itself runs in the peer namespace here, which must stay untouched."""
    p = pair
    r = p.skiff("iptables", "--cni-mode", f"--network-namespace=/var/run/netns/{p.pod}",
                "--ipv6=false", *SIDECAR, ns=p.peer)
    assert r.returncode == 0, r.stderr
    assert "ISTIO_INBOUND" in p.save()
    assert "ISTIO" not in p.ns(p.peer, "iptables-save").stdout


def test_output_paths_holds_the_applied_payload(pair, tmp_path):
    p = pair
    out = tmp_path / "rules.txt"
    out.write_text("x" * 5000)  # longer than the payload: skiff truncates (Istio does not)
    r = p.skiff("iptables", "--output-paths", str(out), *SIDECAR)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert text.startswith("* nat\n-N ISTIO_INBOUND\n") and text.endswith("COMMIT\n")
    assert "x" not in text


def test_trace_logging_applies(pair):
    """NFLOG companions go through iptables-restore (which strips the quotes)."""
    p = pair
    r = p.skiff("iptables", "--iptables-trace-logging", "-k", "vm0", *SIDECAR)
    assert r.returncode == 0, r.stderr
    save = p.save()
    assert '--nflog-prefix JumpOutbound' in save or '--nflog-prefix "JumpOutbound"' in save
    assert "KubevirtCommand" in save
    assert p.skiff("clean-iptables").returncode == 0
    assert "ISTIO" not in p.save()


def test_tproxy_ipv6_routes_and_rules(pair):
    p = pair
    r = p.skiff("iptables", "--ipv6=true", "-m", "TPROXY", "-b", "*", "-u", "1337", "-i", "*")
    assert r.returncode == 0, r.stderr
    assert "-j TPROXY" in p.save(v6=True)
    assert "fwmark 0x539 lookup 133" in p.ns(p.pod, "ip", "-6", "rule", "show").stdout
    assert "local default dev lo" in p.ns(p.pod, "ip", "-6", "route", "show", "table", "133").stdout
    assert "::6/128" in p.ns(p.pod, "ip", "-6", "addr", "show", "dev", "lo").stdout
