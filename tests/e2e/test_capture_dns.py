"""Real kernel: DNS capture. UDP/TCP port 53 to a resolv.conf nameserver is
redirected to the agent's 15053; the proxy's own queries (uid 1337) are not."""
from capture_helpers import pair  # noqa: F401 (fixture)

UDP_SERVER = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[3], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(512)
    s.sendto(sys.argv[1].encode(), peer)
'''

UDP_CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"q", (sys.argv[1], 53))
try:
    data, peer = s.recvfrom(512)
    print(data.decode(), peer[0], peer[1])
except OSError as e:
    print("ERROR", e)
'''


def udp_server(p, ns, tag, port, uid=None, addr="0.0.0.0"):
    """UDP server answering TAG. The agent runs as uid 1337, as in a pod: its
    replies then share conntrack zone 2 with the redirected query (raw
    OUTPUT --sport 15053 rule); and it listens on 127.0.0.1 (REDIRECT's
    target for local traffic), so replies match the NAT entry and get their
    source translated back."""
    import subprocess
    cmd = ["/usr/bin/python3", "-c", UDP_SERVER, tag, str(port), addr]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    proc = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    p.servers.append(proc)


def udp_query(p, server, uid=None):
    cmd = ["/usr/bin/python3", "-c", UDP_CLIENT, server]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] + cmd
    return p.ns(p.pod, *cmd).stdout.strip()


def test_dns_to_resolv_conf_servers_goes_to_agent(pair, tmp_path):
    p = pair
    conf = tmp_path / "resolv.conf"
    conf.write_text("search svc.cluster.local\nnameserver 10.77.0.1\n")
    udp_server(p, p.peer, "real-dns", 53)
    udp_server(p, p.pod, "agent-dns", 15053, uid=1337, addr="127.0.0.1")
    p.server(p.pod, "agent-tcp", [15053])
    p.server(p.peer, "real-tcp-dns", [53])
    assert udp_query(p, "10.77.0.1").startswith("real-dns"), "before capture"
    r = p.skiff("iptables", "-u", "1337", "-i", "*", "--redirect-dns", f"--resolv-conf={conf}")
    assert r.returncode == 0, r.stderr
    # The reply looks as if it came from the nameserver itself.
    assert udp_query(p, "10.77.0.1") == "agent-dns 10.77.0.1 53"
    assert p.connect(p.pod, "10.77.0.1", 53).startswith("agent-tcp local=15053 orig=53")
    # The proxy (uid 1337) reaches the real server.
    assert udp_query(p, "10.77.0.1", uid=1337).startswith("real-dns")
    # A server not in resolv.conf is not captured without --capture-all-dns.
    assert "-d 10.77.0.9/32" not in p.save()


def test_dns_capture_from_istio_meta_dns_capture(pair, tmp_path):
    p = pair
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 10.77.0.1\n")
    udp_server(p, p.pod, "agent-dns", 15053, uid=1337, addr="127.0.0.1")
    r = p.skiff("iptables", "-u", "1337", f"--resolv-conf={conf}",
                env={"ISTIO_META_DNS_CAPTURE": "true"})
    assert r.returncode == 0, r.stderr
    assert udp_query(p, "10.77.0.1").startswith("agent-dns")
    r = p.skiff("clean-iptables", f"--resolv-conf={conf}", env={"ISTIO_META_DNS_CAPTURE": "true"})
    assert r.returncode == 0
    save = p.save()
    assert "15053" not in save and "--zone" not in save and "ISTIO" not in save
