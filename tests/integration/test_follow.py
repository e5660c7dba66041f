"""The chain follower (rpc/follow.h) against a real bitcoind, through the
build/tools/rpc_follow consumer: initial sync via REST and via getblock 3,
live blocks through ZMQ, reorgs, node kill -9 and restart, polling without
ZMQ, mempool txs from ZMQ rawtx, consumer errors, restarts of the consumer.

rpc_follow prints one line per event on stdout:
  connect <height> <hash> <ntx> | disconnect <height> <hash> | mempool <txid>
and logs (logfmt) on stderr.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import REPO, BitcoinNode, regtest_a_blocks, wait_until
from faultproxy import FaultProxy


def tool_path():
    build = os.environ.get("SIGNETD_BUILD_DIR") or os.path.join(REPO, "build")
    p = os.path.join(build, "tools", "rpc_follow")
    if not os.path.exists(p):
        pytest.fail(f"{p} not found (build the rpc_follow tool, set SIGNETD_BUILD_DIR)",
                    pytrace=False)
    return p




class Follower:
    """A running rpc_follow; its stdout events are collected with the
    arrival time, and its chain is replayed from them."""

    def __init__(self, node, *args, logdir, url=None):
        self.node = node
        self.log_path = os.path.join(logdir, f"follow-{time.time_ns()}.log")
        self.logf = open(self.log_path, "wb")
        cmd = [tool_path(), "--url", url or node.rpc_url, "--cookie", node.cookie_path] + \
            list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.logf)
        self.events = []  # (time, [fields])
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            ln = raw.decode().split()
            if ln:
                with self.lock:
                    self.events.append((time.time(), ln))

    def evs(self, kind=None):
        with self.lock:
            return [e for t, e in self.events if kind is None or e[0] == kind]

    def chain(self):
        """height -> hash after applying every event in order."""
        c = {}
        for e in self.evs():
            if e[0] == "connect":
                h = int(e[1])
                assert h not in c, f"connect {h} over an existing block"
                assert h == 0 or not c or h - 1 in c, f"connect {h}: gap"
                c[h] = e[2]
            elif e[0] == "disconnect":
                h = int(e[1])
                assert c and max(c) == h and c[h] == e[2], f"disconnect {h} is not the tip"
                del c[h]
        return c

    def tip(self):
        c = self.chain()
        return max(c) if c else -1

    def wait_tip_hash(self, h, bhash, timeout=60):
        wait_until(lambda: self.chain().get(h) == bhash and self.tip() == h,
                   timeout=timeout, what=f"follower at {h} {bhash}")

    def wait_event(self, pred, timeout=30, what="event"):
        def find():
            with self.lock:
                for t, e in self.events:
                    if pred(e):
                        return t
            return None
        return wait_until(find, timeout=timeout, what=what)

    def status(self):
        """The status line rpc_follow prints when it stops (as a dict)."""
        st = self.evs("status")
        assert len(st) == 1, st
        return dict(kv.split("=", 1) for kv in st[0][1:])

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout=30):
        wait_until(lambda: needle in self.log(), timeout=timeout, what=f"log {needle!r}")

    def wait_exit(self, timeout=60):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        return rc

    def stop(self):
        if self.proc.poll() is None:
            t0 = time.time()
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=10)
            self.stop_secs = time.time() - t0
        else:
            rc = self.proc.returncode
        self.reader.join(timeout=5)
        self.logf.close()
        log = self.log()
        assert "AddressSanitizer" not in log and "runtime error:" not in log, log[-3000:]
        return rc


def node_chain(node, lo=0):
    return {h: node.rpc("getblockhash", h) for h in range(lo, node.height() + 1)}


@pytest.fixture(scope="module")
def chain200():
    """A stopped node datadir with 200 blocks mined to wallet "w" (loaded on
    startup); each test starts a copy so that mining happens once."""
    d = tempfile.mkdtemp(prefix="sd-c200-")
    n = BitcoinNode(os.path.join(d, "node")).start()
    n.rpc("createwallet", "w", False, False, "", False, True, True)
    n.generate(200)
    n.stop()
    yield n.datadir
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def node(tmpdir_short, chain200):
    dd = os.path.join(tmpdir_short, "node")
    shutil.copytree(chain200, dd, ignore=shutil.ignore_patterns(".cookie", "*.pid"))
    n = BitcoinNode(dd).start()
    assert n.height() == 200
    wait_until(lambda: "w" in n.rpc("listwallets"), timeout=30, what="wallet loaded")
    yield n
    n.stop()


@pytest.fixture
def follower(tmpdir_short):
    made = []

    def make(node, *args, url=None):
        f = Follower(node, *args, logdir=tmpdir_short, url=url)
        made.append(f)
        return f

    yield make
    for f in made:
        f.stop()


def test_sync_rest_and_rpc_same_events(node, follower):
    want = node_chain(node, 1)
    runs = {}
    for src in ("rest", "rpc"):
        f = follower(node, "--source", src, "--start", "1", "--exit-at-height", "200")
        assert f.wait_exit() == 0, f.log()[-2000:]
        runs[src] = f.evs()
        assert f.chain() == want
        assert [int(e[1]) for e in f.evs("connect")] == list(range(1, 201))
        assert not f.evs("disconnect")
        assert "msg=follower_start" in f.log()
        st = f.status()
        assert st["source"] == src and st["connected"] == "200", st
        assert st["reachable"] == "1" and st["node_height"] == "200", st
        assert st["node_tip"] == want[200] and int(st["tip_time"]) > 0, st
    def blocks(evs):
        return [e for e in evs if e[0] in ("connect", "disconnect")]
    assert blocks(runs["rest"]) == blocks(runs["rpc"])
    # ntx as the node counts it
    for e in blocks(runs["rest"])[::50]:
        assert int(e[3]) == node.rpc("getblock", e[2], 1)["nTx"]
    # auto picks REST on a node serving it (and genesis works on it)
    f = follower(node, "--exit-at-height", "200")
    assert f.wait_exit() == 0
    assert f.chain() == node_chain(node, 0)
    assert "source=rest" in f.log()


def test_live_blocks_through_zmq_and_mempool_tx(node, follower):
    # Tip polling every 60 s: only ZMQ can deliver a block within 1 s.
    f = follower(node, "--start", "1", "--poll-ms", "60000")
    f.wait_tip_hash(200, node.rpc("getbestblockhash"))
    f.wait_log("msg=zmq_connected topic=hashblock")
    # endpoints came from getzmqnotifications
    assert f"hashblock={node.zmq_hashblock}" in f.log()
    time.sleep(0.5)  # let the subscription reach the publisher
    lat = []
    for i in range(5):
        t0 = time.time()
        (h,) = node.generate(1)
        t1 = f.wait_event(lambda e: e[0] == "connect" and e[2] == h, timeout=10,
                          what=f"block {201 + i} via ZMQ")
        lat.append(t1 - t0)
    assert max(lat) < 1.0, f"latencies {lat}"
    assert f.chain() == node_chain(node, 1)
    # a wallet tx arrives through rawtx
    addr = node.rpc("getnewaddress", wallet="w")
    txid = node.rpc("sendtoaddress", addr, 1.0, wallet="w")
    f.wait_event(lambda e: e == ["mempool", txid], timeout=10, what="mempool tx")
    assert "msg=zmq_gap" not in f.log()
    # a node restart resets ZMQ sequence numbers: seen as a gap, then
    # the subscription comes back and blocks arrive through ZMQ again
    conn = "msg=zmq_connected topic=hashblock"
    n_conn = f.log().count(conn)
    node.restart()
    wait_until(lambda: f.log().count(conn) > n_conn, timeout=30, what="ZMQ reconnect")
    time.sleep(0.5)
    t0 = time.time()
    (h,) = node.generate(1, addr)  # the wallet is not loaded after restart
    t1 = f.wait_event(lambda e: e[0] == "connect" and e[2] == h, timeout=10,
                      what="block after restart")
    assert t1 - t0 < 1.0
    f.wait_log("msg=zmq_gap topic=hashblock expected=")
    assert f.chain() == node_chain(node, 1)
    assert f.stop() == 0
    assert f.stop_secs < 1.0
    st = f.status()
    assert st["zmq_on"] == "1" and int(st["zmq_msgs"]) >= 6 and int(st["zmq_gaps"]) >= 1, st


def test_reorg_disconnects_tip_first_then_new_branch(node, follower):
    f = follower(node, "--start", "1", "--poll-ms", "200")
    f.wait_tip_hash(200, node.rpc("getbestblockhash"))
    old = node_chain(node, 198)
    node.rpc("invalidateblock", old[198])
    assert node.height() == 197
    node.ensure_wallet()
    addr = node.rpc("getnewaddress", "", "bech32", wallet="w")
    new = node.generate(5, addr)  # a longer branch: 198..202
    f.wait_tip_hash(202, new[-1])
    evs = f.evs()
    first_disc = next(i for i, e in enumerate(evs) if e[0] == "disconnect")
    tail = evs[first_disc:]
    tail = [e for e in tail if e[0] in ("connect", "disconnect")]
    assert tail[:3] == [["disconnect", "200", old[200]], ["disconnect", "199", old[199]],
                        ["disconnect", "198", old[198]]], tail[:4]
    assert [(int(e[1]), e[2]) for e in tail[3:]] == [(198 + i, new[i]) for i in range(5)]
    assert f.chain() == node_chain(node, 1)
    assert "msg=reorg depth=3 fork_height=197" in f.log()
    assert f.stop() == 0
    st = f.status()
    assert st["reorgs"] == "1" and st["last_reorg_depth"] == "3", st
    assert st["disconnected"] == "3" and st["connected"] == str(200 + 5), st


def test_node_chain_gets_shorter_then_back(node, follower):
    f = follower(node, "--start", "1", "--poll-ms", "200")
    old = node_chain(node, 1)
    f.wait_tip_hash(200, old[200])
    node.rpc("invalidateblock", old[198])
    f.wait_tip_hash(197, old[197])
    assert [int(e[1]) for e in f.evs("disconnect")] == [200, 199, 198]
    node.rpc("reconsiderblock", old[198])
    f.wait_tip_hash(200, old[200])
    assert f.chain() == old


def test_reorg_during_pipelined_sync(node, follower):
    f = follower(node, "--start", "1", "--connect-delay-ms", "20", "--poll-ms", "200",
                 "--fetch-ahead", "16")
    wait_until(lambda: f.tip() >= 30, timeout=30, what="sync under way")
    addr = node.rpc("getnewaddress", "", "bech32", wallet="w")
    node.rpc("invalidateblock", node.rpc("getblockhash", 150))
    new = node.generate(60, addr)  # 150..209
    f.wait_tip_hash(209, new[-1], timeout=60)
    assert f.chain() == node_chain(node, 1)  # chain() checks every event


def test_node_killed_mid_sync_then_restarted(node, follower):
    addr = node.rpc("getnewaddress", wallet="w")
    node.rpc("gettxoutsetinfo")  # flush the chainstate: a kill -9 keeps 200 blocks
    # a slow consumer so that the kill lands mid-sync
    f = follower(node, "--start", "1", "--connect-delay-ms", "15", "--poll-ms", "300")
    wait_until(lambda: f.tip() >= 40, timeout=30, what="sync under way")
    node.kill()
    at_kill = f.tip()
    assert at_kill < 200
    f.wait_log("msg=node_unreachable")
    time.sleep(1.0)
    node.start()
    f.wait_tip_hash(200, node.rpc("getbestblockhash"), timeout=90)
    assert f.chain() == node_chain(node, 1)
    heights = [int(e[1]) for e in f.evs("connect")]
    assert heights == list(range(1, 201)), "each block exactly once, in order"
    log = f.log()
    assert log.count("msg=node_unreachable") == 1, log
    assert log.index("msg=node_unreachable") < log.rindex("msg=node_reachable")
    # and it keeps following the restarted node
    (h,) = node.generate(1, addr)  # the wallet is not loaded after restart
    f.wait_tip_hash(201, h, timeout=30)


def test_polling_without_zmq(tmpdir_short, follower):
    n = BitcoinNode(os.path.join(tmpdir_short, "nozmq"), zmq=False).start()
    try:
        n.generate(20)
        f = follower(n, "--start", "1", "--poll-ms", "200")
        f.wait_tip_hash(20, n.rpc("getbestblockhash"))
        for _ in range(3):
            (h,) = n.generate(1)
            t0 = time.time()
            f.wait_tip_hash(n.height(), h, timeout=10)
            assert time.time() - t0 < 3.0
        assert f.chain() == node_chain(n, 1)
        assert 'msg=zmq_setup hashblock="" rawtx=""' in f.log() or \
            "msg=zmq_setup hashblock= rawtx=" in f.log(), f.log()
        assert "msg=zmq_connected" not in f.log()
    finally:
        n.stop()


def test_zmq_endpoints_off_polls(node, follower):
    f = follower(node, "--start", "1", "--no-zmq", "--poll-ms", "200")
    f.wait_tip_hash(200, node.rpc("getbestblockhash"))
    (h,) = node.generate(1)
    f.wait_tip_hash(201, h, timeout=10)
    assert "msg=zmq_subscribed" not in f.log()


def test_consumer_error_retried_never_skipped(node, follower):
    f = follower(node, "--start", "1", "--fail-connect", "50:3", "--exit-at-height", "200")
    assert f.wait_exit() == 0
    assert len(f.evs("connect_failed")) == 3
    assert [int(e[1]) for e in f.evs("connect")] == list(range(1, 201))
    assert f.log().count("msg=consumer_error") == 1


def test_consumer_restart_resumes_and_sees_reorg(node, follower, tmpdir_short):
    state = os.path.join(tmpdir_short, "state")
    f = follower(node, "--start", "1", "--state", state, "--exit-at-height", "150")
    assert f.wait_exit() == 0
    assert f.tip() == 150
    # while the consumer is down the node reorganizes below its tip
    old = node_chain(node, 149)
    node.rpc("invalidateblock", old[149])
    node.ensure_wallet()
    addr = node.rpc("getnewaddress", "", "bech32", wallet="w")
    new = node.generate(60, addr)
    g = follower(node, "--start", "1", "--state", state, "--exit-at-height", str(148 + 60))
    assert g.wait_exit() == 0
    evs = [e for e in g.evs() if e[0] in ("connect", "disconnect")]
    assert evs[:2] == [["disconnect", "150", old[150]], ["disconnect", "149", old[149]]]
    assert [e[2] for e in evs[2:]] == new
    assert int(evs[2][1]) == 149


def test_stop_is_prompt_mid_sync(node, follower):
    f = follower(node, "--start", "1", "--connect-delay-ms", "50")
    wait_until(lambda: f.tip() >= 5, timeout=30, what="sync under way")
    assert f.stop() == 0
    assert f.stop_secs < 1.0
    assert "msg=follower_stop" in f.log()


@pytest.fixture(scope="module")
def regtest_a(tmp_path_factory):
    """A node holding the regtest-a chain (400 blocks with real spends)."""
    d = tmp_path_factory.mktemp("ra")
    n = BitcoinNode(os.path.join(str(d), "node")).start()
    n.submit_hex_blocks(regtest_a_blocks())
    assert n.height() == 400
    yield n
    n.stop()


def test_regtest_a_rest_and_rpc_yield_identical_blocks(regtest_a, follower):
    """Every parsed block (txs, witnesses, prevouts) is the same from both
    sources: compared by btc_block_digest."""
    runs = {}
    for src in ("rest", "rpc"):
        f = follower(regtest_a, "--source", src, "--digest", "--fetch-threads", "3",
                     "--exit-at-height", "400")
        assert f.wait_exit() == 0, f.log()[-2000:]
        runs[src] = f.evs("connect")
        assert [int(e[1]) for e in runs[src]] == list(range(0, 401))
        m = [ln for ln in f.log().splitlines() if "msg=synced" in ln]
        assert m, f.log()[-2000:]
        print(src, m[-1])  # blocks/s for the record (pytest -s)
    assert runs["rest"] == runs["rpc"]
    assert runs["rest"][-1][2] == \
        "472c09d7bd172a6bafedd0d776389d34efa8e5f75386f37ab44d158f6aebe89d"
    assert sum(int(e[3]) for e in runs["rest"]) > 401  # there are real txs


def test_rpc_errors_and_outage_logged_once_then_recovers(node, follower):
    px = FaultProxy(node.rpc_port)
    try:
        f = follower(node, "--start", "1", "--no-zmq", "--poll-ms", "100", url=px.url)
        f.wait_tip_hash(200, node.rpc("getbestblockhash"))
        # the node answers garbage (HTTP 500) for a while
        px.set_mode("500")
        hs = node.generate(2, node.rpc("getnewaddress", wallet="w"))
        f.wait_log("msg=rpc_error")
        time.sleep(2.0)  # several retries with backoff
        assert f.log().count("msg=rpc_error") == 1, f.log()
        assert f.tip() == 200
        px.set_mode("pass")
        f.wait_tip_hash(202, hs[-1])
        f.wait_log("msg=rpc_ok")
        # then it cannot be reached at all
        px.set_mode("reset")
        hs = node.generate(2, node.rpc("getnewaddress", wallet="w"))
        f.wait_log("msg=node_unreachable")
        time.sleep(2.0)
        assert f.log().count("msg=node_unreachable") == 1, f.log()
        px.set_mode("pass")
        f.wait_tip_hash(204, hs[-1])
        assert f.log().count("msg=node_reachable") == 2
        assert f.chain() == node_chain(node, 1)
        assert [int(e[1]) for e in f.evs("connect")] == list(range(1, 205))
    finally:
        px.close()
