"""`skiff inject` against Istio 1.13's kube-inject goldens (inject/README.txt):
app-container probes, ISTIO_KUBE_APP_PROBERS (value, last position),
istio-init args exactly; and the whole document, semantically."""
import os
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from inject_helpers import (container, docs, env_of, golden_pairs, init_args,  # noqa: E402
                            inject, pod_spec, vectors_dir)

PAIRS = golden_pairs()
# Without the vectors, one placeholder id per test, so each skips with
# need_vectors()'s message rather than pytest's "empty parameter set".
IDS = [p[0] for p in PAIRS] or ["vectors-absent"]

GOLDEN_ARGS = ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m",
               "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020"]


def need_vectors():
    if not vectors_dir():
        pytest.skip("Istio 1.13 inject vectors not found (../shared/conformance or "
                    "SKIFF_CONFORMANCE_DIR)")


def run_pair(inp, env):
    return docs(inject(["-f", inp], env=env).stdout)


@pytest.fixture(scope="module")
def results():
    need_vectors()
    return {g: (run_pair(i, env), docs(open(gp).read())) for g, i, gp, env in PAIRS}


def test_vectors_present():
    need_vectors()
    assert len(PAIRS) == 10, IDS


@pytest.mark.parametrize("golden", IDS)
def test_app_probes(results, golden):
    got, want = results[golden]
    gs, _ = pod_spec(got[0])
    ws, _ = pod_spec(want[0])
    names = [c["name"] for c in ws["containers"] if c["name"] != "istio-proxy"]
    assert names == [c["name"] for c in gs["containers"] if c["name"] != "istio-proxy"]
    for n in names:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container(gs, n).get(probe) == container(ws, n).get(probe), (n, probe)


@pytest.mark.parametrize("golden", IDS)
def test_app_probers_env(results, golden):
    got, want = results[golden]
    ge = env_of(container(pod_spec(got[0])[0], "istio-proxy"))
    we = env_of(container(pod_spec(want[0])[0], "istio-proxy"))
    gv = [v for k, v in ge if k == "ISTIO_KUBE_APP_PROBERS"]
    wv = [v for k, v in we if k == "ISTIO_KUBE_APP_PROBERS"]
    assert gv == wv  # byte for byte, or both absent
    if wv:
        assert ge[-1][0] == "ISTIO_KUBE_APP_PROBERS"


@pytest.mark.parametrize("golden", IDS)
def test_istio_init_args(results, golden):
    got, want = results[golden]
    assert init_args(pod_spec(got[0])[0]) == init_args(pod_spec(want[0])[0]) == GOLDEN_ARGS


@pytest.mark.parametrize("golden", IDS)
def test_optional_parts(results, golden):
    """README item 4: proxy readinessProbe, container order, prometheus annotations."""
    got, want = results[golden]
    gs, gm = pod_spec(got[0])
    ws, wm = pod_spec(want[0])
    assert container(gs, "istio-proxy")["readinessProbe"] == \
        container(ws, "istio-proxy")["readinessProbe"]
    assert [c["name"] for c in gs["containers"]] == [c["name"] for c in ws["containers"]]
    for k in ("prometheus.io/port", "prometheus.io/path", "prometheus.io/scrape"):
        assert gm["annotations"][k] == wm["annotations"][k]


@pytest.mark.parametrize("golden", IDS)
def test_whole_document(results, golden):
    """Semantic YAML equality of the whole output with the golden."""
    got, want = results[golden]
    assert got == want


def test_whole_document_count(results, capsys):
    n = sum(1 for g in IDS if results[g][0] == results[g][1])
    with capsys.disabled():
        print(f"\n[inject] {n} of {len(IDS)} goldens match as whole documents")
    assert n == len(IDS)


@pytest.mark.parametrize("golden", IDS)
def test_reinjecting_the_golden_changes_nothing(golden):
    """Istio's test injects the golden again: it must come out unchanged."""
    need_vectors()
    path = os.path.join(vectors_dir(), golden)
    p = inject(["-f", path])
    assert docs(p.stdout) == docs(open(path).read())
    assert "already injected" in p.stderr


@pytest.mark.parametrize("golden", IDS)
def test_output_is_idempotent(tmp_path, golden):
    need_vectors()
    _, inp, _, env = next(x for x in PAIRS if x[0] == golden)
    once = tmp_path / "once.yaml"
    inject(["-f", inp, "-o", str(once)], env=env)
    twice = inject(["-f", str(once)], env=env).stdout
    assert twice == once.read_text()  # byte for byte


def test_json_input_gives_the_same_pods(tmp_path):
    """The same Deployment given as JSON injects to the same document."""
    need_vectors()
    for g, inp, gp, env in PAIRS:
        j = tmp_path / (os.path.basename(inp) + ".json")
        import json
        j.write_text(json.dumps(yaml.safe_load(open(inp)), indent=2))
        assert docs(inject(["-f", str(j)], env=env).stdout) == docs(open(gp).read()), g
