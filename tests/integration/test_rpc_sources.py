"""rpc/ block sources against a real bitcoind: REST (block + spenttxouts)
and getblock 3 give identical parsed blocks for the whole regtest-a chain,
txids match the node's, source detection, auth errors, node loss.

Drives build/tools/rpc_dump (rpc/test/tool_dump.c)."""
import json
import os
import subprocess
import time

import pytest

from conftest import REPO, BitcoinNode
from faultproxy import FaultProxy



def dump_bin():
    d = os.environ.get("SIGNETD_BUILD_DIR") or os.path.join(REPO, "build")
    p = os.path.join(d, "tools", "rpc_dump")
    if not os.path.exists(p):
        pytest.fail(f"rpc_dump not found at {p} (set SIGNETD_BUILD_DIR)", pytrace=False)
    return p


def dump_args(node, source, lo, hi, *extra, cookie=None):
    return [dump_bin(), "--url", node.rpc_url, "--cookie", cookie or node.cookie_path,
            "--source", source, "--from", str(lo), "--to", str(hi)] + list(extra)


def no_sanitizer_report(err):
    assert "Sanitizer" not in err and "runtime error:" not in err, err[-4000:]


def run_dump(node, source, lo, hi, *extra, cookie=None, timeout=300):
    r = subprocess.run(dump_args(node, source, lo, hi, *extra, cookie=cookie),
                       capture_output=True, text=True, timeout=timeout)
    no_sanitizer_report(r.stderr)
    return r


def block_lines(out):
    return [ln.split() for ln in out.splitlines()
            if ln and ln[0].isdigit()]


def test_rest_and_rpc_identical(regtest_a_node):
    node = regtest_a_node
    rest = run_dump(node, "rest", 0, 400, "--txids")
    assert rest.returncode == 0, rest.stderr
    rpc = run_dump(node, "rpc", 0, 400, "--txids")
    assert rpc.returncode == 0, rpc.stderr
    assert "source=rest" in rest.stderr and "source=rpc" in rpc.stderr
    print(rest.stderr.strip())
    print(rpc.stderr.strip())

    # same hash and same digest (txs, witnesses, prevouts) on every block
    rb, pb = block_lines(rest.stdout), block_lines(rpc.stdout)
    assert len(rb) == 401
    assert rb == pb
    assert rest.stdout == rpc.stdout
    assert len({d for _, _, d in rb}) == 401  # digests differ per block

    # block hashes and txids as the node sees them (getblock verbosity 1)
    txids = {}
    for ln in rest.stdout.splitlines():
        if ln.startswith("tx "):
            _, h, t = ln.split()
            txids.setdefault(int(h), []).append(t)
    assert sum(len(v) for v in txids.values()) == 2556 + 401
    for h, hsh, _ in rb:
        blk = node.rpc("getblock", node.rpc("getblockhash", int(h)), 1)
        assert blk["hash"] == hsh
        assert blk["tx"] == txids[int(h)], f"height {h}"

    # prevouts really are in the digest: the tip's digest changes with them
    assert rb[-1][1] == "472c09d7bd172a6bafedd0d776389d34efa8e5f75386f37ab44d158f6aebe89d"


def test_detect_picks_rest(regtest_a_node):
    r = run_dump(regtest_a_node, "auto", 399, 400)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "source rest"
    assert "block_source_detected" in r.stderr and "source=rest" in r.stderr


def test_rest_without_spenttxouts_detects_rpc(regtest_a_node):
    """REST on but no /rest/spenttxouts (Core < 30): auto falls back to
    getblock 3, and the blocks equal the REST path's."""
    direct = run_dump(regtest_a_node, "rest", 380, 400)
    assert direct.returncode == 0, direct.stderr
    px = FaultProxy(regtest_a_node.rpc_port)
    px.set_mode("no_spenttxouts")
    try:
        class Via:
            rpc_url = px.url
            cookie_path = regtest_a_node.cookie_path
        r = run_dump(Via, "auto", 380, 400)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "source rpc"
        assert "source=rpc" in r.stderr and "spenttxouts" in r.stderr
        assert block_lines(r.stdout) == block_lines(direct.stdout)
        assert len(block_lines(r.stdout)) == 21
        # forcing REST there is a clear error
        r = run_dump(Via, "rest", 400, 400)
        assert r.returncode == 1 and "rpc_dump: error" in r.stderr, r.stderr
    finally:
        px.close()


def test_rest_off_detects_rpc(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "norest"), rest=False, zmq=False).start()
    try:
        node.generate(3)
        r = run_dump(node, "auto", 0, 3)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "source rpc"
        assert len(block_lines(r.stdout)) == 4
        # forcing REST on a node without it is an error, not a crash
        r = run_dump(node, "rest", 1, 1)
        assert r.returncode == 1, r.stderr
        assert "rpc_dump: error" in r.stderr and "fetch_block" in r.stderr
    finally:
        node.stop()


def test_wrong_cookie_is_auth_error(regtest_a_node, tmpdir_short):
    bad = os.path.join(tmpdir_short, "bad.cookie")
    secret = "__cookie__:0123456789abcdefwrongwrongwrong"
    with open(bad, "w") as f:
        f.write(secret + "\n")
    for source in ("rest", "rpc", "auto"):
        r = run_dump(regtest_a_node, source, 1, 2, cookie=bad)
        assert r.returncode == 1
        assert "(authentication failed)" in r.stderr, r.stderr
        assert "wrongwrong" not in r.stderr + r.stdout  # secret never printed
    # user/password that the node does not know: same error
    r = subprocess.run([dump_bin(), "--url", regtest_a_node.rpc_url, "--user", "u",
                        "--pass", "nopenope", "--source", "rpc", "--from", "1", "--to", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "(authentication failed)" in r.stderr
    assert "nopenope" not in r.stderr
    # missing cookie file: also refused, clearly
    r = run_dump(regtest_a_node, "rpc", 1, 1, cookie=bad + ".missing")
    assert r.returncode == 1 and "(authentication failed)" in r.stderr


def test_cookie_reread_after_node_restart(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "rr"), zmq=False).start()
    try:
        node.generate(6)
        with open(node.cookie_path) as f:
            old_cookie = f.read()
        p = subprocess.Popen(dump_args(node, "rpc", 1, 6, "--pause-after", "3"),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().startswith("1 ")
        lines = [p.stdout.readline() for _ in range(3)]
        assert lines[-1] == "paused\n"
        node.restart()  # new cookie; the client's keep-alive socket is dead
        with open(node.cookie_path) as f:
            assert f.read() != old_cookie
        out, err = p.communicate("go\n", timeout=60)
        no_sanitizer_report(err)
        assert p.returncode == 0, err
        assert len(block_lines(out)) == 3  # heights 4..6 after the restart
        assert "cookie_reread" in err
    finally:
        node.stop()


def test_node_killed_mid_run_is_econn(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "kill"), zmq=False).start()
    try:
        node.generate(20)
        for source in ("rpc", "rest"):
            if node.proc is None:
                node.start()
            tip = node.height()  # a killed node may forget unflushed blocks
            p = subprocess.Popen(dump_args(node, source, 0, tip, "--repeat", "1000000",
                                           "--timeout-ms", "20000"),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = p.stdout.readline()
            assert first, p.communicate()[1]  # first block fetched: calls flow
            time.sleep(0.3)
            node.kill()
            out, err = p.communicate(timeout=60)
            no_sanitizer_report(err)
            assert p.returncode == 1, (p.returncode, err)  # an error exit, not a signal
            assert "(connection failed)" in err, err
    finally:
        node.stop()


def test_chain_info_and_heights(regtest_a_node):
    node = regtest_a_node
    r = run_dump(node, "rest", 398, 400, "--info")
    assert r.returncode == 0, r.stderr
    info = r.stdout.splitlines()[0].split()
    tip = node.rpc("getbestblockhash")
    assert info[:5] == ["info", "regtest", "400", "400", tip]
    assert info[5] == ("1" if node.rpc("getblockchaininfo")["initialblockdownload"] else "0")
    assert info[6:] == ["400", tip]
    assert [b[0] for b in block_lines(r.stdout)] == ["398", "399", "400"]
    # heights past the tip: the batched getblockhash says "not found"
    r = run_dump(node, "rest", 390, 401)
    assert r.returncode == 1 and "(not found)" in r.stderr and "getblockhash" in r.stderr


def test_generic_call_and_rest_get(regtest_a_node):
    node = regtest_a_node
    tip = node.rpc("getbestblockhash")

    def tool(*a):
        r = subprocess.run([dump_bin(), "--url", node.rpc_url, "--cookie", node.cookie_path]
                           + list(a), capture_output=True, text=True, timeout=60)
        no_sanitizer_report(r.stderr)
        return r
    r = tool("--call", "getblockhash", "[400]")
    assert r.returncode == 0 and r.stdout == f'result "{tip}"\n', r.stderr
    r = tool("--call", "getblockheader", f'["{tip}"]')
    assert r.returncode == 0
    hdr = json.loads(r.stdout[len("result "):])
    assert hdr["height"] == 400 and hdr["hash"] == tip
    r = tool("--call", "nosuchmethod", "[]")
    assert r.returncode == 1 and r.stdout == "rpc_error code=-32601 msg=Method not found\n"
    r = tool("--call", "getblockcount", "not json")
    assert r.returncode == 1 and "(invalid argument)" in r.stderr
    r = tool("--rest", "/rest/chaininfo.json")
    assert r.returncode == 0, r.stderr
    head, body = r.stdout.split("\n", 1)
    assert head.startswith("status 200 len ")
    assert json.loads(body)["bestblockhash"] == tip
    r = tool("--rest", "/rest/block/" + "00" * 32 + ".bin")
    assert r.returncode == 0 and r.stdout.startswith("status 404 ")


def _serve(handler):
    """A loopback TCP server (not bitcoind) running handler(conn) per
    connection in a thread; returns (url, close)."""
    import socket
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conns = []

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conns.append(c)
            threading.Thread(target=handler, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()

    def close():
        srv.close()
        for c in conns:
            c.close()
    return f"http://127.0.0.1:{srv.getsockname()[1]}", close


def _dump_at(url, *extra, timeout=60):
    r = subprocess.run([dump_bin(), "--url", url, "--user", "u", "--pass", "p",
                        "--source", "rpc", "--from", "0", "--to", "0"] + list(extra),
                       capture_output=True, text=True, timeout=timeout)
    no_sanitizer_report(r.stderr)
    return r


def test_silent_server_times_out():
    url, close = _serve(lambda c: c.recv(65536))  # reads, never answers
    try:
        t0 = time.time()
        r = _dump_at(url, "--timeout-ms", "700")
        assert r.returncode == 1 and "(timeout)" in r.stderr, r.stderr
        assert time.time() - t0 < 10
    finally:
        close()


def test_garbage_reply_is_parse_error():
    def garbage(c):
        c.recv(65536)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10\r\n\r\n{\"result\":")
    url, close = _serve(garbage)
    try:
        r = _dump_at(url, "--timeout-ms", "5000")
        assert r.returncode == 1 and "(parse error)" in r.stderr, r.stderr
    finally:
        close()


def test_nothing_listening_is_econn():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = _dump_at(f"http://127.0.0.1:{port}")
    assert r.returncode == 1 and "(connection failed)" in r.stderr, r.stderr
