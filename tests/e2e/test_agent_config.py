"""`skiff agent` start-up configuration (spec probes.md 2, 4.6): every bad
configuration is refused at start with exit 1 and a message naming the key
and field; the status port is found as Istio finds it."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from agent_helpers import Agent, free_port, get
from conftest import run_skiff

BAD_PROBERS = [
    ("invalid-prober-json-encoding", "failed to decode"),
    ('{"abc":{"tcpSocket":{"port":1}}}', 'prober "abc": invalid path'),
    ('{"/app-health/a/b/readyz":{"tcpSocket":{"port":1}}}', "invalid path"),
    ('{"/app-health/a/livez":{"exec":{"command":["true"]}}}', "invalid prober type"),
    ('{"/app-health/a/livez":{"tcpSocket":{"port":1},"httpGet":{"port":1}}}',
     "must be one of type httpGet, tcpSocket or gRPC"),
    ('{"/app-health/a/livez":{"tcpSocket":{"port":"tcp"}}}', "field tcpSocket.port: must be int type"),
    ('{"/app-health/a/livez":{"httpGet":{"port":"http"}}}', "field httpGet.port: must be int type"),
    ('{"/app-health/a/livez":{"grpc":{"port":"8080"}}}', "field grpc.port"),
    ('{"/app-health/a/livez":null}', "invalid prober type"),
    ('[]', "failed to decode"),
    ('{"/app-health/a/livez":{"httpGet":{"port":1,"path":7}}}', "field httpGet.path"),
]


def start(env, args=()):
    port = free_port()
    full = {"INSTANCE_IP": "127.0.0.1"}
    full.update(env)
    return run_skiff(["agent", "--status-port", str(port)] + list(args), env=full, timeout=10), port


@pytest.mark.parametrize("value,needle", BAD_PROBERS)
def test_bad_probers_refused_at_start(value, needle):
    r, port = start({"ISTIO_KUBE_APP_PROBERS": value})
    assert r.returncode == 1, r.stderr
    assert "ISTIO_KUBE_APP_PROBERS" in r.stderr
    assert needle in r.stderr, r.stderr
    assert "listening" not in r.stderr  # never half-configured


@pytest.mark.parametrize("args,needle", [
    (["--status-port", "0"], "--status-port"),
    (["--status-port", "abc"], "--status-port"),
    (["--status-port", "70000"], "--status-port"),
    (["--ipv6", "maybe"], "--ipv6"),
    (["--max-workers", "0"], "--max-workers"),
    (["--log-level", "loud"], "--log-level"),
])
def test_bad_flags_refused(args, needle):
    r = run_skiff(["agent"] + args, env={}, timeout=10)
    assert r.returncode == 1
    assert needle in r.stderr


def test_help():
    r = run_skiff(["agent", "--help"], env={})
    assert r.returncode == 0
    assert "--status-port" in r.stdout


@pytest.mark.parametrize("value", ["{}", "null", ""])
def test_empty_probers_start_and_answer_400(value):
    ag = Agent(value)
    try:
        st, hdr, body = get(ag.port, "/app-health/c/readyz")
        assert st == 400
        assert body == b"app prober config does not exists for /app-health/c/readyz"
    finally:
        assert ag.stop() == 0


def test_mixed_case_grpc_member_accepted():
    ag = Agent('{"/app-health/a/livez":{"gRPC":{"port":%d}}}' % free_port())
    try:
        st, _, _ = get(ag.port, "/app-health/a/livez")
        assert st == 500  # nothing listens; but it was accepted as a gRPC prober
    finally:
        ag.stop()


def test_invalid_boolean_warns_and_uses_default():
    ag = Agent("{}", env={"ENABLE_PROBE_KEEPALIVE_CONNECTIONS": "yes",
                          "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION": ""})
    try:
        out = ag.output()
        assert 'ENABLE_PROBE_KEEPALIVE_CONNECTIONS: "yes" is not a boolean' in out
        assert "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION" in out
        assert "re-use off" in out
    finally:
        ag.stop()


def test_both_keepalive_spellings_plural_wins_and_is_logged():
    ag = Agent("{}", env={"ENABLE_PROBE_KEEPALIVE_CONNECTIONS": "false",
                          "ENABLE_PROBE_KEEPALIVE_CONNECTION": "true"})
    try:
        out = ag.output()
        assert "re-use off (read from ENABLE_PROBE_KEEPALIVE_CONNECTIONS)" in out
        assert "overridden" in out
    finally:
        ag.stop()


# ---- status port discovery (2.2) ----

def run_in(cwd, env, args=(), wait=1.0):
    """Start the agent without --status-port in cwd; return (proc, stderr)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "INSTANCE_IP": "127.0.0.1"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            full[k] = os.environ[k]
    full.update(env)
    from conftest import skiff_bin_path
    p = subprocess.Popen([skiff_bin_path(), "agent"] + list(args), cwd=cwd, env=full,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(wait)
    p.terminate()
    _, err = p.communicate(timeout=10)
    return p.returncode, err


@pytest.fixture(autouse=True)
def _cleanup_layouts():
    made.clear()
    yield
    for d in made:
        shutil.rmtree(d, ignore_errors=True)


made = []


def layout(mesh=None, annotations=None):
    d = tempfile.mkdtemp(prefix="ska-cfg-")
    made.append(d)
    if mesh is not None:
        os.makedirs(os.path.join(d, "etc/istio/config"))
        with open(os.path.join(d, "etc/istio/config/mesh"), "w") as f:
            f.write(mesh)
    if annotations is not None:
        os.makedirs(os.path.join(d, "etc/istio/pod"))
        with open(os.path.join(d, "etc/istio/pod/annotations"), "w") as f:
            f.write(annotations)
    return d


def test_port_from_mesh_config():
    p = free_port()
    rc, err = run_in(layout(mesh=f"defaultConfig:\n  statusPort: {p}\n"), {})
    assert rc == 0, err
    assert f"status port {p} (from mesh config)" in err


def test_port_proxy_config_beats_mesh_config():
    p1, p2 = free_port(), free_port()
    rc, err = run_in(layout(mesh=f"defaultConfig:\n  statusPort: {p1}\n"),
                     {"PROXY_CONFIG": '{"statusPort": %d}' % p2})
    assert f"status port {p2} (from PROXY_CONFIG)" in err


def test_port_annotations_beat_proxy_config():
    p1, p2, p3 = free_port(), free_port(), free_port()
    ann = (f'proxy.istio.io/config="statusPort: {p2}"\n'
           f'status.sidecar.istio.io/port="{p3}"\nother="x"\n')
    rc, err = run_in(layout(annotations=ann), {"PROXY_CONFIG": "statusPort: %d" % p1})
    assert f"status port {p3} (from annotation status.sidecar.istio.io/port)" in err
    ann = f'proxy.istio.io/config="{{\\"statusPort\\": {p2}}}"\n'
    rc, err = run_in(layout(annotations=ann), {"PROXY_CONFIG": "statusPort: %d" % p1})
    assert f"status port {p2} (from annotation proxy.istio.io/config)" in err


def test_flag_beats_everything():
    p1, p2 = free_port(), free_port()
    rc, err = run_in(layout(annotations=f'status.sidecar.istio.io/port="{p1}"\n'), {},
                     args=["--status-port", str(p2)])
    assert f"status port {p2} (from --status-port)" in err


@pytest.mark.parametrize("value", ["0", "abc", "-5"])
def test_annotation_port_zero_or_bad_disables_server(value):
    rc, err = run_in(layout(annotations=f'status.sidecar.istio.io/port="{value}"\n'), {})
    assert rc == 0, err
    assert "no status server" in err
    assert "listening" not in err


def test_annotations_file_with_bad_quoting_is_ignored():
    p = free_port()
    ann = f'status.sidecar.istio.io/port="{p}"\nbroken="unterminated\n'
    rc, err = run_in(layout(mesh=f"defaultConfig:\n  statusPort: {free_port()}\n",
                            annotations=ann), {})
    assert "ignoring every pod annotation" in err
    assert f"status port {p}" not in err


@pytest.mark.parametrize("where", ["mesh", "env"])
def test_status_port_out_of_range_is_a_start_error(where):
    if where == "mesh":
        rc, err = run_in(layout(mesh="defaultConfig:\n  statusPort: 70000\n"), {})
    else:
        rc, err = run_in(layout(), {"PROXY_CONFIG": "statusPort: 0"})
    assert rc == 1
    assert "statusPort" in err and "1..65535" in err


def test_bad_proxy_config_names_the_field():
    rc, err = run_in(layout(), {"PROXY_CONFIG": "statusPort: [1]"})
    assert rc == 1
    assert "PROXY_CONFIG: field statusPort" in err


def test_port_in_use_is_a_start_error():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        r = run_skiff(["agent", "--status-port", str(port)], env={}, timeout=10)
        assert r.returncode == 1
        assert f"status port {port}" in r.stderr
    finally:
        s.close()
