"""Mempool abuse (issue 16 point 2) against a real regtest bitcoind: one
transaction pair must not stall block indexing.

The attack: a parent with 1,000 taproot outputs (~43 kvB) and a child
spending all of them (~57 kvB).  signetd used to fetch the whole parent as
verbose JSON once per child input, on the thread that indexes blocks
(~480 MB of JSON; a block mined 10 s later was indexed minutes later).
Now mempool work runs on its own thread, each parent is fetched at most
once (and not at all when its rawtx was seen), inputs are looked up with
one batched gettxout, and the queue sheds load (counted in /metrics).

The parent is made before signetd starts, so signetd never saw its rawtx:
the child's resolution has to fetch it, once.
"""
import json
import time

from conftest import wait_until

N_OUT = 1000
VALUE = 0.001  # BTC per parent output
BLOCK_BOUND_S = 10.0


def metrics(s):
    st, _, body = s.get("/metrics")
    assert st == 200
    vals = {}
    for ln in body.decode().splitlines():
        if ln and not ln.startswith("#"):
            name, v = ln.rsplit(" ", 1)
            vals[name] = float(v)
    return vals


def mempool_tweaks(s):
    st, _, body = s.get("/mempool/tweaks")
    assert st == 200
    return {r["txid"]: r for r in (json.loads(body) or [])}


def make_parent(node):
    node.ensure_wallet()
    addrs = [node.rpc("getnewaddress", "", "bech32m", wallet="w") for _ in range(N_OUT)]
    res = node.rpc("send", [{a: VALUE} for a in addrs], None, "unset", 2,
                   {"add_to_wallet": True}, wallet="w")
    txid = res["txid"]
    vsize = node.rpc("getmempoolentry", txid)["vsize"]
    assert vsize > 40_000, vsize
    return txid


def make_child(node, parent, fee_sat=140_000):
    dec = node.rpc("getrawtransaction", parent, 1)
    ins = [{"txid": parent, "vout": o["n"], "sequence": 0xfffffffd}
           for o in dec["vout"] if abs(o["value"] - VALUE) < 1e-9]
    assert len(ins) == N_OUT
    total = round(N_OUT * VALUE * 1e8) - fee_sat
    dest = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    raw = node.rpc("createrawtransaction", ins, [{dest: total / 1e8}])
    signed = node.rpc("signrawtransactionwithwallet", raw, wallet="w")
    assert signed["complete"]
    txid = node.rpc("sendrawtransaction", signed["hex"])
    vsize = node.rpc("getmempoolentry", txid)["vsize"]
    assert vsize > 50_000, vsize
    return txid


def timed_get(s, path):
    t0 = time.monotonic()
    st, _, body = s.get(path, timeout=60)
    return st, time.monotonic() - t0, body


def test_big_pair_does_not_stall_blocks(bitcoind, signetd_factory):
    node = bitcoind
    node.generate(120)
    parent = make_parent(node)  # in the mempool before signetd runs
    s = signetd_factory(node).start()
    s.wait_synced(120)
    s.wait_for_log("msg=zmq_connected topic=rawtx")
    time.sleep(0.5)  # the subscription reaches the publisher

    child = make_child(node, parent)
    time.sleep(2.0)  # signetd is now working on the child

    # a block mined meanwhile (without the pair) is indexed at once
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    h0 = node.height()
    node.rpc("generateblock", addr, [])
    t0 = time.monotonic()
    wait_until(lambda: s.indexed_height() >= h0 + 1, timeout=120,
               what="block indexed under the mempool attack")
    delay = time.monotonic() - t0
    print(f"block indexed {delay * 1000:.0f} ms after generateblock")
    assert delay < BLOCK_BOUND_S, f"block indexed {delay:.1f} s late"

    # /health answers at once, and says ok
    st, dt, body = timed_get(s, "/health")
    assert st == 200 and dt < 2.0, (st, dt, body)

    # the child's tweak comes, with its parent fetched once (not per input)
    wait_until(lambda: child in mempool_tweaks(s), timeout=60, what="child tweak")
    m = metrics(s)
    print({k: v for k, v in m.items() if k.startswith("signetd_mempool")})
    assert m["signetd_mempool_parent_fetches_total"] == 1, m
    assert m["signetd_mempool_parent_fetch_bytes_total"] < 100_000, m
    gen = m["signetd_mempool_generation"]

    # an RBF replacement of the child: resolved from the cache, no fetch
    rbf = make_child(node, parent, fee_sat=200_000)
    wait_until(lambda: rbf in mempool_tweaks(s), timeout=60, what="replacement tweak")
    m2 = metrics(s)
    assert m2["signetd_mempool_parent_fetches_total"] == 1, m2
    assert m2["signetd_mempool_prevout_cache_hits_total"] >= N_OUT, m2
    assert m2["signetd_mempool_generation"] > gen
    mp = mempool_tweaks(s)

    # mined: the block's tweaks equal what the mempool path computed
    (bh,) = node.generate(1)
    s.wait_synced(h0 + 2, timeout=30)
    height = node.rpc("getblock", bh)["height"]
    block_tweaks = s.get_json(f"/tweak-index/{height}")
    for txid in (parent, rbf):
        if txid in mp:
            assert mp[txid]["tweak"] in block_tweaks, txid
    assert mp[rbf]["tweak"] in block_tweaks
    # and they leave the mempool table
    wait_until(lambda: rbf not in mempool_tweaks(s) and child not in mempool_tweaks(s),
               timeout=30, what="mined/replaced txs pruned")
    assert s.stop() == 0


def test_rawtx_flood_is_shed_not_queued(bitcoind, signetd_factory):
    """A queue of 2: a block's rawtx burst overflows it; the drops are
    counted and the blocks keep coming at once."""
    node = bitcoind
    node.generate(110)
    s = signetd_factory(node, config={"mempool_queue_txs": 2}).start()
    s.wait_synced(110)
    s.wait_for_log("msg=zmq_connected topic=rawtx")
    time.sleep(0.5)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    for _ in range(20):
        node.rpc("sendtoaddress", addr, 0.01, wallet="w")
    t0 = time.monotonic()
    node.generate(1)
    s.wait_synced(111, timeout=30)
    assert time.monotonic() - t0 < BLOCK_BOUND_S

    def dropped():
        m = metrics(s)
        return m if m['signetd_mempool_dropped_total{reason="queue_full"}'] > 0 else None
    m = wait_until(dropped, timeout=30, what="queue_full drops counted")
    assert m["signetd_mempool_queue_transactions"] <= 2
    assert m["signetd_mempool_queued_total"] > 0
    st, dt, _ = timed_get(s, "/health")
    assert st == 200 and dt < 2.0
    assert s.stop() == 0
