"""undo_depth against a real bitcoind: a reorg within the window is
followed; one deeper than undo_depth leaves the index on a prefix of the
old chain, logs reorg_too_deep once (depth, undo_depth, what to do) while
the follower keeps retrying, and /health answers 503 "down" with reason
reorg_too_deep; a reindex (the index directory deleted) follows the new
chain."""
import json
import re
import shutil
import os
import time

import pytest

from conftest import wait_until


def health(s):
    st, _, body = s.get("/health")
    return st, json.loads(body)


def index_hash(s):
    return s.get_json("/status")["index"]["hash"]


@pytest.mark.expect_errors(r"mod=daemon msg=reorg_too_deep depth=12 height=105", at_least=1)
@pytest.mark.expect_errors(r"mod=rpc msg=consumer_error where=consumer_disconnect "
                           r'err="not found"', at_least=1)
def test_reorg_deeper_than_undo_depth(bitcoind, signetd_factory):
    bitcoind.generate(110)
    s = signetd_factory(bitcoind, config={"undo_depth": 6}).start()
    s.wait_synced(110)
    wait_until(lambda: health(s)[0] == 200, timeout=15, what="/health ok")

    # within the window (3 blocks of 6): followed
    bitcoind.rpc("invalidateblock", bitcoind.rpc("getblockhash", 108))
    bitcoind.generate(4)
    best = bitcoind.rpc("getbestblockhash")
    wait_until(lambda: index_hash(s) == best, timeout=60,
               what="3-block reorg indexed")
    assert s.get_json("/status")["last_reorg"]["depth"] == 3

    # 12 deep, undo rows for 6: the index disconnects 111..106 (undo_from
    # = 111 - 6 + 1) and stops there, on the old chain
    old105 = bitcoind.rpc("getblockhash", 105)
    bitcoind.rpc("invalidateblock", bitcoind.rpc("getblockhash", 100))
    bitcoind.generate(14)
    assert bitcoind.height() == 113

    def down():
        st, h = health(s)
        return h if st == 503 and "reorg_too_deep" in h["reasons"] else None
    h = wait_until(down, timeout=60, what="/health down: reorg_too_deep")
    assert h["status"] == "down"
    assert h["index_height"] == 105
    assert index_hash(s) == old105     # a prefix of the old chain
    s.wait_for_log("reorg_too_deep")
    # the follower retries (backoff 0.1 s doubling to 5 s): still one event
    time.sleep(12)
    text = s.log_text()
    events = [ln for ln in text.splitlines() if "msg=reorg_too_deep" in ln]
    assert len(events) == 1, events
    ev = events[0]
    assert "level=error" in ev
    assert re.search(r"\bdepth=12\b", ev), ev
    assert re.search(r"\bheight=105\b", ev), ev
    assert re.search(r"\bundo_depth=6\b", ev), ev
    assert 'action="reindex: ' in ev
    # every retry pass finds the same fork to the same node tip again:
    # logged once (earlier lines are for the node's tips while it mined)
    reorgs = [ln for ln in text.splitlines()
              if "msg=reorg " in ln and "fork_height=99" in ln]
    assert len([ln for ln in reorgs if "new_height=113" in ln]) == 1, reorgs
    assert len(reorgs) == len({re.search(r"new_tip=(\w+)", ln).group(1)
                               for ln in reorgs}), reorgs
    # /status reports the last reorg logged: 12 deep if the node's final
    # tip was the first seen, else 6 (105 -> 99, after the first pass)
    last = int(re.search(r"\bdepth=(\d+)", reorgs[-1]).group(1))
    assert last in (6, 12), reorgs
    assert s.get_json("/status")["last_reorg"]["depth"] == last
    # ...and the retries back off instead of spinning: signetd's CPU time
    # over 5 s of being stuck stays far below one core's 5 s (a spin would
    # take ~5 s; idle is 0.01-0.02 s, also under the clock-ahead pass since
    # the mempool thread waits with pthread_cond_clockwait: libfaketime's
    # pthread_cond_timedwait returned at once and it spun, 1.1-5.0 s)
    cpu0 = cpu_seconds(s.proc.pid)
    time.sleep(5)
    cpu = cpu_seconds(s.proc.pid) - cpu0
    assert cpu < 1.0, f"{cpu:.2f} s of CPU in 5 s while stuck"
    assert len([ln for ln in text.splitlines()
                if "msg=consumer_error" in ln]) == 1
    st, h = health(s)
    assert st == 503 and "reorg_too_deep" in h["reasons"]
    assert s.get_json("/status")["index"]["height"] == 105

    # the way out: reindex
    assert s.stop() == 0
    shutil.rmtree(os.path.join(s.datadir, "index"))
    s.start()
    best = bitcoind.rpc("getbestblockhash")
    wait_until(lambda: index_hash(s) == best, timeout=60,
               what="reindexed on the new chain")
    wait_until(lambda: health(s)[0] == 200, timeout=15, what="/health ok")


def cpu_seconds(pid):
    """user + system CPU time of a process, from /proc (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
