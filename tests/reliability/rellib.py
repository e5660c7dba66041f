"""Reliability helpers shared by tests/integration/test_reliability.py (the
fast part CI runs) and tests/reliability/run.py (the full measurement that
writes docs/reliability.md):

  FaultProxy    TCP proxy in front of bitcoind's RPC/REST port that relays,
                delays, truncates answers, drops (black hole), resets or
                answers HTTP 500
  LogTail       incremental reader of a signetd log, to kill -9 at an
                exact event (a block being connected or disconnected)
  index_dump    canonical dump of every LMDB table (build/tools/oracle_index)
  route_paths   every block route at every height; http_answers fetches them
  Load          N keep-alive HTTP clients mixing all routes, checking every
                answer against a reference, with latencies and RSS samples

Everything runs against real parts: bitcoind, signetd, LMDB, loopback HTTP.
"""
import gzip
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

INTEG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "integration")
REPO = os.path.dirname(os.path.dirname(INTEG))
if INTEG not in sys.path:
    sys.path.insert(0, INTEG)
from faultproxy import FaultProxy  # noqa: E402,F401  (re-exported)
TESTDATA = os.path.join(REPO, "tests", "data")
BLOCKS_HEX = os.path.join(TESTDATA, "regtest-a", "blocks.hex")
RA_TIP = 400
RA_TIP_HASH = "472c09d7bd172a6bafedd0d776389d34efa8e5f75386f37ab44d158f6aebe89d"


def build_dir():
    return os.environ.get("SIGNETD_BUILD_DIR") or os.path.join(REPO, "build")


def tool(name):
    p = os.path.join(build_dir(), "tools", name)
    if not os.path.exists(p):
        raise AssertionError(f"{p} not found (build the tools, set SIGNETD_BUILD_DIR)")
    return p


# ---------------------------------------------------------------- logs, kills

class LogTail:
    """Reads a log file from its current end; wait_for() returns the first
    new line containing any of the needles."""

    def __init__(self, path, from_start=False):
        self.path = path
        self.f = open(path, "rb")
        if not from_start:
            self.f.seek(0, os.SEEK_END)
        self.partial = b""

    def lines(self):
        d = self.f.read()
        if not d:
            return []
        d = self.partial + d
        parts = d.split(b"\n")
        self.partial = parts.pop()
        return [p.decode("utf-8", "replace") for p in parts]

    def wait_for(self, needles, timeout=60.0, proc=None):
        if isinstance(needles, str):
            needles = [needles]
        end = time.time() + timeout
        while time.time() < end:
            for ln in self.lines():
                for n in needles:
                    if n in ln:
                        return ln
            if proc is not None and proc.poll() is not None:
                return None
            time.sleep(0.0005)
        return None

    def close(self):
        self.f.close()


def kill9_at(s, needles, rng, max_extra_s=0.003, timeout=60.0, tail=None):
    """kill -9 signetd s right after it logs one of needles (plus a random
    extra delay of up to max_extra_s, which moves the kill into the next
    LMDB write).  tail: a LogTail opened before the action that causes the
    event.  Returns the matching line, or None if s ended first."""
    if tail is None:
        tail = LogTail(s.log_path)
    try:
        ln = tail.wait_for(needles, timeout=timeout, proc=s.proc)
    finally:
        tail.close()
    if ln is not None:
        time.sleep(rng.uniform(0.0, max_extra_s))
    if s.proc.poll() is None:
        s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    s.proc = None
    return ln


# ---------------------------------------------------------------- index dumps

def index_dump(datadir, stop_after=None, blocks=BLOCKS_HEX):
    """Dump of the index in datadir (the daemon's datadir: its index/ is
    opened by the same code).  With blocks and no index yet, the tool
    builds it from regtest-a's blocks.hex first (a fresh sync)."""
    args = [tool("oracle_index"), "--datadir", datadir, "--blocks", blocks, "--dump", "--tip"]
    if stop_after is not None:
        args += ["--stop-after", str(stop_after)]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"oracle_index: {r.stderr.decode()[-2000:]}")
    return r.stdout.decode()


def stored_dump(datadir):
    """Dump of an existing index without indexing anything."""
    r = subprocess.run([tool("oracle_index"), "--datadir", datadir, "--no-index", "--dump",
                        "--tip"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise AssertionError(f"oracle_index: {r.stderr.decode()[-2000:]}")
    return r.stdout.decode()


def stored_tip(datadir):
    r = subprocess.run([tool("oracle_index"), "--datadir", datadir, "--no-index", "--tip"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"oracle_index: {r.stderr.decode()[-2000:]}")
    return int(r.stdout.split()[1])


def dump_diff(a, b, limit=5):
    """The first differing lines of two dumps (for assertion messages)."""
    la, lb = a.splitlines(), b.splitlines()
    sa, sb = set(la), set(lb)
    only_a = [x for x in la if x not in sb][:limit]
    only_b = [x for x in lb if x not in sa][:limit]
    return f"{len(la)} vs {len(lb)} lines; only in first: {only_a}; only in second: {only_b}"


# ---------------------------------------------------------------- HTTP answers

BLOCK_ROUTES = ("/block-hash/{h}", "/tweaks/{h}", "/tweak-index/{h}",
                "/tweaks/{h}?dustLimit=1000", "/tweak-index/{h}?dustLimit=50000",
                "/filter/spent/{h}", "/filter/new-utxos/{h}", "/utxos/{h}",
                "/spent-index/{h}", "/blindbit/tweaks/{h}")


def route_paths(lo, hi, routes=BLOCK_ROUTES):
    return [r.format(h=h) for h in range(lo, hi + 1) for r in routes]


class Client:
    """A keep-alive HTTP/1.1 client that reconnects once on a closed
    connection (a server may close an idle keep-alive connection)."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                self.conn.request(method, path, body, headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, r, data
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as e:
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                last = e  # noqa: F841 - retried once on a fresh connection

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def http_answers(port, paths):
    """path -> (status, body) over one keep-alive connection."""
    c = Client(port)
    out = {}
    try:
        for p in paths:
            st, _, body = c.get(p)
            out[p] = (st, body)
    finally:
        c.close()
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return -1


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q / 100.0 * (len(xs) - 1)))))
    return xs[k]


# ---------------------------------------------------------------- load

class Load:
    """clients keep-alive HTTP clients for duration seconds against signetd
    s, mixing every route.  ref maps block-route paths (heights that never
    change during the run) to their (status, body); those answers must be
    byte-identical (also gzip-decoded, and 304 for a matching ETag).  The
    tip routes (/block-height, /info, /status, /health, /metrics,
    /mempool/tweaks, /block-hash/<new>) must answer 200 with valid content;
    /forward-tx with invalid hex must answer 400; a path of no route 404.
    Anything else is an error.  on_tick(elapsed) runs every second in the
    sampler thread (the caller mines blocks there)."""

    def __init__(self, s, ref, clients=64, duration=20.0, seed=1, tip_fn=None,
                 on_tick=None, think_s=0.0):
        self.s = s
        self.ref = ref
        self.ref_paths = sorted(ref)
        self.clients = clients
        self.duration = duration
        self.seed = seed
        self.tip_fn = tip_fn
        self.on_tick = on_tick
        self.think_s = think_s
        self.lock = threading.Lock()
        self.errors = []
        self.lat = []          # seconds, every request
        self.count = {}        # kind -> n
        self.rss = []          # (t, kB)
        self.etags = {}
        self.tick_errors = []

    def _err(self, what):
        with self.lock:
            if len(self.errors) < 1000:
                self.errors.append(what)

    def _one(self, c, rnd, kind):
        t0 = time.perf_counter()
        if kind == "block":
            p = rnd.choice(self.ref_paths)
            want = self.ref[p]
            hdr = {}
            gz = rnd.random() < 0.2
            if gz:
                hdr["Accept-Encoding"] = "gzip"
            et = self.etags.get((p, gz))
            if et and rnd.random() < 0.3:
                hdr["If-None-Match"] = et
            st, r, body = c.get(p, hdr)
            dt = time.perf_counter() - t0
            if st == 304 and "If-None-Match" in hdr:
                return dt
            if gz and r.getheader("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if (st, body) != want:
                self._err(f"{p} gz={gz}: {st} {body[:80]!r} != {want[0]} {want[1][:80]!r}")
            elif st == 200 and r.getheader("ETag"):
                self.etags[(p, gz)] = r.getheader("ETag")
            return dt
        if kind == "tip":
            p = rnd.choice(("/block-height", "/info", "/status", "/health",
                            "/mempool/tweaks", "/blindbit/block-height"))
            st, _, body = c.get(p)
            dt = time.perf_counter() - t0
            if p == "/health" and st == 503 and \
                    json.loads(body).get("reasons") == ["index_lag"]:
                # right while a reorg or a burst of blocks is being indexed
                with self.lock:
                    self.count["health_degraded_index_lag"] = \
                        self.count.get("health_degraded_index_lag", 0) + 1
            elif st != 200:
                self._err(f"{p}: {st} {body[:120]!r}")
            else:
                j = json.loads(body)
                if p.endswith("/block-height") and j["block_height"] < RA_TIP:
                    self._err(f"{p}: {body!r}")
            return dt
        if kind == "metrics":
            st, _, body = c.get("/metrics")
            dt = time.perf_counter() - t0
            if st != 200 or b"signetd_http_requests_total" not in body:
                self._err(f"/metrics: {st}")
            return dt
        if kind == "newhash":
            tip = self.tip_fn() if self.tip_fn else RA_TIP
            h = rnd.randint(RA_TIP, max(RA_TIP, tip))
            st, _, body = c.get(f"/block-hash/{h}")
            dt = time.perf_counter() - t0
            if st != 200 or len(json.loads(body)["block_hash"]) != 64:
                self._err(f"/block-hash/{h}: {st} {body[:100]!r}")
            return dt
        if kind == "forward":
            st, _, body = c.request("POST", "/forward-tx", json.dumps({"data": "zz"}),
                                    {"Content-Type": "application/json"})
            dt = time.perf_counter() - t0
            if (st, body) != (400, b'{"error":"invalid transaction hex"}'):
                self._err(f"/forward-tx: {st} {body[:100]!r}")
            return dt
        if kind == "404":
            st, _, body = c.get(rnd.choice(("/nope", "/tweaks/abc", "/filter/x/3")))
            dt = time.perf_counter() - t0
            if st not in (400, 404):
                self._err(f"404 kind: {st}")
            return dt
        raise AssertionError(kind)

    KINDS = (["block"] * 80 + ["tip"] * 10 + ["newhash"] * 5 + ["metrics"] * 1 +
             ["forward"] * 2 + ["404"] * 2)

    def _client(self, k, end):
        rnd = random.Random(self.seed * 100003 + k)
        c = Client(self.s.port, timeout=30)
        lat = []
        n = {}
        try:
            while time.time() < end:
                kind = rnd.choice(self.KINDS)
                try:
                    lat.append(self._one(c, rnd, kind))
                    n[kind] = n.get(kind, 0) + 1
                except Exception as e:  # noqa: BLE001 - every failure counts
                    self._err(f"{kind}: {e!r}")
                    c.close()
                if self.think_s:
                    time.sleep(rnd.uniform(0, 2 * self.think_s))
        finally:
            c.close()
        with self.lock:
            self.lat.extend(lat)
            for kk, v in n.items():
                self.count[kk] = self.count.get(kk, 0) + v

    def run(self):
        t0 = time.time()
        end = t0 + self.duration
        threads = [threading.Thread(target=self._client, args=(k, end), daemon=True)
                   for k in range(self.clients)]
        for t in threads:
            t.start()
        next_tick = t0
        while time.time() < end:
            now = time.time()
            self.rss.append((now - t0, rss_kb(self.s.proc.pid)))
            if self.on_tick:
                try:
                    self.on_tick(now - t0)
                except Exception as e:  # noqa: BLE001
                    self.tick_errors.append(repr(e))
            next_tick += 1.0
            time.sleep(max(0.0, min(next_tick, end) - time.time()))
        for t in threads:
            t.join(timeout=120)
        self.hung = sum(t.is_alive() for t in threads)
        self.elapsed = time.time() - t0
        self.rss.append((self.elapsed, rss_kb(self.s.proc.pid)))
        return self

    def summary(self):
        n = len(self.lat)
        return {
            "clients": self.clients,
            "seconds": round(self.elapsed, 1),
            "requests": n,
            "req_per_s": round(n / self.elapsed, 1),
            "errors": len(self.errors),
            "p50_ms": round(percentile(self.lat, 50) * 1000, 2),
            "p99_ms": round(percentile(self.lat, 99) * 1000, 2),
            "max_ms": round(max(self.lat) * 1000, 2) if self.lat else None,
            "rss_first_kb": self.rss[0][1] if self.rss else None,
            "rss_last_kb": self.rss[-1][1] if self.rss else None,
            "by_kind": dict(sorted(self.count.items())),
        }


def server_quantile(metrics_text, q, routes=None):
    """A latency quantile (seconds, bucket upper bound) over the server's
    own histogram signetd_http_request_duration_seconds (all routes or the
    given ones)."""
    buckets = {}
    for ln in metrics_text.splitlines():
        if not ln.startswith("signetd_http_request_duration_seconds_bucket{"):
            continue
        labels, val = ln.rsplit(" ", 1)
        lab = dict(kv.split("=", 1) for kv in labels[labels.index("{") + 1:-1].split(","))
        route = lab["route"].strip('"')
        if routes and route not in routes:
            continue
        le = lab["le"].strip('"')
        le = float("inf") if le == "+Inf" else float(le)
        buckets[le] = buckets.get(le, 0) + float(val)
    if not buckets:
        return None
    total = buckets[float("inf")]
    for le in sorted(buckets):
        if buckets[le] >= q * total:
            return le
    return float("inf")
