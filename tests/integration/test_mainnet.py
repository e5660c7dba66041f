"""chain = main end to end (issue 18), against a real bitcoind started with
-chain=main, offline (no peers, no seeds, loopback RPC/REST/ZMQ) on an
empty datadir: its chain is the genesis block alone.

- signetd with chain = main and no sync_start_height starts at 842579
  (upstream's BIP352-era constant), says so, waits for the node without
  an error loop, and answers like upstream on an empty index;
- signetd with chain = signet against that node refuses to index it and
  says why (it keeps serving, down, as test_health's regtest case);
- an index created as main is refused when reopened as regtest.
"""
import json
import os
import re
import shutil
import tempfile
import time

import pytest

from conftest import BitcoinNode, Signetd, free_port, wait_until

START = 842579
E_DB = {"error": "could could not retrieve data from database"}  # sic, upstream v1
GENESIS = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"


class MainnetNode(BitcoinNode):
    """conftest's node on mainnet: bitcoind takes -chain=main (there is no
    -main flag), and -connect=0 keeps it offline."""

    def __init__(self, datadir):
        super().__init__(datadir, chain="main", extra_args=["-connect=0"])

    def args(self):
        a = ["-chain=main" if x == "-main" else x for x in super().args()]
        assert "-chain=main" in a, a
        return a


@pytest.fixture(scope="module")
def mainnet_node():
    d = tempfile.mkdtemp(prefix="sd-main-")
    node = MainnetNode(os.path.join(d, "node")).start()
    try:
        info = node.rpc("getblockchaininfo")
        assert info["chain"] == "main" and info["blocks"] == 0, info
        assert info["bestblockhash"] == GENESIS
        assert node.rpc("getconnectioncount") == 0
        yield node
    finally:
        node.stop()
        shutil.rmtree(d, ignore_errors=True)


def no_start_height(s):
    """The conftest config always names sync_start_height: take it out
    (file and environment), so signetd picks its default."""
    s.config.pop("sync_start_height", None)
    s.write_config()
    s.env.pop("SYNC_START_HEIGHT", None)
    return s


def get_json(s, path, port=None):
    st, _, body = s.get(path) if port is None else request(port, path)
    return st, json.loads(body)


def request(port, path):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def metric(s, name):
    st, _, body = s.get("/metrics")
    assert st == 200
    for ln in body.decode().splitlines():
        if ln.startswith(name + " "):
            return float(ln.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def levels(text, level):
    return [ln for ln in text.splitlines() if f" level={level} " in ln]


def test_main_defaults_start_height_and_waits(mainnet_node, signetd_factory):
    v2 = free_port()
    s = no_start_height(signetd_factory(mainnet_node, config={
        "http_host": f"127.0.0.1:{v2}"}))
    assert "sync_start_height" not in open(os.path.join(s.datadir, "blindbit.toml")).read()
    s.start()

    # the chosen start height is logged
    s.wait_for_log("msg=follower_start", timeout=15)
    m = re.search(r"msg=follower_start .*start_height=(\d+)", s.log_text())
    assert m and int(m.group(1)) == START, s.log_text()[-3000:]
    # and that the node is below it: waiting, said once
    s.wait_for_log("msg=waiting_for_start_height", timeout=15)
    assert f"msg=waiting_for_start_height start_height={START} node_height=0 " \
        in s.log_text(), s.log_text()[-3000:]

    # empty index: upstream v1 answers 500 (empty header table), v2 height 0
    st, body = get_json(s, "/block-height")
    assert (st, body) == (500, E_DB)
    st, body = get_json(s, "/info")
    assert (st, body) == (500, E_DB)
    st, body = get_json(s, "/info", port=v2)
    assert st == 200 and body["network"] == "main" and body["height"] == 0, body
    st, body = get_json(s, "/block-height", port=v2)
    assert (st, body) == (200, {"block_height": 0})
    st, body = get_json(s, "/block-hash/0", port=v2)
    assert (st, body) == (200, {"block_hash": ""})

    # /status: the node on main at genesis, reachable, the index empty
    j = s.get_json("/status")
    assert j["chain"] == "main"
    assert j["node"]["chain"] == "main" and j["node"]["reachable"] is True, j["node"]
    assert j["node"]["height"] == 0 and j["node"]["hash"] == GENESIS, j["node"]
    assert j["node"]["peers"] == 0
    assert j["index"]["height"] == -1 and j["index"]["blocks_connected"] == 0, j["index"]

    # /health: a node at genesis with no peers is not synced (IBD, a 2009
    # tip): degraded for the node's sake, never down, no index trouble
    st, _, body = s.get("/health")
    h = json.loads(body)
    assert st == 503 and h["status"] == "degraded", h
    assert h["reasons"] and set(h["reasons"]) <= {"node_ibd", "tip_too_old"}, h
    assert h["node_height"] == 0 and h["index_height"] == -1, h
    assert metric(s, "signetd_node_up") == 1
    assert metric(s, 'signetd_health_status{status="degraded"}') == 1

    # waiting is quiet: over a few node polls (every 2 s) and a tip poll,
    # a handful of node calls, no retry loop, nothing logged again
    calls0 = metric(s, "signetd_rpc_calls_total")
    time.sleep(5)
    calls = metric(s, "signetd_rpc_calls_total") - calls0
    assert 3 <= calls <= 40, calls  # the node watch polls: 4 calls / 2 s
    log = s.log_text()
    assert log.count("msg=waiting_for_start_height") == 1, log[-3000:]
    assert log.count("msg=node_reachable") == 1, log[-3000:]
    for ev in ("msg=rpc_error", "msg=consumer_error", "msg=node_unreachable",
               "msg=chain_mismatch", "msg=block_connected"):
        assert ev not in log, (ev, log[-3000:])
    assert levels(log, "error") == [], levels(log, "error")
    assert s.get_json("/status")["index"]["height"] == -1
    assert s.stop() == 0
    assert "msg=stopped exit_code=0" in s.log_text()


def test_explicit_start_height_wins_on_main(mainnet_node, signetd_factory):
    """sync_start_height = 0 on main: genesis is indexed (an explicit 0
    or 1 is never replaced by the mainnet default)."""
    s = signetd_factory(mainnet_node, config={"sync_start_height": 0}).start()
    s.wait_synced(0, timeout=30)
    wait_until(lambda: s.get_json("/info")["height"] == 0, timeout=15, what="/info")
    ix = s.get_json("/status")["index"]
    assert ix["height"] == 0 and ix["hash"] == GENESIS, ix
    assert re.search(r"msg=follower_start .*start_height=0 ", s.log_text())
    assert "msg=waiting_for_start_height" not in s.log_text()
    assert s.stop() == 0


@pytest.mark.expect_errors(r"mod=rpc msg=chain_mismatch configured=signet node=main",
                           at_least=1)
def test_signet_config_against_main_node_refuses(mainnet_node, signetd_factory):
    s = signetd_factory(mainnet_node, config={"chain": "signet"}).start()
    # the first node poll precedes the first answer: down at once
    st, _, body = s.get("/health")
    h = json.loads(body)
    assert st == 503 and h["status"] == "down" and "chain_mismatch" in h["reasons"], h
    s.wait_for_log("msg=chain_mismatch", timeout=15)
    line = [ln for ln in s.log_text().splitlines() if "msg=chain_mismatch" in ln][0]
    assert " level=error " in line, line
    assert "configured=signet" in line and "node=main" in line, line
    j = s.get_json("/status")
    assert j["chain"] == "signet" and j["node"]["chain"] == "main", j
    assert j["status"] == "down" and "chain_mismatch" in j["reasons"], j
    time.sleep(5)  # polls and a follower pass: still refused, said once
    log = s.log_text()
    assert log.count("msg=chain_mismatch") == 1, log[-3000:]
    assert "msg=block_connected" not in log
    assert "msg=waiting_for_start_height" not in log  # not even waiting
    assert s.get_json("/status")["index"]["blocks_connected"] == 0
    assert s.proc.poll() is None  # refuses to index, keeps saying why
    assert s.stop() == 0


@pytest.mark.expect_errors(r'msg=index_open_failed .*built for network \\"main\\", '
                           r'config says \\"regtest\\"', at_least=1)
def test_main_index_refused_as_regtest(mainnet_node, signetd_factory):
    s = signetd_factory(mainnet_node, config={"sync_start_height": 0}).start()
    s.wait_synced(0, timeout=30)
    assert s.stop() == 0
    # the same datadir, configured as regtest: the index says main
    s2 = Signetd(s.datadir, node=mainnet_node, config={"chain": "regtest"})
    before = len(s2.log_text())
    s2.start(wait_http=False)
    try:
        rc = s2.proc.wait(timeout=30)
    finally:
        if s2.proc.poll() is None:
            s2.proc.kill()
            s2.proc.wait()
        s2.proc = None
    log = s2.log_text()[before:]
    assert rc == 1, log
    assert "msg=index_open_failed" in log, log
    assert 'built for network \\"main\\", config says \\"regtest\\"' in log, log
    assert "msg=listening" not in log  # refused before serving anything
    # and the index is untouched: main still opens it
    s.write_config()
    s.start()
    assert s.get_json("/info")["network"] == "main"
    assert s.stop() == 0
