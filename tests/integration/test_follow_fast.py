"""The follower's live-block fast path (rpc/follow_fast.c) against a real
bitcoind, through build/tools/rpc_follow with --log-level debug: a ZMQ
hashblock whose block extends the consumer tip is fetched by hash and
connected before the sync pass (debug event block_fast_path); anything else
(a reorg, a block the node cannot serve, a failing fetch) is left to the
sync pass (block_fast_path_skip) without losing or repeating a block.

rpc_follow aborts on a connect whose height or parent is not its tip, and
Follower.chain() re-checks every event, so a wrong connect fails the test.
"""
import os
import re
import shutil
import time

import pytest

from conftest import BitcoinNode, wait_until
from faultproxy import FaultProxy
from test_follow import Follower, chain200, follower, node, node_chain  # noqa: F401


def fast_lines(f):
    return [ln for ln in f.log().splitlines() if "msg=block_fast_path " in ln]


def fast_hashes(f):
    return [re.search(r" hash=(\w+)", ln).group(1) for ln in fast_lines(f)]


def skips(f, reason=None):
    return [ln for ln in f.log().splitlines() if "msg=block_fast_path_skip" in ln
            and (reason is None or f"reason={reason} " in ln)]


def each_connected_once(f):
    hs = [e[2] for e in f.evs("connect")]
    assert len(hs) == len(set(hs)), "a block connected twice"


def start_synced(node, follower, *args, url=None):
    # tip polling every 60 s: only ZMQ can bring a block quickly
    f = follower(node, "--start", "1", "--poll-ms", "60000", "--log-level", "debug",
                 *args, url=url)
    f.wait_tip_hash(node.height(), node.rpc("getbestblockhash"))
    f.wait_log("msg=zmq_connected topic=hashblock")
    time.sleep(0.5)  # let the subscription reach the publisher
    return f


@pytest.mark.parametrize("source", ["rest", "rpc"])
def test_live_blocks_connected_by_the_fast_path(node, follower, source):
    f = start_synced(node, follower, "--source", source)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    mined = []
    for i in range(5):
        # blocks with real spends, so that prevouts come along
        for _ in range(3 * i):
            node.rpc("sendtoaddress", addr, 0.1, wallet="w")
        (h,) = node.generate(1)
        mined.append(h)
        f.wait_event(lambda e: e[0] == "connect" and e[2] == h, timeout=10,
                     what=f"block {201 + i}")
    wait_until(lambda: len(fast_lines(f)) >= 5, timeout=10, what="fast path logs")
    assert fast_hashes(f) == mined, f.log()[-3000:]
    for i, ln in enumerate(fast_lines(f)):
        assert f" height={201 + i} " in ln, ln
        assert re.search(r" ntx=\d+ ", ln) and " ms_fetch=" in ln and " ms_total=" in ln
        print(source, ln)  # fetch timings for the record (pytest -s)
    assert int(re.search(r" ntx=(\d+)", fast_lines(f)[-1]).group(1)) == \
        node.rpc("getblock", mined[-1], 1)["nTx"] > 1
    assert not skips(f), skips(f)
    assert f.chain() == node_chain(node, 1)
    each_connected_once(f)
    assert "msg=rpc_error" not in f.log() and "msg=consumer_error" not in f.log()
    assert f.stop() == 0
    st = f.status()
    assert st["connected"] == "205" and st["node_height"] == "205", st
    assert st["node_tip"] == mined[-1], st  # the sync pass still ran after it


def test_reorg_over_zmq_is_left_to_the_sync_pass(node, follower):
    f = start_synced(node, follower)
    old = node_chain(node, 198)
    node.rpc("invalidateblock", old[198])  # no hashblock: the tip went back
    assert node.height() == 197
    node.ensure_wallet()
    addr = node.rpc("getnewaddress", "", "bech32", wallet="w")
    new = node.generate(5, addr)  # a longer branch: 198..202, via ZMQ only
    f.wait_tip_hash(202, new[-1], timeout=30)
    # 198' does not extend the consumer tip (old 200): refused
    wait_until(lambda: any(f" hash={new[0]} " in ln for ln in skips(f, "not_on_tip")),
               timeout=10, what="fast path refuses 198'")
    assert new[0] not in fast_hashes(f)
    evs = [e for e in f.evs() if e[0] in ("connect", "disconnect")]
    first_disc = next(i for i, e in enumerate(evs) if e[0] == "disconnect")
    assert evs[first_disc:first_disc + 3] == [
        ["disconnect", "200", old[200]], ["disconnect", "199", old[199]],
        ["disconnect", "198", old[198]]]
    assert [(int(e[1]), e[2]) for e in evs[first_disc + 3:]] == \
        [(198 + i, new[i]) for i in range(5)]
    assert "msg=reorg depth=3 fork_height=197" in f.log()
    assert f.chain() == node_chain(node, 1)
    # and the next live block takes the fast path again
    (h,) = node.generate(1, addr)
    f.wait_tip_hash(203, h, timeout=10)
    wait_until(lambda: h in fast_hashes(f), timeout=10, what="fast path after the reorg")
    assert f.chain() == node_chain(node, 1)
    each_connected_once(f)
    assert f.stop() == 0
    st = f.status()
    assert st["reorgs"] == "1" and st["disconnected"] == "3", st


def test_fetch_failure_falls_back_to_the_sync_pass(node, follower):
    px = FaultProxy(node.rpc_port)
    try:
        # RPC and REST through the proxy; ZMQ straight from the node
        f = start_synced(node, follower, "--source", "rest", url=px.url)
        addr = node.rpc("getnewaddress", wallet="w")
        for mode in ("reset", "no_spenttxouts", "500"):
            n_skip = len(skips(f, "fetch"))
            px.set_mode(mode)
            (h,) = node.generate(1, addr)
            hgt = node.height()
            wait_until(lambda: len(skips(f, "fetch")) > n_skip, timeout=10,
                       what=f"fast path fetch failure ({mode})")
            assert f" hash={h} " in skips(f, "fetch")[-1]
            time.sleep(0.5)  # the sync pass fails too and backs off
            assert f.tip() == hgt - 1
            n_idle = f.log().count("msg=follower_idle")
            px.set_mode("pass")
            f.wait_tip_hash(hgt, h, timeout=30)
            # the pass after the one that connected h must end before the
            # next fault: a failing pass backs off without reading ZMQ, so
            # the next hashblock would wait for the pass, not the fast path
            wait_until(lambda: f.log().count("msg=follower_idle") > n_idle,
                       timeout=10, what="follower idle again")
            assert h not in fast_hashes(f)
        err = skips(f, "fetch")
        assert 'err="not found"' in err[-2], err[-2]
        # healthy again: the fast path's own client reconnects
        (h,) = node.generate(1, addr)
        f.wait_tip_hash(node.height(), h, timeout=10)
        wait_until(lambda: h in fast_hashes(f), timeout=10, what="fast path back")
        assert f.chain() == node_chain(node, 1)
        assert [int(e[1]) for e in f.evs("connect")] == list(range(1, node.height() + 1))
        each_connected_once(f)
        assert f.stop() == 0
    finally:
        px.close()


def test_block_unknown_to_the_node_is_left_alone(node, follower, tmpdir_short, chain200):
    """ZMQ from another node (B) announces blocks the follower's node (A)
    may not have: a block A cannot serve is skipped quietly (no error
    state), one A has is connected by the fast path."""
    dd = os.path.join(tmpdir_short, "nodeb")
    shutil.copytree(chain200, dd, ignore=shutil.ignore_patterns(".cookie", "*.pid"))
    b = BitcoinNode(dd).start()
    try:
        f = start_synced(node, follower, "--zmq-hashblock", b.zmq_hashblock,
                         "--zmq-rawtx", "")
        assert b.rpc("getbestblockhash") == node.rpc("getbestblockhash")
        (x,) = b.generate(1)  # only B has it
        wait_until(lambda: any(f" hash={x} " in ln for ln in skips(f, "fetch")),
                   timeout=10, what="unknown block skipped")
        time.sleep(0.5)
        assert f.tip() == 200 and f.chain() == node_chain(node, 1)
        log = f.log()
        assert "msg=rpc_error" not in log and "msg=node_unreachable" not in log, log[-2000:]
        # B forgets X and takes A's next block: its hashblock is one A has
        b.rpc("invalidateblock", x)
        # (another address than B's: the nodes share a wallet, and the
        # same coinbase in the same second would make the same block)
        (y,) = node.generate(1, node.rpc("getnewaddress", "", "bech32", wallet="w"))
        assert y != x
        assert b.rpc("submitblock", node.rpc("getblock", y, 0)) is None
        f.wait_tip_hash(201, y, timeout=10)
        wait_until(lambda: y in fast_hashes(f), timeout=10, what="fast path for A's block")
        assert f.chain() == node_chain(node, 1)
        each_connected_once(f)
        assert f.stop() == 0
    finally:
        b.stop()
