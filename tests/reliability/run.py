#!/usr/bin/python3
"""The full reliability measurement of issue 7: runs every scenario against
a real bitcoind (regtest-a: 400 blocks of real taproot spends) and a real
signetd, and writes the figures to docs/reliability.md (and the raw
results to a JSON file next to it, for the record).

  tests/reliability/run.sh --quick      minutes: every scenario, small counts
  tests/reliability/run.sh --full       what docs/reliability.md shows

Sections (--only a,b,... runs a subset and keeps the others' old results):
  faults    proxy in front of RPC/REST: drop, delay, truncate, reset, 500
  zmq       ZMQ messages lost across node restarts
  nodekill  the node killed -9 during signetd's sync
  kill_sync signetd killed -9 at K random blocks while syncing
  kill_reorg signetd killed -9 at K random blocks during 100-deep reorgs
  diskfull  the index on a small tmpfs: full, reads go on, resumes
  reorgs    reorgs of depth 1, 6, 100 (ping-pong) while clients query
  load      C clients for D seconds mixing all routes while blocks arrive
  lsan      load + reorg under the ASan build, LeakSanitizer at exit
  limits    HTTP size limits, slow clients, bind, /forward-tx bound
  fuzz      every libFuzzer target for N seconds (clang build)

"Equals a fresh sync" is checked two ways: the index dumps byte-identical
(every LMDB table, build/tools/oracle_index --dump; a kill at tip T is
compared with a fresh index of blocks 1..T), and every block route at
every height answers as a freshly synced signetd does.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import rellib  # noqa: E402
from conftest import BitcoinNode, Signetd, regtest_a_blocks, wait_until  # noqa: E402

PATHS = rellib.route_paths(1, rellib.RA_TIP)
INV = (500, b'{"error":"could not fetch header inv"}')


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


class Env:
    """Shared state: a stopped regtest-a node datadir, the reference dumps
    (cached per tip) and the reference HTTP answers."""

    def __init__(self, args):
        self.args = args
        self.root = tempfile.mkdtemp(prefix="sd-relrun-")
        self.ref_dumps = {}
        self.ref_dirs = {}
        d = os.path.join(self.root, "ra")
        n = BitcoinNode(os.path.join(d, "node")).start()
        n.submit_hex_blocks(regtest_a_blocks())
        assert n.rpc("getbestblockhash") == rellib.RA_TIP_HASH
        n.rpc("createwallet", "w", False, False, "", False, True, True)
        n.rpc("gettxoutsetinfo")
        self.old_chain = {h: n.rpc("getblockhash", h) for h in range(0, rellib.RA_TIP + 1)}
        n.stop()
        self.ra_datadir = n.datadir
        self.seq = 0
        # reference answers from one uninterrupted sync
        node = self.node()
        s = self.signetd(node)
        s.start()
        s.wait_synced(rellib.RA_TIP, timeout=300)
        self.answers = rellib.http_answers(s.port, PATHS)
        s.stop()
        assert rellib.stored_dump(s.datadir) == self.ref_dump(rellib.RA_TIP)
        node.stop()

    def tmp(self, name):
        self.seq += 1
        p = os.path.join(self.root, f"{self.seq:03d}-{name}")
        os.makedirs(p)
        return p

    def node(self, name="node", **kw):
        dst = os.path.join(self.tmp(name), "node")
        shutil.copytree(self.ra_datadir, dst, ignore=shutil.ignore_patterns(".cookie", "*.pid"))
        n = BitcoinNode(dst, **kw).start()
        assert n.rpc("getbestblockhash") == rellib.RA_TIP_HASH
        wait_until(lambda: "w" in n.rpc("listwallets"), timeout=30, what="wallet")
        return n

    def signetd(self, node, config=None, env=None, name="sd"):
        cfg = {"health_max_tip_age": 0}
        cfg.update(config or {})
        return Signetd(os.path.join(self.tmp(name), "sd"), node=node, config=cfg, env=env)

    def answers_at(self, tip, paths):
        """The answers of a signetd serving a fresh index of blocks 1..tip
        (no node: it serves what the index holds)."""
        self.ref_dump(tip)
        s = Signetd(os.path.join(self.tmp(f"srv{tip}"), "sd"), node=None,
                    config={"rpc_endpoint": "http://127.0.0.1:9", "rpc_user": "u",
                            "rpc_pass": "p"})
        shutil.copytree(os.path.join(self.ref_dirs[tip], "index"),
                        os.path.join(s.datadir, "index"))
        s.start()
        try:
            assert s.indexed_height() == tip
            return rellib.http_answers(s.port, paths)
        finally:
            s.stop()

    def ref_dump(self, tip):
        if tip not in self.ref_dumps:
            self.ref_dirs[tip] = self.tmp(f"ref{tip}")
            self.ref_dumps[tip] = rellib.index_dump(self.ref_dirs[tip], stop_after=tip)
            assert self.ref_dumps[tip].startswith(f"tip {tip} "), self.ref_dumps[tip][:80]
        return self.ref_dumps[tip]

    def answers_equal(self, s, lo=1, hi=rellib.RA_TIP):
        paths = rellib.route_paths(lo, hi)
        got = rellib.http_answers(s.port, paths)
        bad = [p for p in paths if got[p] != self.answers[p]]
        return len(paths), bad

    def close(self):
        if not self.args.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def sanitizer_report(s):
    t = s.log_text()
    for needle in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
        if needle in t:
            return needle
    return None


def check_final(env, s, what):
    """s synced to regtest-a's tip: all answers and the stopped dump equal
    the fresh sync's.  Stops s."""
    n, bad = env.answers_equal(s)
    s.stop()
    dump = rellib.stored_dump(s.datadir)
    same = dump == env.ref_dump(rellib.RA_TIP)
    san = sanitizer_report(s)
    return {"answers_checked": n, "answers_differing": len(bad), "first_bad": bad[:3],
            "dump_identical": same,
            "dump_diff": None if same else rellib.dump_diff(dump, env.ref_dump(rellib.RA_TIP)),
            "sanitizer": san, "ok": not bad and same and not san, "what": what}


# ---------------------------------------------------------------- faults

def sec_faults(env, a):
    """One signetd behind the proxy, synced.  For each fault: the node mines
    a block, the fault lasts W seconds (drop: longer than the 30 s RPC
    timeout), reads are probed throughout, then the connection is clean
    again and we time how long until the index has the new block."""
    node = env.node()
    px = rellib.FaultProxy(node.rpc_port, delay_s=a.delay_s)
    s = env.signetd(node, {"rpc_endpoint": px.url})
    s.start()
    s.wait_synced(rellib.RA_TIP, timeout=300)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    rows = []
    try:
        for mode in ("drop", "delay", "truncate", "reset", "500"):
            window = a.drop_s if mode == "drop" else a.fault_s
            h0 = s.indexed_height()
            px.set_mode(mode)
            n0 = px.accepted[mode]
            (bh,) = node.rpc("generatetoaddress", 1, addr)
            t0 = time.time()
            probes, probe_err, probe_max = 0, 0, 0.0
            indexed_during = None
            while time.time() - t0 < window:
                t = time.time()
                try:
                    st, _, body = s.get("/block-height", timeout=5)
                    if st != 200:
                        probe_err += 1
                except OSError:
                    probe_err += 1
                probe_max = max(probe_max, time.time() - t)
                probes += 1
                if indexed_during is None and s.indexed_height() > h0:
                    indexed_during = round(time.time() - t0, 2)
                time.sleep(0.2)
            px.set_mode("pass")
            t1 = time.time()
            wait_until(lambda: s.get_json(f"/block-hash/{h0 + 1}")["block_hash"] == bh,
                       timeout=120, interval=0.02, what=f"block after {mode}")
            rows.append({"fault": mode, "seconds": window, "connections_hit": px.accepted[mode] - n0,
                         "read_probes": probes, "read_errors": probe_err,
                         "read_max_ms": round(probe_max * 1000, 1),
                         "indexed_during_fault_s": indexed_during,
                         "resume_after_fault_s": round(time.time() - t1, 2)})
            log("fault", rows[-1])
        text = s.log_text()
        ev = {k: text.count(f"msg={k}") for k in ("rpc_error", "rpc_ok", "node_unreachable",
                                                  "node_reachable")}
        n, bad = env.answers_equal(s)
        tip_ok = s.get_json(f"/block-hash/{node.height()}")["block_hash"] == \
            node.rpc("getbestblockhash")
        s.stop()
        return {"rows": rows, "log_events": ev, "answers_checked": n,
                "answers_differing": len(bad), "tip_matches_node": tip_ok,
                "sanitizer": sanitizer_report(s),
                "ok": not bad and tip_ok and all(r["read_errors"] == 0 and
                                                r["connections_hit"] > 0 for r in rows)}
    finally:
        px.close()
        s.stop()
        node.stop()


# ---------------------------------------------------------------- ZMQ

def sec_zmq(env, a):
    """Node restarts lose the ZMQ stream (sequence numbers restart, messages
    published while the subscriber reconnects are gone).  After each
    restart a block is mined: how long until it is indexed (the tip poll
    is 15 s, so < 1 s means ZMQ came back)."""
    node = env.node()
    s = env.signetd(node)
    s.start()
    s.wait_synced(rellib.RA_TIP)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    lat = []
    try:
        for i in range(a.zmq_restarts):
            conn = s.log_text().count("msg=zmq_connected topic=hashblock")
            if i % 2:
                node.kill()  # no clean shutdown either
                node.proc = None
                node.start()
            else:
                node.restart()
            wait_until(lambda: s.log_text().count("msg=zmq_connected topic=hashblock") > conn,
                       timeout=60, what="ZMQ reconnect")
            time.sleep(0.5)
            t0 = time.time()
            (bh,) = node.rpc("generatetoaddress", 1, addr)
            h = node.height()
            wait_until(lambda: s.indexed_height() == h and
                       s.get_json(f"/block-hash/{h}")["block_hash"] == bh,
                       timeout=60, interval=0.01, what="block after restart")
            lat.append(time.time() - t0)
        text = s.log_text()
        gaps = text.count("msg=zmq_gap")
        s.stop()
        return {"restarts": a.zmq_restarts, "latency_ms_max": round(max(lat) * 1000, 1),
                "latency_ms_median": round(rellib.percentile(lat, 50) * 1000, 1),
                "zmq_gaps_logged": gaps, "sanitizer": sanitizer_report(s),
                "ok": max(lat) < 2.0 and gaps >= 1}
    finally:
        s.stop()
        node.stop()


# ---------------------------------------------------------------- node killed

def sec_nodekill(env, a):
    rng = random.Random(a.seed + 7)
    runs = []
    for i in range(a.node_kills):
        node = env.node()
        px = rellib.FaultProxy(node.rpc_port, delay_s=0.002)  # slow the sync a little
        px.set_mode("delay")
        s = env.signetd(node, {"rpc_endpoint": px.url})
        try:
            tail = None
            s.start(wait_http=False)
            wait_until(lambda: os.path.exists(s.log_path), what="log")
            tail = rellib.LogTail(s.log_path, from_start=True)
            target = rng.randint(20, 380)
            ln = tail.wait_for(f"msg=block_connected height={target} ", timeout=120)
            tail.close()
            assert ln, s.log_text()[-2000:]
            node.kill()
            at = s.indexed_height()
            time.sleep(a.node_down_s)
            node.start()
            t0 = time.time()
            px.set_mode("pass")
            s.wait_synced(rellib.RA_TIP, timeout=180)
            rec = time.time() - t0
            r = check_final(env, s, f"node kill {i}")
            r.update({"killed_at_index_height": at, "resync_after_node_start_s": round(rec, 2),
                      "unreachable_logged": s.log_text().count("mod=rpc msg=node_unreachable")})
            runs.append(r)
            log("nodekill", {k: r[k] for k in ("killed_at_index_height", "ok",
                                                 "resync_after_node_start_s")})
        finally:
            px.close()
            s.stop()
            node.stop()
    return {"runs": len(runs), "all_equal_fresh": all(r["ok"] for r in runs),
            "killed_at": [r["killed_at_index_height"] for r in runs],
            "resync_s_max": max(r["resync_after_node_start_s"] for r in runs),
            "details": runs, "ok": all(r["ok"] and r["unreachable_logged"] == 1 for r in runs)}


# ---------------------------------------------------------------- signetd kill -9

def stored_head(datadir):
    r = subprocess.run([rellib.tool("oracle_index"), "--datadir", datadir, "--no-index", "--tip"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr
    _, h, hsh = r.stdout.decode().split()
    return int(h), hsh


def prefix_check(env, datadir):
    """After a kill: the index at its tip T is exactly a fresh index of
    blocks 1..T (when T is on regtest-a's chain)."""
    tip, hsh = stored_head(datadir)
    if env.old_chain.get(tip) != hsh:
        return tip, None  # on the stale branch: checked after the next restart
    return tip, rellib.stored_dump(datadir) == env.ref_dump(tip)


def sec_kill_sync(env, a):
    rng = random.Random(a.seed)
    node = env.node()
    s = env.signetd(node)
    kills = []
    try:
        tip = 0
        k = a.kills
        for i in range(k):
            if tip >= rellib.RA_TIP - 1:
                break  # the last kills overshot: nothing left to interrupt
            # spread the remaining kills over the remaining blocks
            span = max(1, (rellib.RA_TIP - 1 - tip) // (k - i))
            target = tip + rng.randint(1, span)
            tail = rellib.LogTail(s.log_path) if os.path.exists(s.log_path) else None
            s.start(wait_http=False)
            if tail is None:
                wait_until(lambda: os.path.exists(s.log_path), what="log")
                tail = rellib.LogTail(s.log_path, from_start=True)
            ln = tail.wait_for(f"msg=block_connected height={target} ", timeout=120, proc=s.proc)
            tail.close()
            time.sleep(rng.uniform(0.0, a.kill_jitter_s))
            s.proc.kill()
            s.proc.wait()
            s.proc = None
            tip, same = prefix_check(env, s.datadir)
            kills.append({"block": target, "tip": tip, "found": ln is not None,
                          "prefix_identical": same})
            if not same:
                log("kill_sync MISMATCH", kills[-1])
        log("kill_sync", len(kills), "kills; tips", [x["tip"] for x in kills])
        s.start()
        s.wait_synced(rellib.RA_TIP, timeout=300)
        fin = check_final(env, s, "after kills during sync")
        return {"kills": len(kills), "landed_mid_sync": sum(x["found"] and x["tip"] < rellib.RA_TIP
                                                            for x in kills),
                "prefix_identical": sum(bool(x["prefix_identical"]) for x in kills),
                "tips": [x["tip"] for x in kills], "final": fin,
                "ok": fin["ok"] and all(x["prefix_identical"] for x in kills)}
    finally:
        s.stop()
        node.stop()


def sec_kill_reorg(env, a):
    """Ping-pong at height 301 (100 deep): invalidate 301 (the node moves to
    a one-block branch 301'), reconsider 301 (back to 400).  One kill in
    each disconnect run and one in each reconnect run."""
    rng = random.Random(a.seed + 1)
    node = env.node()
    s = env.signetd(node)
    s.start()
    s.wait_synced(rellib.RA_TIP)
    h301 = env.old_chain[301]
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    kills = []

    def settle():
        want_h = node.height()
        want = node.rpc("getbestblockhash")
        wait_until(lambda: s.indexed_height() == want_h and
                   s.get_json(f"/block-hash/{want_h}")["block_hash"] == want,
                   timeout=120, interval=0.02, what="index at node tip")

    try:
        first = True
        while len(kills) < a.kills:
            for phase in ("disconnect", "connect"):
                if len(kills) >= a.kills:
                    break
                target = rng.randint(310, 395)
                tail = rellib.LogTail(s.log_path)
                if phase == "disconnect":
                    node.rpc("invalidateblock", h301)
                    if first:
                        node.rpc("generatetoaddress", 1, addr)
                        first = False
                    needle = f"msg=block_disconnected height={target} "
                else:
                    node.rpc("reconsiderblock", h301)
                    needle = f"msg=block_connected height={target} "
                ln = rellib.kill9_at(s, needle, rng, max_extra_s=a.kill_jitter_s, tail=tail)
                tip, same = prefix_check(env, s.datadir)
                kills.append({"phase": phase, "block": target, "tip": tip,
                              "found": ln is not None, "prefix_identical": same})
                if same is False:
                    log("kill_reorg MISMATCH", kills[-1])
                s.start()
                settle()
        log("kill_reorg", len(kills), "kills; tips", [x["tip"] for x in kills])
        if node.rpc("getbestblockhash") != rellib.RA_TIP_HASH:
            node.rpc("reconsiderblock", h301)
            settle()
        fin = check_final(env, s, "after kills during reorgs")
        checked = [x for x in kills if x["prefix_identical"] is not None]
        return {"kills": len(kills),
                "mid_reorg": sum(x["found"] and 300 <= x["tip"] < rellib.RA_TIP for x in kills),
                "prefix_checked": len(checked),
                "prefix_identical": sum(bool(x["prefix_identical"]) for x in checked),
                "on_stale_branch": len(kills) - len(checked),
                "final": fin, "reorgs_logged": s.log_text().count("msg=reorg "),
                "ok": fin["ok"] and all(x["prefix_identical"] for x in checked)}
    finally:
        s.stop()
        node.stop()


# ---------------------------------------------------------------- disk full

def sec_diskfull(env, a):
    node = env.node()
    s = env.signetd(node)
    idx = os.path.join(s.datadir, "index")
    os.makedirs(idx)
    method = "tmpfs"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={a.tmpfs_kb}k", "tmpfs", idx],
                       capture_output=True, text=True)
    if r.returncode != 0:
        node.stop()
        return {"ok": False, "method": "none", "error": f"mount not permitted: {r.stderr}"}
    try:
        s.start()
        s.wait_for_log("msg=db_disk_full", timeout=120)
        time.sleep(2.0)  # let the retries run against the full disk
        at = s.indexed_height()
        st = s.get_json("/status")
        # reads keep working: every answer up to the indexed height, as a
        # fresh index of 1..at answers them (/tweaks cut-through and /utxos
        # spent flags depend on the tip)
        paths = rellib.route_paths(1, at)
        got = rellib.http_answers(s.port, paths)
        want = env.answers_at(at, paths)
        n, bad = len(paths), [p for p in paths if got[p] != want[p]]
        h_code = s.get("/health")[0]
        t0 = time.time()
        r2 = subprocess.run(["mount", "-o", f"remount,size={a.tmpfs_big_kb}k", idx],
                            capture_output=True, text=True)
        assert r2.returncode == 0, r2.stderr
        s.wait_synced(rellib.RA_TIP, timeout=180)
        resume = time.time() - t0
        st2 = s.get_json("/status")
        line = [ln for ln in s.log_text().splitlines() if "msg=db_disk_full" in ln][0]
        fin = check_final(env, s, "after disk full")
        return {"method": f"tmpfs of {a.tmpfs_kb} KiB on <datadir>/index, then remount "
                          f"{a.tmpfs_big_kb} KiB", "full_at_height": at,
                "log_line": re.sub(r"^ts=\S+ ", "", line),
                "status_disk_full": st["index"].get("disk_full"), "health_code_when_full": h_code,
                "reads_checked": n, "reads_differing": len(bad),
                "disk_full_after": st2["index"].get("disk_full"),
                "resumed_to_tip_s": round(resume, 2), "final": fin,
                "ok": fin["ok"] and not bad and st["index"].get("disk_full") is True and
                st2["index"].get("disk_full") is False and at < rellib.RA_TIP}
    finally:
        s.stop()
        node.stop()
        subprocess.run(["umount", "-l", idx], capture_output=True)


# ---------------------------------------------------------------- reorgs under load

def sec_reorgs(env, a):
    """Depth d: invalidate block 401-d and mine one block (the index drops
    d blocks of regtest-a's real data and connects a one-block branch),
    then reconsider it (back to 400).  Clients query all along: heights
    below the fork must answer exactly as the fresh sync; heights at or
    above it may answer the new branch or "not indexed" (500 inv) for a
    moment, nothing else.  After every reorg settles the whole index
    answers as the fresh sync."""
    node = env.node()
    s = env.signetd(node)
    s.start()
    s.wait_synced(rellib.RA_TIP)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    out = []
    try:
        for d in a.reorg_depths:
            fork = rellib.RA_TIP + 1 - d
            hf = env.old_chain[fork]
            # /tweaks (cut-through) and /utxos (spent flags) at any height
            # depend on the tip: they move with the reorg too
            stable = {p: v for p, v in env.answers.items()
                      if height_of(p) < fork and not tip_dependent(p)}
            moving = [p for p in env.answers if p not in stable]
            load = ReorgLoad(s, stable, moving, clients=a.reorg_clients)
            load.start()
            settle_s = []
            first = True
            for _ in range(a.reorg_rounds):
                for phase in ("invalidate", "reconsider"):
                    t0 = time.time()
                    if phase == "invalidate":
                        node.rpc("invalidateblock", hf)
                        if first:
                            node.rpc("generatetoaddress", 1, addr)
                            first = False
                    else:
                        node.rpc("reconsiderblock", hf)
                    want_h = node.height()
                    want = node.rpc("getbestblockhash")
                    wait_until(lambda: s.indexed_height() == want_h and
                               s.get_json(f"/block-hash/{want_h}")["block_hash"] == want,
                               timeout=120, interval=0.01, what=f"reorg depth {d}")
                    settle_s.append(time.time() - t0)
                    time.sleep(0.3)
            load.stop()
            assert node.rpc("getbestblockhash") == rellib.RA_TIP_HASH
            n, bad = env.answers_equal(s)
            row = {"depth": d, "reorgs": 2 * a.reorg_rounds, "client_requests": load.n,
                   "client_errors": len(load.errors), "first_errors": load.errors[:3],
                   "answers_not_indexed_500": load.inv, "answers_new_branch": load.other,
                   "settle_ms_median": round(rellib.percentile(settle_s, 50) * 1000, 1),
                   "settle_ms_max": round(max(settle_s) * 1000, 1),
                   "after_settle_differing": len(bad)}
            out.append(row)
            log("reorg", row)
        fin = check_final(env, s, "after reorg ping-pong")
        return {"rows": out, "final": fin,
                "ok": fin["ok"] and all(r["client_errors"] == 0 and r["after_settle_differing"] == 0
                                        for r in out)}
    finally:
        s.stop()
        node.stop()


def tip_dependent(p):
    return p.startswith(("/tweaks/", "/utxos/", "/blindbit/tweaks/"))


def height_of(p):
    return int(p.split("?")[0].rstrip("/").rsplit("/", 1)[1])


class ReorgLoad:
    def __init__(self, s, stable, moving, clients):
        self.s, self.stable, self.moving, self.clients = s, stable, moving, clients
        self.stable_paths = sorted(stable)
        self.errors, self.n, self.inv, self.other = [], 0, 0, 0
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def _run(self, k):
        rnd = random.Random(k)
        c = rellib.Client(self.s.port)
        n = inv = other = 0
        while not self.halt.is_set():
            try:
                if rnd.random() < 0.5:
                    p = rnd.choice(self.stable_paths)
                    st, _, body = c.get(p)
                    if (st, body) != self.stable[p]:
                        self.errors.append(f"{p}: {st} {body[:80]!r}")
                else:
                    p = rnd.choice(self.moving)
                    st, _, body = c.get(p)
                    if (st, body) == INV:
                        inv += 1
                    elif st == 200:
                        json.loads(body)
                        other += 1
                    else:
                        self.errors.append(f"{p}: {st} {body[:80]!r}")
                n += 1
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
                c.close()
        c.close()
        with self.lock:
            self.n += n
            self.inv += inv
            self.other += other

    def start(self):
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True)
                        for k in range(self.clients)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=60)


# ---------------------------------------------------------------- load

def metrics_buckets(s):
    out = {}
    for ln in s.get("/metrics")[2].decode().splitlines():
        if ln.startswith("signetd_http_request_duration_seconds_bucket{"):
            labels, val = ln.rsplit(" ", 1)
            le = re.search(r'le="([^"]+)"', labels).group(1)
            route = re.search(r'route="([^"]+)"', labels).group(1)
            out[(route, le)] = float(val)
    return out


def bucket_quantile(before, after, q):
    agg = {}
    for (route, le), v in after.items():
        agg[le] = agg.get(le, 0.0) + v - before.get((route, le), 0.0)
    if not agg:
        return None
    total = agg.get("+Inf", 0.0)
    for le in sorted(agg, key=lambda x: float("inf") if x == "+Inf" else float(x)):
        if agg[le] >= q * total:
            return le
    return "+Inf"


def run_load(env, a, signetd_bin=None, clients=None, duration=None, reorg_every=0,
             name="load"):
    node = env.node()
    envv = {}
    if signetd_bin:
        envv["SIGNETD_BIN"] = signetd_bin
    old_bin = os.environ.get("SIGNETD_BIN")
    if signetd_bin:
        os.environ["SIGNETD_BIN"] = signetd_bin
    s = env.signetd(node, env=envv or None, name=name)
    try:
        s.start()
        s.wait_synced(rellib.RA_TIP, timeout=300)
        addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
        tip = {"h": s.indexed_height(), "safe": s.indexed_height(), "reorgs": 0}

        def tick(t):
            sec = int(t)
            if sec % a.block_every_s == 0:
                node.rpc("generatetoaddress", 1, addr)
            if reorg_every and sec and sec % reorg_every == 0:
                # a 2-deep reorg on top: invalidate tip-1, mine 3
                h = node.height()
                node.rpc("invalidateblock", node.rpc("getblockhash", h - 1))
                node.rpc("generatetoaddress", 3, addr)
                tip["reorgs"] += 1
            tip["h"] = s.indexed_height()
            # /block-hash of new blocks: below both tips, clear of reorgs
            tip["safe"] = min(tip["h"], node.height()) - 3

        before = metrics_buckets(s)
        load = rellib.Load(s, env.answers, clients=clients or a.clients,
                           duration=duration or a.load_s, seed=a.seed,
                           tip_fn=lambda: tip["safe"], on_tick=tick).run()
        after = metrics_buckets(s)
        summ = load.summary()
        summ["server_p50_le_s"] = bucket_quantile(before, after, 0.50)
        summ["server_p99_le_s"] = bucket_quantile(before, after, 0.99)
        summ["blocks_mined"] = node.height() - rellib.RA_TIP
        summ["reorgs"] = tip["reorgs"]
        summ["hung_clients"] = load.hung
        summ["tick_errors"] = load.tick_errors[:3]
        summ["first_errors"] = load.errors[:5]
        kinds = {}
        for e in load.errors:
            k = e.split(":", 1)[0]
            kinds[k] = kinds.get(k, 0) + 1
        summ["error_kinds"] = kinds
        rss = load.rss
        summ["rss_series_kb"] = [kb for _, kb in rss[::max(1, len(rss) // 60)]]
        summ["rss_max_kb"] = max(kb for _, kb in rss)
        half = [kb for t, kb in rss if t >= load.elapsed / 2]
        summ["rss_second_half_min_kb"] = min(half)
        summ["rss_second_half_max_kb"] = max(half)
        wait_until(lambda: s.indexed_height() == node.height(), timeout=60, what="caught up")
        m = s.get("/metrics")[2].decode()
        summ["cache_bytes_end"] = int(re.search(r"\nsignetd_http_cache_bytes (\d+)", m).group(1))
        s.stop()
        summ["sanitizer"] = sanitizer_report(s)
        summ["exit_log_tail"] = s.log_text()[-300:] if summ["sanitizer"] else None
        summ["ok"] = (not load.errors and not load.hung and not load.tick_errors and
                      not summ["sanitizer"])
        return summ
    finally:
        s.stop()
        node.stop()
        if signetd_bin:
            if old_bin is None:
                os.environ.pop("SIGNETD_BIN", None)
            else:
                os.environ["SIGNETD_BIN"] = old_bin


def sec_load(env, a):
    r = run_load(env, a)
    log("load", {k: v for k, v in r.items() if k != "rss_series_kb"})
    return r


def sec_lsan(env, a):
    if not a.asan_bin or not os.path.exists(a.asan_bin):
        return {"ok": False, "error": f"no ASan signetd at {a.asan_bin}"}
    r = run_load(env, a, signetd_bin=a.asan_bin, clients=a.lsan_clients,
                 duration=a.lsan_s, reorg_every=10, name="lsan")
    r["binary"] = os.path.join(os.path.basename(os.path.dirname(a.asan_bin)), "signetd")
    log("lsan", {k: v for k, v in r.items() if k != "rss_series_kb"})
    return r


# ---------------------------------------------------------------- limits

def raw(port, data, timeout=10, read=True):
    sk = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sk.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = b""
        try:
            while read and b"\r\n" not in got:
                c = sk.recv(4096)
                if not c:
                    break
                got += c
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        sk.close()
    return int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.") else None


def sec_limits(env, a):
    """Measured limits of the HTTP server."""
    s = env.signetd(None, {"http_max_connections": 32, "rpc_endpoint": "http://127.0.0.1:9",
                           "rpc_user": "u", "rpc_pass": "p"})
    env.ref_dump(rellib.RA_TIP)  # serve a full index (no node needed)
    shutil.copytree(os.path.join(env.ref_dirs[rellib.RA_TIP], "index"),
                    os.path.join(s.datadir, "index"))
    s.start()
    port = s.port
    out = {}
    try:
        # request target length
        tl = {}
        for n in (1000, 2000, 2100, 8000, 60000, 100000):
            tl[n] = raw(port, f"GET /tweaks/{'1' * n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out["target_length_status"] = tl
        hs = {}
        for n in (1000, 16000, 32000, 60000, 70000, 200000):
            hs[n] = raw(port, f"GET /info HTTP/1.1\r\nHost: x\r\nX-A: {'a' * n}\r\n\r\n".encode())
        out["header_size_status"] = hs
        hn = {}
        for n in (100, 1000, 5000):
            hn[n] = raw(port, ("GET /info HTTP/1.1\r\nHost: x\r\n" +
                               "".join(f"X-{i}: v\r\n" for i in range(n)) + "\r\n").encode())
        out["header_count_status"] = hn
        bs = {}
        for n in (1 << 20, (1 << 20) + 1, 50 << 20):
            bs[n] = raw(port, (f"POST /forward-tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
                               f"application/json\r\nContent-Length: {n}\r\n\r\n").encode() +
                        b"{" * min(n, (1 << 20) + 1))
        out["post_body_status"] = bs
        fx = {}
        for n in (400000, 400002):
            st, _, body = s.request("POST", "/forward-tx", body=f'{{"data":"{"0" * n}"}}',
                                    headers={"Content-Type": "application/json"})
            fx[n] = [st, body.decode()[:60]]
        out["forward_tx_hex_len"] = fx
        # idle and trickling clients
        sk = socket.create_connection(("127.0.0.1", port), timeout=60)
        sk.sendall(b"GET /info HTTP/1.1\r\n")
        t0 = time.time()
        try:
            sk.recv(10)
        except (ConnectionResetError, socket.timeout):
            pass
        out["idle_client_closed_after_s"] = round(time.time() - t0, 1)
        sk.close()
        sk = socket.create_connection(("127.0.0.1", port), timeout=5)
        sk.sendall(b"GET /info HTTP/1.1\r\n")
        t0 = time.time()
        sent = 0
        alive = True
        while time.time() - t0 < a.trickle_s:
            try:
                sk.sendall(b"X")  # one header byte every 10 s
                sent += 1
            except OSError:
                alive = False
                break
            time.sleep(10)
        out["trickle_client"] = {"seconds": round(time.time() - t0), "bytes": sent,
                                 "still_connected": alive}
        sk.close()
        # connection limit
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(32)]
        time.sleep(0.3)
        try:
            st = s.get("/block-height", timeout=3)[0]
        except Exception:  # noqa: BLE001
            st = None
        for h in held:
            h.close()
        t0 = time.time()
        wait_until(lambda: s.get("/block-height", timeout=3)[0] == 200, timeout=30)
        out["connection_limit"] = {"limit": 32, "status_of_33rd": st,
                                   "served_again_after_s": round(time.time() - t0, 2)}
        out["listening_on"] = listening(port)
        try:
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
            out["reachable_on_127.0.0.2"] = True
        except OSError:
            out["reachable_on_127.0.0.2"] = False
    finally:
        s.stop()
    df = open(os.path.join(rellib.REPO, "contrib", "Dockerfile")).read()
    users = re.findall(r"^USER\s+(\S+)", df, re.M)
    out["dockerfile_user"] = users[-1] if users else None
    out["ok"] = (out["dockerfile_user"] not in (None, "root", "0") and
                 out["listening_on"] == ["127.0.0.1"] and not out["reachable_on_127.0.0.2"] and
                 out["connection_limit"]["status_of_33rd"] is None)
    log("limits", out)
    return out


def listening(port):
    res = []
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        for r in open(fn).read().splitlines()[1:]:
            p = r.split()
            addr, pt = p[1].split(":")
            if int(pt, 16) == port and p[3] == "0A":
                if len(addr) == 8:
                    res.append(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    res.append(addr)
    return res


# ---------------------------------------------------------------- fuzz

def sec_fuzz(env, a):
    bd = a.fuzz_build
    if not os.path.exists(os.path.join(bd, "CMakeCache.txt")):
        r = subprocess.run(["cmake", "-S", rellib.REPO, "-B", bd, "-DSIGNETD_FUZZ=ON",
                            "-DSIGNETD_INTEGRATION_TESTS=OFF", "-DCMAKE_C_COMPILER=clang",
                            "-DSIGNETD_SANITIZE=address,undefined",
                            "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], capture_output=True, text=True)
        if r.returncode:
            return {"ok": False, "error": r.stderr[-2000:]}
    r = subprocess.run(["cmake", "--build", bd, "-j2"], capture_output=True, text=True)
    if r.returncode:
        return {"ok": False, "error": (r.stdout + r.stderr)[-2000:]}
    rows = []
    for src in sorted(glob.glob(os.path.join(rellib.REPO, "tests", "fuzz", "fuzz_*.c"))):
        name = os.path.basename(src)[5:-2]
        binp = os.path.join(bd, f"fuzz_{name}")
        if not os.path.exists(binp):
            binp = os.path.join(bd, "tests", "fuzz", f"fuzz_{name}")
        corpus = os.path.join(env.tmp(f"fuzz-{name}"), "corpus")
        shutil.copytree(os.path.join(rellib.REPO, "tests", "fuzz", "corpora", name), corpus)
        seeds = len(os.listdir(corpus))
        art = os.path.dirname(corpus) + "/"
        t0 = time.time()
        p = subprocess.run([binp, f"-max_total_time={a.fuzz_s}", "-print_final_stats=1",
                            f"-artifact_prefix={art}", "-rss_limit_mb=2048", corpus],
                           capture_output=True, text=True, timeout=a.fuzz_s + 600)
        err = p.stderr
        execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", err)
        cov = re.findall(r"cov: (\d+)", err)
        crashes = [f for f in os.listdir(art) if f.startswith(("crash-", "leak-", "timeout-", "oom-"))]
        rows.append({"target": name, "seconds": round(time.time() - t0), "execs":
                     int(execs.group(1)) if execs else None,
                     "coverage": int(cov[-1]) if cov else None, "seed_inputs": seeds,
                     "corpus_after": len(os.listdir(corpus)), "exit": p.returncode,
                     "findings": crashes,
                     "finding_text": re.findall(r"==\d+==ERROR: .*|SUMMARY: .*", err)[:3]})
        log("fuzz", rows[-1])
    return {"rows": rows, "total_execs": sum(r["execs"] or 0 for r in rows),
            "findings": sum(len(r["findings"]) for r in rows),
            "ok": all(r["exit"] == 0 and not r["findings"] for r in rows)}


# ---------------------------------------------------------------- report

def save_section(path, name, r):
    """Merge one section into the results file under a lock (several runs
    with different --only may share the file)."""
    import fcntl
    with open(path + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        res = json.load(open(path)) if os.path.exists(path) else {}
        res.setdefault("sections", {})
        if name:
            res["sections"][name] = r
        res["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "signetd": os.path.basename(os.path.dirname(os.environ.get("SIGNETD_BIN") or "build/x")) + "/signetd"}
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1, default=str)
        os.replace(tmp, path)
    try:
        os.unlink(path + ".lock")
    except OSError:
        pass
    return res


SECTIONS = ["faults", "zmq", "nodekill", "kill_sync", "kill_reorg", "diskfull", "reorgs",
            "load", "lsan", "limits", "fuzz"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="the documented counts and durations")
    ap.add_argument("--only", default="", help="comma-separated sections")
    ap.add_argument("--results", help="default docs/reliability.json (--full) or "
                    "$SIGNETD_BUILD_DIR/reliability-quick.json")
    ap.add_argument("--doc", help="default docs/reliability.md (--full) or "
                    "$SIGNETD_BUILD_DIR/reliability-quick.md")
    ap.add_argument("--asan-bin", default=os.environ.get("SIGNETD_ASAN_BIN", ""))
    ap.add_argument("--fuzz-build", default=os.environ.get("SIGNETD_FUZZ_BUILD",
                                                           os.path.join(rellib.REPO, "build-fuzz")))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--clients", type=int)
    ap.add_argument("--load-s", type=float)
    ap.add_argument("--kills", type=int)
    ap.add_argument("--fuzz-s", type=int)
    a = ap.parse_args()
    full = a.full
    if full:
        a.results = a.results or os.path.join(rellib.REPO, "docs", "reliability.json")
        a.doc = a.doc or os.path.join(rellib.REPO, "docs", "reliability.md")
    else:
        a.results = a.results or os.path.join(rellib.build_dir(), "reliability-quick.json")
        a.doc = a.doc or os.path.join(rellib.build_dir(), "reliability-quick.md")
    d = dict(kills=50 if full else 5, kill_jitter_s=0.003, fault_s=10 if full else 3,
             drop_s=40 if full else 4, delay_s=0.05, zmq_restarts=10 if full else 2,
             node_kills=5 if full else 1, node_down_s=3 if full else 1,
             tmpfs_kb=1024, tmpfs_big_kb=65536, reorg_depths=(1, 6, 100),
             reorg_rounds=5 if full else 1, reorg_clients=16,
             clients=256 if full else 64, load_s=600 if full else 20, block_every_s=5,
             lsan_clients=64, lsan_s=120 if full else 15, trickle_s=70 if full else 12,
             fuzz_s=60 if full else 5)
    for k in ("clients", "load_s", "kills", "fuzz_s"):
        if getattr(a, k) is not None:
            d[k] = getattr(a, k)
    for k, v in d.items():
        setattr(a, k, v)
    only = [x for x in a.only.split(",") if x] or SECTIONS
    for x in only:
        assert x in SECTIONS, x
    results = save_section(a.results, None, None)
    t_start = time.time()
    env = Env(a)
    try:
        for name in only:
            log("==", name)
            t0 = time.time()
            try:
                r = globals()["sec_" + name](env, a)
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                import traceback
                traceback.print_exc()
                r = {"ok": False, "error": repr(e)[:500]}
            r["seconds"] = round(time.time() - t0, 1)
            r["mode"] = "full" if full else "quick"
            r["seed"] = a.seed
            r["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            log("==", name, "ok" if r.get("ok") else "FAILED", f"{r['seconds']} s")
            results = save_section(a.results, name, r)
    finally:
        env.close()
    import render
    # hand-written sections after render.HAND_MARK survive a regeneration
    kept = ""
    if os.path.exists(a.doc):
        old = open(a.doc).read()
        i = old.find(render.HAND_MARK)
        kept = old[i:] if i >= 0 else ""
    with open(a.doc, "w") as f:
        f.write(render.render(results) + ("\n" + kept if kept else ""))
    log("wrote", a.doc, f"in {time.time() - t_start:.0f} s")
    bad = [k for k in only if not results["sections"][k].get("ok")]
    if bad:
        log("FAILED sections:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
