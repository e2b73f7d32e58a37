"""Conformance: the CNI plugin's restore-form goldens (Istio 1.13).

The arguments per golden are the ones the vectors' README.txt gives as
equivalent istio-iptables arguments for the CNI plugin's forced settings.
skiff's --output-paths in dry-run writes the IPv4 iptables-restore payload,
as the plugin's DRY_RUN_FILE_PATH does; it must equal the golden byte for
byte (sections sorted mangle, nat, raw, as the goldens are).
"""
import os

import pytest

from conftest import istio_vectors, run_skiff

VEC = istio_vectors("cni")
SKIP = pytest.mark.skipif(VEC is None, reason="Istio 1.13 CNI vectors not found "
                          "(../shared/conformance or SKIFF_CONFORMANCE_DIR)")

BASIC = ["-p", "15001", "-z", "15006", "-u", "1337", "-g", "1337", "-m", "REDIRECT",
         "-i", "*", "-x", "", "-b", "*", "-d", "15020,15021,15090", "-o", "15020"]


def with_(args, **over):
    """BASIC with some short flags replaced (key = flag letter)."""
    out = list(args)
    for k, v in over.items():
        i = out.index("-" + k)
        out[i + 1] = v
    return out


CASES = {
    "basic": BASIC,
    "include-exclude-ip": with_(BASIC, i="127.0.0.0/8", x="10.0.0.0/8"),
    "include-exclude-ports": with_(BASIC, b="1111,2222", d="3333,4444,15020,15021,15090",
                                   o="5555,6666"),
    "tproxy": with_(BASIC, m="TPROXY"),
    "dns": BASIC + ["--redirect-dns", "--capture-all-dns"],
    "invalid-drop": BASIC + ["--drop-invalid"],
}


def restore_payload(tmp_path, args, env=None):
    out = tmp_path / "rules.txt"
    p = run_skiff(["iptables", "--dry-run", "--ipv6=false", "--output-paths", str(out)] + args,
                  env=env)
    assert p.returncode == 0, p.stderr
    return out.read_text()


@SKIP
@pytest.mark.parametrize("name", sorted(CASES))
def test_cni_golden(tmp_path, name):
    with open(os.path.join(VEC, name + ".txt.golden"), encoding="utf-8") as f:
        want = f.read()
    assert restore_payload(tmp_path, CASES[name]) == want


@SKIP
def test_cni_invalid_drop_from_environment(tmp_path):
    """skiff decision (Q1): INVALID_DROP works as the default of --drop-invalid,
    as it does in the CNI path that produced this golden."""
    with open(os.path.join(VEC, "invalid-drop.txt.golden"), encoding="utf-8") as f:
        want = f.read()
    assert restore_payload(tmp_path, BASIC, env={"INVALID_DROP": "true"}) == want
    # DROP_INVALID (the flag's own variable) beats INVALID_DROP.
    assert restore_payload(tmp_path, BASIC, env={"INVALID_DROP": "true",
                                                 "DROP_INVALID": "false"}) != want


@SKIP
def test_cni_status_ports_is_the_pre_113_port_22_rule(tmp_path):
    """status-ports.txt.golden is stale (1.12): it equals basic plus the port-22
    RETURN that 1.13 removed. skiff must produce basic, never that line."""
    with open(os.path.join(VEC, "status-ports.txt.golden"), encoding="utf-8") as f:
        stale = f.read()
    got = restore_payload(tmp_path, BASIC)
    assert "--dport 22 " not in got
    assert got == stale.replace("-A ISTIO_INBOUND -p tcp --dport 22 -j RETURN\n", "")
