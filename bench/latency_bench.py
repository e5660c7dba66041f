#!/usr/bin/python3
"""latency_bench.py - tip latency of signetd on a live node: from the
node announcing a block (ZMQ hashblock, received by this script) to
signetd serving /block-height == that height.

It starts its own regtest bitcoind (ZMQ hashblock + rawtx, REST) in a temp
dir, makes UTXOs with gen_chain.py's fan-out, starts signetd (all four
index kinds) and syncs it, then for each of --blocks blocks:
  1. builds and signs --txs BIP352-eligible txs (before the clock starts),
  2. mode "direct":  mines them with generateblock (never in the mempool:
                     every tweak is computed when the block arrives);
     mode "mempool": sendrawtransaction first, waits until signetd has
                     seen them (ZMQ rawtx), then generatetoaddress 1,
  3. a thread receiving the node's ZMQ hashblock stamps t0 and polls
     signetd's /block-height (keep-alive, every 0.5 ms) until it answers
     the new height: t1.  latency = t1 - t0.
It also reads signetd's own `block_connected` log line (ms, compute_ms,
write_ms) for each block.  The first block is a warm-up, not counted.

With --flood RATE, a thread relays other BIP352-eligible txs (signed
before the clock starts, from their own UTXOs) to the node at RATE tx/s
during the whole measurement: signetd's mempool thread has to keep working
(ZMQ rawtx, prevout lookups, tweaks) while blocks arrive.  In mode direct
the measured blocks stay the same (generateblock with the block's own txs);
the flood txs pile up in the mempool, and signetd subscribes to rawtx
(--flood-no-rawtx: it does not, which measures what the flood costs the
node and the machine alone).  The flood's numbers (sent, signetd's
queued/processed/dropped) are printed with the results.

Usage: bench/latency_bench.py BUILD_DIR [--blocks 21] [--txs 1500]
                                         [--mode direct|mempool|both]
                                         [--flood RATE] [--flood-txs N]
                                         [--flood-no-rawtx]
env: BITCOIND (default .deps/bitcoin/bin/bitcoind, from contrib/get-bitcoind.sh), KEEP=1 keeps the dir.
Needs python3-zmq (Debian's /usr/bin/python3 has it).
"""
import argparse
import http.client
import json
import os
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_chain  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if pred():
                return
        except (OSError, RuntimeError, http.client.HTTPException, ValueError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"latency_bench: timeout waiting for {what}")


class Poller:
    """Keep-alive GET /block-height."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def height(self):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.conn.request("GET", "/block-height")
                r = self.conn.getresponse()
                body = r.read()
                if r.status != 200:
                    return -1
                return int(json.loads(body)["block_height"])
            except (OSError, http.client.HTTPException):
                self.conn = None
        return -1

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        return r.read().decode()


class Watcher(threading.Thread):
    """ZMQ hashblock -> t0; then poll signetd until it serves the height."""

    def __init__(self, endpoint, poller):
        super().__init__(daemon=True)
        self.ctx = zmq.Context()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"hashblock")
        self.sub.connect(endpoint)
        self.poller = poller
        self.expect = None       # height to wait for
        self.armed = threading.Event()
        self.done = threading.Event()
        self.result = None
        self.stop = False

    def run(self):
        while not self.stop:
            if not self.sub.poll(200):
                continue
            msg = self.sub.recv_multipart()
            t0 = time.monotonic()
            w0 = time.time()
            if not self.armed.is_set() or msg[0] != b"hashblock":
                continue
            h = self.expect
            n = 0
            while True:
                n += 1
                if self.poller.height() >= h:
                    break
                time.sleep(0.0005)
            t1 = time.monotonic()
            self.result = (msg[1].hex(), t0, w0, t1, n)
            self.armed.clear()
            self.done.set()


class Flood(threading.Thread):
    """Relay pre-signed txs to the node at `rate` tx/s until stopped or out
    of txs (its own RPC connection)."""

    def __init__(self, node, hexes, rate):
        super().__init__(daemon=True)
        self.node, self.hexes, self.rate = node, hexes, rate
        self.sent = 0
        self.errors = 0
        self.halt = threading.Event()

    def run(self):
        step = 0.05
        per = max(1, int(self.rate * step))
        t = time.monotonic()
        while not self.halt.is_set() and self.sent < len(self.hexes):
            part = self.hexes[self.sent:self.sent + per]
            try:
                self.node.batch([("sendrawtransaction", [h]) for h in part])
            except RuntimeError:
                self.errors += 1
            self.sent += len(part)
            t += step
            delay = t - time.monotonic()
            if delay > 0:
                self.halt.wait(delay)


def mempool_metrics(poller):
    out = {}
    try:
        text = poller.get("/metrics")
    except (OSError, http.client.HTTPException):
        return out
    for ln in text.splitlines():
        if ln.startswith("signetd_mempool_") and " " in ln:
            k, v = ln.rsplit(" ", 1)
            out[k] = float(v)
    return out


def start_node(d, bitcoind):
    ports = dict(rpc=free_port(), p2p=free_port(), hb=free_port(), tx=free_port())
    os.makedirs(d)
    args = [bitcoind, f"-datadir={d}", "-regtest", "-server=1", "-listen=0",
            "-dnsseed=0", "-fixedseeds=0", "-discover=0", "-upnp=0", "-natpmp=0",
            "-txindex=0", "-fallbackfee=0.0001", "-printtoconsole=0",
            "-blockmaxweight=4000000", "-maxmempool=2000", "-maxconnections=0",
            "-rpcthreads=8", "-rpcworkqueue=64", "-rest=1",
            f"-rpcbind=127.0.0.1:{ports['rpc']}", "-rpcallowip=127.0.0.1",
            f"-port={ports['p2p']}",
            f"-zmqpubhashblock=tcp://127.0.0.1:{ports['hb']}",
            f"-zmqpubrawtx=tcp://127.0.0.1:{ports['tx']}"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return proc, ports


def start_signetd(build, d, node_dir, ports, rawtx):
    hport = free_port()
    os.makedirs(d)
    cfg = {
        "host": f"127.0.0.1:{hport}", "chain": "regtest",
        "rpc_endpoint": f"http://127.0.0.1:{ports['rpc']}",
        "cookie_path": os.path.join(node_dir, "regtest", ".cookie"),
        "sync_start_height": 1, "max_parallel_requests": 4,
        "max_parallel_tweak_computations": os.cpu_count(),
        "tweaks_only": 0, "tweaks_full_basic": 1,
        "tweaks_full_with_dust_filter": 1,
        "tweaks_cut_through_with_dust_filter": 1,
        "zmq_hashblock": f"tcp://127.0.0.1:{ports['hb']}",
        "zmq_rawtx": f"tcp://127.0.0.1:{ports['tx']}" if rawtx else "off",
        "log_level": os.environ.get("SD_LOG_LEVEL", "info"), "log_file": "signetd.log",
    }
    with open(os.path.join(d, "blindbit.toml"), "w") as f:
        for k, v in cfg.items():
            f.write(f'{k} = "{v}"\n' if isinstance(v, str) else f"{k} = {v}\n")
    proc = subprocess.Popen([os.path.join(build, "signetd"), "-datadir", d],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, hport


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def connected_lines(log_path):
    out = {}
    try:
        with open(log_path) as f:
            for line in f:
                if "block_connected" not in line:
                    continue
                m = re.search(r"height=(\d+) .*txs=(\d+) tweaks=(\d+) ms=([\d.]+) "
                              r"compute_ms=([\d.]+) write_ms=([\d.]+)(?: from_mempool=(\d+))?", line)
                if m:
                    out[int(m.group(1))] = tuple(float(x or 0) for x in m.groups()[1:])
    except OSError:
        pass
    return out


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def verify(a, node, live, heights, node_dir, ports, tmp):
    """The blocks indexed with mempool tweaks must equal a fresh sync."""
    sd, hport = start_signetd(a.build, os.path.join(tmp, "sd-verify"), node_dir,
                              ports, rawtx=False)
    try:
        fresh = Poller(hport)
        tip = node.call("getblockcount")
        wait(lambda: fresh.height() >= tip, 300, "verify sync")
        bad = 0
        for h in heights:
            for path in (f"/tweak-index/{h}", f"/tweaks/{h}", f"/tweak-index/{h}?dustLimit=1000"):
                x, y = live.get(path), fresh.get(path)
                if x != y or len(x) < 1000:
                    bad += 1
                    print(f"verify: MISMATCH {path} live {len(x)} B fresh {len(y)} B")
        print(f"verify: {len(heights)} blocks indexed live (mempool tweaks) vs fresh sync: "
              f"{'identical' if not bad else f'{bad} differences'}")
        if bad:
            raise SystemExit(1)
    finally:
        sd.terminate()
        sd.wait(20)


def run_mode(mode, a, node, maker, mine_addr, ports, node_dir, tmp, flood_hexes=None):
    sd_dir = os.path.join(tmp, f"sd-{mode}")
    # with a flood signetd subscribes to rawtx in every mode (that is the
    # point: its mempool work must not delay blocks); --flood-no-rawtx
    # measures the node's share of the slowdown alone
    sd, hport = start_signetd(a.build, sd_dir, node_dir, ports,
                              rawtx=(mode == "mempool" or
                                     bool(flood_hexes and not a.flood_no_rawtx)))
    try:
        poller = Poller(hport)
        tip = node.call("getblockcount")
        wait(lambda: poller.height() >= tip, 300, "signetd initial sync")
        watcher = Watcher(f"tcp://127.0.0.1:{ports['hb']}", poller)
        watcher.start()
        time.sleep(0.3)  # let the SUB connect
        flood = None
        if flood_hexes:
            flood = Flood(gen_chain.RPC(node_url(ports), node_cookie(node_dir)),
                          flood_hexes, a.flood)
            flood.start()
            time.sleep(1.0)  # the flood is running before the first block
        rows = []
        for i in range(a.blocks):
            hexes = maker.txs(a.txs)
            if len(hexes) < a.txs:
                raise SystemExit("latency_bench: out of utxos")
            if mode == "mempool":
                before = int(re.search(r"^signetd_mempool_tweaks (\d+)",
                                       poller.get("/metrics"), re.M).group(1)) \
                    if re.search(r"^signetd_mempool_tweaks ", poller.get("/metrics"), re.M) else None
                node.batch([("sendrawtransaction", [h]) for h in hexes])
                # wait for signetd to have computed the mempool tweaks
                # (gauge name may differ between versions: then sleep)
                if before is not None:
                    wait(lambda: int(re.search(r"^signetd_mempool_tweaks (\d+)",
                                               poller.get("/metrics"), re.M).group(1))
                         >= before + len(hexes) * 0.95, 120, "mempool tweaks")
                else:
                    time.sleep(5)
            h = node.call("getblockcount") + 1
            watcher.expect = h
            watcher.done.clear()
            watcher.armed.set()
            cpu0 = proc_cpu_s(sd.pid)
            if mode == "mempool":
                node.call("generatetoaddress", 1, mine_addr)
            else:
                node.call("generateblock", mine_addr, hexes)
            if not watcher.done.wait(60):
                raise SystemExit(f"latency_bench: block {h} not served in 60 s")
            bhash, t0, w0, t1, polls = watcher.result
            cpu1 = proc_cpu_s(sd.pid)
            load = os.getloadavg()[0]
            rows.append(dict(height=h, lat_ms=(t1 - t0) * 1000, polls=polls,
                             cpu_ms=(cpu1 - cpu0) * 1000, load=load))
            time.sleep(0.2)  # let the log line land
        log = connected_lines(os.path.join(sd_dir, "signetd.log"))
        for r in rows:
            c = log.get(r["height"])
            if c:
                r.update(txs=int(c[0]), tweaks=int(c[1]), conn_ms=c[2],
                         compute_ms=c[3], write_ms=c[4], mp=int(c[5]))
        watcher.stop = True
        if flood:
            flood.halt.set()
            flood.join()
            mm = mempool_metrics(poller)
            print(f"flood: {flood.sent} txs relayed at {a.flood}/s during the run "
                  f"({flood.errors} batch errors); signetd mempool: "
                  + ", ".join(f"{k[len('signetd_mempool_'):]}={v:.0f}"
                              for k, v in sorted(mm.items())))
            if flood.sent >= len(flood_hexes):
                print("flood: WARNING ran out of txs before the last block "
                      "(raise --flood-txs)")
        if mode == "mempool":
            verify(a, node, poller, [r["height"] for r in rows], node_dir, ports, tmp)
    finally:
        sd.terminate()
        try:
            sd.wait(20)
        except subprocess.TimeoutExpired:
            sd.kill()
    print(f"\n== mode {mode}{' + flood' if flood_hexes else ''}: block -> "
          f"/block-height served, {len(rows) - 1} blocks (first is warm-up)")
    print(" height  txs  tweaks  latency_ms  connect_ms  compute_ms  write_ms"
          "  from_mempool  cpu_ms  load1")
    for r in rows:
        print(f" {r['height']:6d} {r.get('txs', 0):5d} {r.get('tweaks', 0):6d} "
              f"{r['lat_ms']:10.1f} {r.get('conn_ms', float('nan')):11.1f} "
              f"{r.get('compute_ms', float('nan')):11.1f} {r.get('write_ms', float('nan')):9.1f} "
              f"{r.get('mp', 0):13d} "
              f"{r['cpu_ms']:7.0f} {r['load']:6.2f}")
    lat = [r["lat_ms"] for r in rows[1:]]
    con = [r["conn_ms"] for r in rows[1:] if "conn_ms" in r]
    print(f"mode {mode}{' + flood ' + str(a.flood) + '/s' if flood_hexes else ''}: latency p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, "
          f"min {min(lat):.1f}, max {max(lat):.1f} (n={len(lat)}); "
          f"signetd connect p50 {pct(con, 50):.1f} ms; "
          f"load1 {statistics.mean(r['load'] for r in rows):.2f}")
    return lat


def node_url(ports):
    return f"http://127.0.0.1:{ports['rpc']}"


def node_cookie(node_dir):
    return os.path.join(node_dir, "regtest", ".cookie")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--blocks", type=int, default=21)
    ap.add_argument("--txs", type=int, default=1500)
    ap.add_argument("--mode", default="direct", choices=["direct", "mempool", "both"])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--flood", type=int, default=0, metavar="RATE",
                    help="relay other eligible txs at RATE tx/s during the run")
    ap.add_argument("--flood-txs", type=int, default=0, metavar="N",
                    help="flood txs signed per mode (default RATE * blocks * 2)")
    ap.add_argument("--flood-no-rawtx", action="store_true",
                    help="flood, but signetd does not subscribe to rawtx in "
                         "mode direct (the node's own share of the slowdown)")
    a = ap.parse_args()
    if a.flood and not a.flood_txs:
        a.flood_txs = a.flood * a.blocks * 2
    a.build = os.path.abspath(a.build)
    bitcoind = os.environ.get("BITCOIND", os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        ".deps", "bitcoin", "bin", "bitcoind"))
    tmp = tempfile.mkdtemp(prefix="sd-latbench-")
    node_dir = os.path.join(tmp, "node")
    proc, ports = start_node(node_dir, bitcoind)
    try:
        cookie = os.path.join(node_dir, "regtest", ".cookie")
        url = f"http://127.0.0.1:{ports['rpc']}"
        wait(lambda: os.path.exists(cookie), 60, "bitcoind cookie")
        node = gen_chain.RPC(url, cookie)
        wait(lambda: node.call("getblockcount") >= 0, 60, "bitcoind RPC")
        keys = gen_chain.Keys(node, a.seed, gen_chain.N_KEYS)
        mine_addr = keys.mine_addr
        modes = ["direct", "mempool"] if a.mode == "both" else [a.mode]
        need = int(len(modes) * (a.blocks * a.txs + a.flood_txs) * 1.55) + 10
        t = time.time()
        utxos = gen_chain.fan_out(node, keys, need)
        rnd = random.Random(a.seed)
        rnd.shuffle(utxos)
        print(f"latency_bench: {len(utxos)} utxos in {time.time() - t:.0f} s, "
              f"tip {node.call('getblockcount')}", file=sys.stderr)
        maker = gen_chain.TxMaker(node, keys, rnd, utxos)
        for m in modes:
            flood_hexes = None
            if a.flood:
                t = time.time()
                flood_hexes = maker.txs(a.flood_txs)
                print(f"latency_bench: {len(flood_hexes)} flood txs signed in "
                      f"{time.time() - t:.0f} s", file=sys.stderr)
            run_mode(m, a, node, maker, mine_addr, ports, node_dir, tmp, flood_hexes)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"latency_bench: kept {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
