"""/status, /health and /metrics against a real bitcoind: the fields track
the node, stopping the node turns /health 503 within the threshold and
restarting it brings 200 back, an old tip makes it degraded, /metrics
passes `promtool check metrics` and its counters move with new blocks."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import BitcoinNode, wait_until

PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")




@pytest.fixture
def bitcoind(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "node")).start()
    yield node
    node.stop()


def health(s):
    st, hdr, body = s.get("/health")
    return st, hdr, json.loads(body)


def metrics(s):
    st, hdr, body = s.get("/metrics")
    assert st == 200
    assert hdr["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    vals = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            name, v = ln.rsplit(" ", 1)
            vals[name] = float(v)
    return text, vals


def test_status_tracks_node(bitcoind, signetd_factory):
    bitcoind.generate(110)
    s = signetd_factory(bitcoind, config={"health_max_tip_age": 600,
                                          "health_max_index_lag": 1}).start()
    s.wait_synced(110)

    def ok():
        st, _, h = health(s)
        return st == 200 and h == {"status": "ok"}
    wait_until(ok, timeout=15, what="/health ok")

    # a mempool transaction, then a fresh /status
    addr = bitcoind.rpc("getnewaddress", "", "bech32m", wallet="w")
    bitcoind.rpc("sendtoaddress", addr, 1.5, wallet="w")
    info = bitcoind.rpc("getmempoolinfo")
    assert info["size"] == 1

    def status_now():
        j = s.get_json("/status")
        return j if j["node"]["mempool"]["txs"] == 1 else None
    j = wait_until(status_now, timeout=15, what="/status sees the mempool tx")

    chain = bitcoind.rpc("getblockchaininfo")
    net = bitcoind.rpc("getnetworkinfo")
    hdr = bitcoind.rpc("getblockheader", chain["bestblockhash"])
    assert j["status"] == "ok" and j["reasons"] == []
    assert j["chain"] == "regtest"
    n = j["node"]
    assert n["reachable"] is True and n["error"] is None
    assert n["chain"] == "regtest"
    assert n["version"] == net["subversion"]
    assert n["height"] == 110 and n["headers"] == 110
    assert n["hash"] == chain["bestblockhash"]
    assert n["time"] == hdr["time"]
    # regtest blocks made in a burst can be stamped ahead of now: age >= 0
    assert abs(n["tip_age_s"] - max(0, int(time.time()) - hdr["time"])) <= 5
    assert n["ibd"] == chain["initialblockdownload"]
    assert n["verification_progress"] == pytest.approx(chain["verificationprogress"])
    assert n["peers"] == net["connections"] == 0
    assert n["mempool"] == {"txs": 1, "bytes": info["bytes"]}
    assert 0 <= n["last_seen_age_s"] < 10
    z = j["zmq"]
    assert z["enabled"] is True
    assert z["hashblock"] == bitcoind.zmq_hashblock and z["rawtx"] == bitcoind.zmq_rawtx
    assert z["gaps"] == 0 and z["messages"] >= 1
    assert z["fast_path_blocks"] >= 0 and z["fast_path_misses"] >= 0
    assert j["block_source"] == "rest"  # -rest=1 with spenttxouts
    ix = j["index"]
    assert ix["height"] == 110 and ix["hash"] == chain["bestblockhash"] and ix["lag"] == 0
    assert ix["blocks_connected"] == 110 and ix["blocks_disconnected"] == 0
    assert ix["db_bytes"] > 0 and ix["disk_full"] is False
    om = ix["outpoint_map"]
    assert om["loading"] is False, om
    assert 8 * om["entries"] <= om["bytes"], om  # no tweaks here: may be 0
    # no snapshot yet (written at close, or every 144 blocks in the background)
    assert om["snapshot_height"] == -1 and om["snapshot_failures"] == 0, om
    assert j["last_reorg"] is None and j["reorgs"] == 0
    assert j["miner"] is None
    # the same answer under /blindbit/
    st, _, body = s.get("/blindbit/status")
    assert st == 200 and json.loads(body)["index"]["height"] == 110

    # a reorg shows up with its depth
    tip = bitcoind.rpc("getbestblockhash")
    bitcoind.rpc("invalidateblock", bitcoind.rpc("getblockhash", 109))
    bitcoind.generate(3)
    s.wait_synced(111)
    j = wait_until(lambda: (lambda x: x if x["index"]["hash"] ==
                            bitcoind.rpc("getbestblockhash") else None)(
                                s.get_json("/status")), timeout=30, what="reorg indexed")
    assert j["reorgs"] == 1
    assert j["last_reorg"]["depth"] == 2
    assert abs(j["last_reorg"]["time"] - time.time()) < 60
    assert j["index"]["blocks_disconnected"] == 2
    assert tip != j["index"]["hash"]


def test_node_down_then_back(bitcoind, signetd_factory):
    bitcoind.generate(101)
    s = signetd_factory(bitcoind, config={"health_max_tip_age": 600}).start()
    s.wait_synced(101)
    wait_until(lambda: health(s)[0] == 200, timeout=15, what="/health ok")

    bitcoind.stop()
    t0 = time.time()

    def down():
        st, _, h = health(s)
        return (st, h) if st == 503 else None
    st, h = wait_until(down, timeout=15, what="/health 503")
    took = time.time() - t0
    assert took < 6, took  # poller every 2 s
    assert h["status"] == "down"
    assert "node_unreachable" in h["reasons"]
    j = s.get_json("/status")  # /status still answers, from the last poll
    assert j["status"] == "down" and j["node"]["reachable"] is False
    assert j["node"]["error"]
    # /status says what failed, not where the node is (issue 16.6): curl's
    # text names the node's host and port; that detail goes to the log
    assert str(bitcoind.rpc_port) not in j["node"]["error"], j["node"]
    assert "127.0.0.1" not in j["node"]["error"], j["node"]
    assert j["index"]["height"] == 101
    # the API keeps serving from the index meanwhile
    assert s.indexed_height() == 101
    _, vals = metrics(s)
    assert vals["signetd_node_up"] == 0
    assert vals['signetd_health_status{status="down"}'] == 1
    assert "msg=node_unreachable" in s.log_text()

    bitcoind.start()
    wait_until(lambda: health(s)[0] == 200, timeout=20, what="/health ok again")
    bitcoind.rpc("loadwallet", "w")  # conftest's ensure_wallet skips loading it
    bitcoind.generate(2)
    s.wait_synced(103, timeout=30)
    assert s.get_json("/status")["node"]["reachable"] is True


def test_starts_before_node(tmpdir_short, signetd_factory):
    """Compose may start the oracle first: HTTP is up and says down, then
    the node comes (cookie created later) and it syncs and turns ok."""
    node = BitcoinNode(os.path.join(tmpdir_short, "late"))
    s = signetd_factory(node, config={"health_max_tip_age": 600}).start()
    try:
        st, _, h = health(s)
        assert st == 503 and h["status"] == "down" and "node_unreachable" in h["reasons"]
        j = s.get_json("/status")
        assert j["node"]["reachable"] is False and j["node"]["height"] == -1
        node.start()
        node.generate(3)
        s.wait_synced(3, timeout=60)
        wait_until(lambda: health(s)[0] == 200, timeout=15, what="/health ok")
    finally:
        node.stop()


def test_chain_mismatch_is_down_and_not_indexed(bitcoind, signetd_factory, expect_errors):
    # the node watch's refusal to index another chain (said once)
    expect_errors(r"^\S+ level=error mod=rpc msg=chain_mismatch configured=signet "
                  r"node=regtest ", at_least=1)
    bitcoind.generate(5)
    s = signetd_factory(bitcoind, config={"chain": "signet"}).start()
    st, _, h = health(s)  # the first poll precedes the first answer
    assert st == 503
    assert h["status"] == "down" and "chain_mismatch" in h["reasons"]
    s.wait_for_log("msg=chain_mismatch", timeout=15)
    time.sleep(2)
    assert s.get_json("/status")["index"]["height"] <= 0
    assert s.stop() == 0


def test_old_tip_and_index_lag_degrade(bitcoind, signetd_factory):
    # a chain whose tip is two hours old
    old = int(time.time()) - 7200
    bitcoind.rpc("setmocktime", old)
    bitcoind.generate(101)
    s = signetd_factory(bitcoind, config={"health_max_tip_age": 3600,
                                          "health_max_index_lag": 2}).start()
    s.wait_synced(101)

    def state():
        st, _, h = health(s)
        return st, h
    st, h = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(state()),
                       timeout=10, what="degraded")
    assert h["status"] == "degraded" and h["reasons"] == ["tip_too_old"]
    assert 7200 - 600 <= h["tip_age_s"] <= 7200 + 60

    # a fresh block: ok again
    bitcoind.rpc("setmocktime", 0)
    bitcoind.generate(1)
    s.wait_synced(102)
    wait_until(lambda: state() == (200, {"status": "ok"}), timeout=10, what="ok")



def test_index_lag_degrades(tmpdir_short, signetd_factory):
    """A node without REST and signetd forced to REST: the index cannot
    fetch a block, the node is fine -> degraded with index_lag only."""
    node = BitcoinNode(os.path.join(tmpdir_short, "norest"), rest=False).start()
    try:
        node.generate(101)
        s = signetd_factory(node, config={"block_source": "rest",
                                          "health_max_tip_age": 3600,
                                          "health_max_index_lag": 2}).start()
        st, _, h = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            (lambda x: (x[0], x[1], json.loads(x[2])))(s.get("/health"))),
            timeout=15, what="degraded")
        assert h["status"] == "degraded"
        assert h["reasons"] == ["index_lag"]
        assert h["node_height"] == 101 and h["index_height"] < 99
        j = s.get_json("/status")
        assert j["index"]["lag"] == 101 - j["index"]["height"]
        assert j["node"]["reachable"] is True
    finally:
        node.stop()


def test_metrics_promtool_and_counters(bitcoind, signetd_factory):
    bitcoind.generate(101)
    s = signetd_factory(bitcoind, config={"health_max_tip_age": 600}).start()
    s.wait_synced(101)
    text, before = metrics(s)

    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "" and p.stderr.strip() == "", p.stdout + p.stderr

    assert re.search(r'^signetd_build_info\{version="[0-9.]+"\} 1$', text, re.M)
    # one TYPE line per family, no per-height labels
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    assert len(types) == len({n for n, _ in types})
    assert not re.search(r'height="', text)
    assert before["signetd_index_height"] == 101
    assert before["signetd_node_height"] == 101
    assert before["signetd_blocks_connected_total"] == 101
    assert before["signetd_index_lag_blocks"] == 0
    assert before["signetd_node_up"] == 1
    assert before['signetd_health_status{status="ok"}'] == 1
    assert before["signetd_db_size_bytes"] > 0
    assert before["signetd_rpc_calls_total"] > 0
    assert 0 <= before["signetd_tip_age_seconds"] < 600

    bitcoind.generate(3)
    s.wait_synced(104)
    wait_until(lambda: metrics(s)[1]["signetd_node_height"] == 104, timeout=10,
               what="node height in metrics")
    _, after = metrics(s)
    assert after["signetd_blocks_connected_total"] == before["signetd_blocks_connected_total"] + 3
    assert after["signetd_index_height"] == 104
    assert after["signetd_rpc_calls_total"] > before["signetd_rpc_calls_total"]
    # the follower reads the hashblocks queued behind the first one after
    # it has synced (and reported the node height): counted a moment later
    wait_until(lambda: metrics(s)[1]["signetd_zmq_messages_total"] >=
               before["signetd_zmq_messages_total"] + 3, timeout=10,
               what="3 more ZMQ messages counted")
    assert after['signetd_log_messages_total{level="info"}'] > \
        before['signetd_log_messages_total{level="info"}']
    # a tweak-bearing block (taproot output from a wallet spend) moves tweaks
    addr = bitcoind.rpc("getnewaddress", "", "bech32m", wallet="w")
    bitcoind.rpc("sendtoaddress", addr, 1.0, wallet="w")
    bitcoind.generate(1)
    s.wait_synced(105)
    _, last = metrics(s)
    assert last["signetd_tweaks_indexed_total"] >= after["signetd_tweaks_indexed_total"] + 1
    # live blocks after the sync: the first of each burst comes straight
    # from its ZMQ hashblock (follower fast path)
    assert last["signetd_fast_path_blocks_total"] >= before["signetd_fast_path_blocks_total"] + 1
    assert last["signetd_fast_path_blocks_total"] <= 4
    assert last["signetd_fast_path_misses_total"] == 0
