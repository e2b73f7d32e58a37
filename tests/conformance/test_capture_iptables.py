"""Conformance: every case of Istio 1.13's istio-iptables goldens.

cases.tsv gives per golden the arguments and environment; comment lines
"# CASE: no flag: host-ipv6=..." and "# CASE: no flag: nameservers=..."
map onto skiff's --ipv6 and --resolv-conf (a temporary resolv.conf). The
dry-run listing on standard output must equal the golden byte for byte.
"""
import os
import shlex

import pytest

from conftest import istio_vectors, run_skiff

VEC = istio_vectors("iptables")


def load_cases():
    if VEC is None:
        return []
    cases = []
    extra = {}
    with open(os.path.join(VEC, "cases.tsv"), encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#"):
                body = line[1:].strip()
                if ": no flag: " in body:
                    name, _, kv = body.partition(": no flag: ")
                    key, _, val = kv.partition("=")
                    extra.setdefault(name.strip(), {})[key.strip()] = val.strip()
                continue
            if not line.strip() or line.startswith("case\t"):
                continue
            name, args, env = line.split("\t")
            envd = {}
            if env != "-":
                for pair in env.split(" "):
                    k, _, v = pair.partition("=")
                    envd[k] = v
            cases.append((name, shlex.split(args), envd, extra.get(name, {})))
    return cases


CASES = load_cases()


def case_args(tmp_path, args, extra):
    flags = ["--dry-run"]
    if "host-ipv6" in extra:
        flags.append("--ipv6=" + extra["host-ipv6"])
    if "nameservers" in extra:
        conf = tmp_path / "resolv.conf"
        servers = [] if extra["nameservers"] == "none" else extra["nameservers"].split(",")
        conf.write_text("# test resolv.conf\nsearch example.com\n"
                        + "".join(f"nameserver {s}\n" for s in servers))
        flags.append("--resolv-conf=" + str(conf))
    return flags + args


@pytest.mark.skipif(VEC is None, reason="Istio 1.13 vectors not found (../shared/conformance "
                    "or SKIFF_CONFORMANCE_DIR)")
def test_cases_file_has_every_golden():
    goldens = {f[:-len(".golden")] for f in os.listdir(VEC) if f.endswith(".golden")}
    assert goldens == {c[0] for c in CASES}


@pytest.mark.skipif(VEC is None, reason="Istio 1.13 vectors not found (../shared/conformance "
                    "or SKIFF_CONFORMANCE_DIR)")
@pytest.mark.parametrize("name,args,env,extra", CASES, ids=[c[0] for c in CASES])
def test_golden(tmp_path, name, args, env, extra):
    with open(os.path.join(VEC, name + ".golden"), "rb") as f:
        want = f.read().decode()
    p = run_skiff(["iptables"] + case_args(tmp_path, args, extra), env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want, f"{name}: dry-run listing differs from the golden"


@pytest.mark.skipif(VEC is None, reason="Istio 1.13 vectors not found")
@pytest.mark.parametrize("name,args,env,extra", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_golden_via_environment(tmp_path, name, args, env, extra):
    """The same case with -u/-g moved into PROXY_UID/PROXY_GID (spec 2.3)."""
    rest, envd = [], dict(env)
    it = iter(args)
    for a in it:
        if a in ("-u", "-g"):
            envd["PROXY_UID" if a == "-u" else "PROXY_GID"] = next(it)
        else:
            rest.append(a)
    with open(os.path.join(VEC, name + ".golden"), "rb") as f:
        want = f.read().decode()
    p = run_skiff(["iptables"] + case_args(tmp_path, rest, extra), env=envd)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want
