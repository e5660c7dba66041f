"""Bad input at the HTTP API: thousands of malformed paths, huge headers,
slow clients, oversize POST bodies, many concurrent connections.  The
server must answer 4xx (or upstream's 500 for an unknown height), never
crash or hang, and the index must be unchanged afterwards.

Issue 16 (second half of the file): /forward-tx floods with the node
healthy or hung, per address limits, request deadlines, CORS, the body
caches (dustLimit keys, gzip bytes, /mempool/tweaks)."""
import http.client
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import tempfile
import threading
import time
import urllib.parse

import pytest

import api_common as ac
from conftest import BitcoinNode, Signetd, wait_until

SNAP = ["/block-height", "/info", "/tweak-index/300", "/tweaks/222?dustLimit=1000",
        "/filter/spent/300", "/filter/new-utxos/150", "/utxos/150", "/spent-index/300"]
INV = b'{"error":"could not fetch header inv"}'


@pytest.fixture(scope="module")
def oracle(regtest_a_node):
    s = ac.start_synced(regtest_a_node)
    yield s
    ac.stop_synced(s)


def snapshot(s):
    out = {}
    for p in SNAP:
        st, _, body = s.get(p)
        assert st == 200, p
        out[p] = body
    return out


def alive(s):
    assert s.proc.poll() is None, "signetd died:\n" + s.log_text()[-3000:]
    t = time.time()
    st, _, body = s.get("/block-height", timeout=5)
    assert (st, body) == (200, b'{"block_height":400}')
    assert time.time() - t < 2.0


def malformed_paths(n, seed=4):
    rnd = random.Random(seed)
    bases = ["/tweaks/", "/tweak-index/", "/filter/spent/", "/filter/new-utxos/",
             "/filter/", "/utxos/", "/spent-index/", "/block-hash/", "/info",
             "/blindbit/", "/blindbit/tweaks/", "/forward-tx", "/mempool/tweaks", "/"]
    atoms = ["-1", "4294967296", "99999999999999999999", "abc", "%", "%zz", "%00",
             "..", "/", "//", "?", "&", ";", "=", "+", " ", "%2F", "\u00e9", "0x1",
             "dustLimit=", "?dustLimit=-5", "?dustLimit=%", "0" * 300, "9" * 40,
             "1e3", "\t", "*", "#frag", "%25", "A" * 2000]
    for _ in range(n):
        p = rnd.choice(bases) + "".join(rnd.choice(atoms) for _ in range(rnd.randint(1, 4)))
        yield urllib.parse.quote(p, safe="/?&=%;+*#:.-")


def test_malformed_paths(oracle):
    before = snapshot(oracle)
    conn = http.client.HTTPConnection("127.0.0.1", oracle.port, timeout=10)
    counts = {}
    for p in malformed_paths(3000):
        try:
            conn.request("GET", p)
            r = conn.getresponse()
            body = r.read()
        except (http.client.HTTPException, OSError):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", oracle.port, timeout=10)
            continue
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status >= 500:
            assert (r.status, body) == (500, INV), p
        else:
            assert r.status in (200, 301, 400, 404, 414), (p, r.status)
    conn.close()
    assert sum(counts.values()) >= 2900
    assert counts.get(404, 0) > 100 and counts.get(400, 0) > 100
    alive(oracle)
    assert snapshot(oracle) == before


def test_raw_garbage_requests(oracle):
    rnd = random.Random(7)
    garbage = [b"\x00\x01\x02\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
               b"GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
               b"GET /in fo HTTP/1.1\r\nHost: x\r\n\r\n",
               b"BREW /info HTTP/1.1\r\nHost: x\r\n\r\n",
               b"GET /info HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
               b"\r\n" * 1000]
    garbage += [bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 400)))
                for _ in range(120)]
    for g in garbage:
        sk = socket.create_connection(("127.0.0.1", oracle.port), timeout=2)
        try:
            sk.sendall(g)
            sk.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                c = sk.recv(65536)
                if not c:
                    break
                data += c
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            data = b""
        finally:
            sk.close()
        # 505 is the right answer to an unknown HTTP version; no other 5xx
        if data.startswith(b"HTTP/1.1 5") and not data.startswith(b"HTTP/1.1 505"):
            raise AssertionError(f"5xx for {g[:60]!r}: {data[:200]!r}")
    alive(oracle)


def test_huge_headers(oracle):
    head = "GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 200000 + "\r\n\r\n"
    st = ac.raw_status(oracle.port, head)
    assert st in (None, 413, 431), st
    many = "GET /info HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"X-H{i}: {i}\r\n" for i in range(5000)) + "\r\n"
    assert ac.raw_status(oracle.port, many) in (None, 413, 431)
    long_uri = "GET /tweaks/" + "1" * 100000 + " HTTP/1.1\r\nHost: x\r\n\r\n"
    assert ac.raw_status(oracle.port, long_uri) in (None, 414, 413, 431)
    alive(oracle)


def test_oversize_post(oracle):
    head = ("POST /forward-tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 50000000\r\n\r\n")
    assert ac.raw_status(oracle.port, head, b"{" * 100000) == 413
    # chunked, no length: cut off once past the limit
    chunk = b"100000\r\n" + b"0" * 0x100000 + b"\r\n"
    end = b"0\r\n\r\n"
    head = ("POST /forward-tx HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    assert ac.raw_status(oracle.port, head, chunk * 3 + end) == 413
    assert ac.raw_status(oracle.port, "GET /info HTTP/9.9\r\n\r\n") == 505
    # a POST body to a GET route is ignored
    st, _, body = oracle.request("POST", "/info", body=b"x" * 100000)
    assert st == 404
    alive(oracle)


def test_slow_clients_do_not_block_others(oracle):
    before = snapshot(oracle)
    slow = []
    for i in range(200):
        sk = socket.create_connection(("127.0.0.1", oracle.port), timeout=5)
        sk.sendall(b"GET /tweak-index/3")  # never finished
        slow.append(sk)
    try:
        for i in range(3):
            for sk in slow[:50]:
                try:
                    sk.sendall(b"0")
                except OSError:
                    pass
            t = time.time()
            for p in SNAP:
                st, _, body = oracle.get(p, timeout=5)
                assert st == 200 and body == before[p]
            assert time.time() - t < 5.0
            time.sleep(0.3)
    finally:
        for sk in slow:
            sk.close()
    alive(oracle)


def test_many_concurrent_connections(oracle):
    before = snapshot(oracle)
    errors = []

    def worker(k):
        try:
            c = http.client.HTTPConnection("127.0.0.1", oracle.port, timeout=20)
            for j in range(10):
                p = SNAP[(k + j) % len(SNAP)]
                c.request("GET", p)
                r = c.getresponse()
                b = r.read()
                if r.status != 200 or b != before[p]:
                    errors.append((p, r.status))
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "requests hung"
    assert not errors, errors[:5]
    alive(oracle)
    assert snapshot(oracle) == before


# ---------------------------------------------------------------------------
# Issue 16: one client must never stall the oracle.  Each test below
# reproduces an attack against a real node (it failed before the fix);
# the figures it prints are the ones in docs/reliability.md.
# ---------------------------------------------------------------------------

READ_PATHS = ("/block-height", "/info", "/health")


@pytest.fixture(scope="module")
def fwd_env(tmp_path_factory):
    """A regtest node with a wallet (for mempool txs) and a synced signetd
    with the default HTTP settings (no config keys: the compiled-in
    forward-tx limits)."""
    d = tempfile.mkdtemp(prefix="sd-fwd-")
    node = BitcoinNode(os.path.join(d, "node")).start()
    node.ensure_wallet()
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    node.generate(110, addr)
    s = Signetd(os.path.join(d, "sd"), node=node)
    s.start()
    s.wait_synced(110)
    yield s, node
    try:
        os.kill(node.proc.pid, signal.SIGCONT)
    except (OSError, AttributeError):
        pass
    s.stop()
    node.stop()
    text = s.log_text()
    shutil.rmtree(d, ignore_errors=True)
    assert "ERROR: AddressSanitizer" not in text, text[-4000:]
    assert "runtime error:" not in text, text[-4000:]


def _metric(s, name):
    text = s.get("/metrics")[2].decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def measure_reads(s, seconds, timeout=60):
    """GET /block-height, /info, /health in turn on one keep-alive
    connection for `seconds`; returns the latencies (s)."""
    lat = []
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
    end = time.time() + seconds
    i = 0
    try:
        while time.time() < end:
            p = READ_PATHS[i % len(READ_PATHS)]
            i += 1
            t = time.perf_counter()
            try:
                conn.request("GET", p)
                r = conn.getresponse()
                r.read()
                assert r.status in (200, 503), (p, r.status)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=timeout)
                lat.append(time.perf_counter() - t)
                continue
            lat.append(time.perf_counter() - t)
    finally:
        conn.close()
    return lat


class Flood:
    """n clients posting `data=<hex>` to /forward-tx in a loop.  rotate:
    every request from another loopback source address (127.0.x.y), as an
    attacker with many addresses (the per address limit never applies)."""

    def __init__(self, s, n, hexdata="00", rotate=True, timeout=60):
        self.s, self.n, self.hex, self.rotate, self.timeout = s, n, hexdata, rotate, timeout
        self.stop = threading.Event()
        self.status = {}
        self.retry_after = set()
        self.lock = threading.Lock()
        self.threads = []

    def _run(self, k):
        j = 0
        body = "data=" + self.hex
        while not self.stop.is_set():
            j += 1
            if self.rotate:
                n = (k * 7919 + j) % 60000
                src = f"127.0.{2 + n // 250}.{2 + n % 250}"
            else:
                src = f"127.0.0.{2 + k}"
            c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=self.timeout,
                                           source_address=(src, 0))
            try:
                c.request("POST", "/forward-tx", body,
                          {"Content-Type": "application/x-www-form-urlencoded"})
                r = c.getresponse()
                r.read()
                st, ra = r.status, r.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                st, ra = "error", None
            finally:
                c.close()
            with self.lock:
                self.status[st] = self.status.get(st, 0) + 1
                if ra:
                    self.retry_after.add(ra)

    def __enter__(self):
        for k in range(self.n):
            t = threading.Thread(target=self._run, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=self.timeout + 10)
        assert not any(t.is_alive() for t in self.threads), "flood clients hung"


def _summary(lat):
    return {"n": len(lat), "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(_pct(lat, 99) * 1000, 2), "max_ms": round(max(lat) * 1000, 1)}


def test_forward_tx_node_hung_reads_unaffected(fwd_env):
    """Issue 16.1: with the node hung (SIGSTOP), concurrent POST /forward-tx
    took every HTTP thread for the 30 s node timeout, and /block-height,
    /info, /health took up to 89 s.  Now the node call runs on the forward
    workers: reads keep their latency, relays end in 504 after the short
    timeout or 503 + Retry-After once workers and queue are full."""
    s, node = fwd_env
    base = _summary(measure_reads(s, 3))
    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        with Flood(s, 48) as fl:
            time.sleep(0.5)
            lat = measure_reads(s, 12)
        hung = _summary(lat)
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)
    print(f"\nnode hung: reads baseline {base}, with 48 clients posting "
          f"forward-tx {hung}; forward-tx answers {fl.status}")
    assert hung["max_ms"] < 2000, hung
    assert hung["p99_ms"] < 1000, hung
    assert fl.status.get(504, 0) >= 1, fl.status       # the short timeout
    assert fl.status.get(503, 0) >= 1, fl.status       # bounded in flight
    # 400 = the node's own answer: relays still in flight (at most the 4
    # workers + 32 queued) when the flood ends may reach it after SIGCONT
    assert set(fl.status) <= {400, 503, 504}, fl.status
    assert fl.status.get(400, 0) <= 36, fl.status
    assert fl.retry_after, "503 without Retry-After"
    text = s.get("/metrics")[2].decode()
    assert re.search(r'signetd_http_forward_tx_total\{result="busy"\} [1-9]', text)
    assert re.search(r'signetd_http_forward_tx_total\{result="node_timeout"\} [1-9]', text)
    # the node is back: relays work again (the node refuses "00")
    wait_until(lambda: s.request("POST", "/forward-tx", body="data=00",
                                 headers={"Content-Type":
                                          "application/x-www-form-urlencoded"})[0] == 400,
               timeout=30, what="relays answered by the node again")


def test_forward_tx_flood_healthy_node(fwd_env):
    """Issue 16.1 and 16.5: 16 clients posting data=00 (the node refuses
    each) must not slow reads down (before: GET p50 5 -> 21 ms), and the
    refusals are not each logged (before: every refusal logged a line)."""
    s, node = fwd_env
    base = _summary(measure_reads(s, 4))
    lines0 = s.log_text().count("msg=forward_tx_refused")
    sup0 = _metric(s, "signetd_http_log_suppressed_total") or 0
    t0 = time.time()
    with Flood(s, 16) as fl:
        time.sleep(0.5)
        flood = _summary(measure_reads(s, 8))
    dt = time.time() - t0
    lines = s.log_text().count("msg=forward_tx_refused") - lines0
    refused = sum(v for k, v in fl.status.items() if k != "error")
    print(f"\nhealthy node: reads baseline {base}, with 16 clients posting "
          f"forward-tx {flood}; forward-tx answers {fl.status}; "
          f"{lines} refusal log lines for {refused} refusals in {dt:.1f} s")
    assert fl.status.get(400, 0) > 50, fl.status
    assert flood["p99_ms"] < max(10 * base["p99_ms"], 100), (base, flood)
    assert flood["max_ms"] < 1000, flood
    # the log: at most one refusal line a second, the rest counted
    assert lines <= dt + 3, (lines, dt)
    assert re.search(r"msg=forward_tx_refused .*suppressed=[1-9]", s.log_text())
    assert (_metric(s, "signetd_http_log_suppressed_total") or 0) - sup0 >= refused - lines - 1


def test_forward_tx_rate_limit_per_address(fwd_env):
    """Issue 16.1: one address relays at most a burst, then 429 with
    Retry-After; another address is not affected."""
    s, node = fwd_env

    def post(src):
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30,
                                       source_address=(src, 0))
        try:
            c.request("POST", "/forward-tx", "data=00",
                      {"Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("Retry-After")
        finally:
            c.close()

    got = [post("127.0.9.9") for _ in range(40)]
    codes = [st for st, _ in got]
    print(f"\none address, 40 relays at once: {codes.count(400)} reached the node, "
          f"{codes.count(429)} got 429")
    assert codes.count(429) >= 20, codes
    assert codes.count(400) >= 5, codes           # the burst reached the node
    assert all(ra and int(ra) >= 1 for st, ra in got if st == 429)
    assert post("127.0.9.10")[0] == 400            # another address
    # invalid hex never reaches the node and is not limited
    st, _, body = s.request("POST", "/forward-tx", body="data=zz",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (st, body) == (400, b'{"error":"invalid transaction hex"}')
    text = s.get("/metrics")[2].decode()
    assert re.search(r'signetd_http_forward_tx_total\{result="rate_limited"\} [1-9]', text)
    assert "signetd_http_requests_total{route=\"forward_tx\",code=\"429\"}" in text


def test_slow_clients_total_deadline(oracle):
    """Issue 16.4: a client trickling a header byte (or a body byte) every
    5 s kept its connection for ever (the timeout is an idle timeout).
    Now headers and body must arrive within 30 s."""
    s = oracle
    closed0 = _metric(s, "signetd_http_request_deadline_closed_total") or 0
    heads = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    heads.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    body = socket.create_connection(("127.0.0.1", s.port), timeout=60)
    body.sendall(b"POST /forward-tx HTTP/1.1\r\nHost: x\r\nContent-Type: "
                 b"application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nda")
    t0 = time.time()
    closed = {}
    try:
        while len(closed) < 2 and time.time() - t0 < 50:
            for name, sk in (("headers", heads), ("body", body)):
                if name in closed:
                    continue
                try:
                    sk.sendall(b"a")
                    sk.settimeout(0.01)
                    try:
                        if sk.recv(100) == b"":
                            closed[name] = time.time() - t0
                    except socket.timeout:
                        pass
                    sk.settimeout(60)
                except OSError:
                    closed[name] = time.time() - t0
            time.sleep(5 if len(closed) < 2 else 0)
    finally:
        heads.close()
        body.close()
    print(f"\ntrickling clients closed after {closed} s")
    assert set(closed) == {"headers", "body"}, closed
    assert all(25 <= v <= 40 for v in closed.values()), closed
    assert (_metric(s, "signetd_http_request_deadline_closed_total") or 0) - closed0 >= 2
    alive(s)


def test_default_per_address_cap_off_loopback(regtest_a_node, tmp_path):
    """Issue 16.4: listening on 0.0.0.0 without http_max_connections_per_ip,
    one address could take every connection.  Now the cap defaults to 64
    off loopback (none on loopback, where a local proxy is one address)."""
    s = Signetd(str(tmp_path / "sd"), node=regtest_a_node)
    # a port below the ephemeral range: the flood tests leave thousands
    # of client sockets in TIME_WAIT there, which a wildcard bind hits
    port = None
    for cand in random.Random(os.getpid()).sample(range(20000, 32000), 200):
        probe = socket.socket()
        try:
            probe.bind(("0.0.0.0", cand))
            port = cand
            break
        except OSError:
            continue
        finally:
            probe.close()
    assert port, "no free port for 0.0.0.0"
    s.port = port
    s.config["host"] = f"0.0.0.0:{port}"
    s.write_config()
    s.start()
    held = []
    try:
        s.wait_for_log("msg=listening", timeout=30)

        def hold_64():
            """64 idle, half-open requests from one address, all alive: a
            loaded server may reset one (it still counted a connection it
            had not reaped), and then the 65th would fill its place:
            replace the dead ones until all 64 stay up."""
            for c in [c for c in held if select.select([c], [], [], 0)[0]]:
                held.remove(c)  # readable while idle = closed or reset
                c.close()
            while len(held) < 64:
                c = socket.create_connection(("127.0.0.1", port), timeout=5,
                                             source_address=("127.0.0.1", 0))
                c.sendall(b"GET /info HTTP/1.1\r\n")
                held.append(c)
            time.sleep(0.3)
            return not any(select.select([c], [], [], 0)[0] for c in held)
        wait_until(hold_64, timeout=20, interval=0.1,
                   what="64 connections from one address held")
        # libmicrohttpd counts a connection when it accepts it; on a loaded
        # machine (ASan, CI) the 64 may still wait in the listen backlog a
        # moment, so the 65th must be refused within a few seconds (without
        # the cap it is served every time)
        served = []
        deadline = time.time() + 10
        while True:
            time.sleep(0.3)
            st = ac.raw_status(port, "GET /info HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
            if st is None or time.time() > deadline:
                break
            served.append(st)
        assert st is None, f"a 65th connection from one address was served: {served}"
        c = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=("127.0.0.2", 0))
        c.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = c.recv(100)
        c.close()
        assert data.startswith(b"HTTP/1.1 "), data
    finally:
        for c in held:
            c.close()
        s.stop()
    text = s.log_text()
    assert "max_conn_per_ip=64" in text, text[-2000:]
    assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text


def test_cors_no_credentials_no_post(fwd_env):
    """Issue 16.8: every answer had Allow-Origin * with Allow-Credentials
    true, so any page could post to /forward-tx in a visitor's browser and
    read the node's answer.  GET answers keep Allow-Origin * (v1), never
    credentials; POST /forward-tx gets no CORS (unless configured)."""
    s, node = fwd_env
    o = {"Origin": "https://evil.example"}
    st, h, _ = s.get("/block-height", headers=o)
    assert st == 200 and h["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in h
    st, h, _ = s.request("POST", "/forward-tx", body="data=00",
                         headers=dict(o, **{"Content-Type":
                                            "application/x-www-form-urlencoded"}))
    assert st in (400, 429)
    assert "access-control-allow-origin" not in h, h
    assert "access-control-allow-credentials" not in h, h
    st, h, _ = s.request("OPTIONS", "/forward-tx",
                         headers=dict(o, **{"Access-Control-Request-Method": "POST"}))
    assert st == 204 and "POST" not in h["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in h


def test_dust_limit_values_do_not_flood_the_cache(oracle):
    """Issue 16.9: every dustLimit value was its own cache entry, so a
    client walking through values evicted every useful answer.  Now only
    dustLimit=0 and the few values really in use take entries."""
    s = oracle
    useful = "/tweak-index/300"
    assert s.get(useful)[0] == 200
    e0 = _metric(s, "signetd_http_cache_entries")
    for v in range(1, 1001):
        st, _, _ = s.get(f"/tweak-index/{250 + v % 100}?dustLimit={v * 7}")
        assert st == 200
    e1 = _metric(s, "signetd_http_cache_entries")
    print(f"\n1000 distinct dustLimit values: cache entries {e0} -> {e1}")
    assert e1 - e0 <= 10, (e0, e1)
    assert (_metric(s, "signetd_http_cache_dust_uncached_total") or 0) >= 990
    # a value in steady use is cached
    for _ in range(6):
        assert s.get("/tweak-index/301?dustLimit=1000")[0] == 200
    h0 = _metric(s, "signetd_http_cache_hits_total")
    s.get("/tweak-index/301?dustLimit=1000")
    assert _metric(s, "signetd_http_cache_hits_total") == h0 + 1


def test_gzip_copies_count_in_the_cache_bound(oracle):
    """Issue 16.9: the gzip form of a cached answer was not counted in the
    64 MiB bound."""
    s = oracle
    p = "/utxos/151"
    st, _, plain = s.get(p)
    assert st == 200 and len(plain) > 200
    b0 = _metric(s, "signetd_http_cache_bytes")
    st, h, gz = s.get(p, headers={"Accept-Encoding": "gzip"})
    assert st == 200 and h.get("content-encoding") == "gzip"
    b1 = _metric(s, "signetd_http_cache_bytes")
    print(f"\ncache bytes {b0} -> {b1} after the gzip form of {p} ({len(gz)} bytes)")
    assert b1 - b0 == len(gz), (b0, b1, len(gz))


def test_mempool_tweaks_body_cached_per_map(fwd_env):
    """Issue 16.3: /mempool/tweaks rendered (and gzipped) the whole map on
    every request.  Now the body is kept while the map is unchanged, and a
    changed map is rendered again."""
    s, node = fwd_env
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    txid = node.rpc("sendtoaddress", addr, 1.0, wallet="w")

    def listed(t):
        return t in s.get("/mempool/tweaks")[2].decode()
    wait_until(lambda: listed(txid), timeout=30, what="mempool tweak")
    gz = {"Accept-Encoding": "gzip"}
    a = s.get("/mempool/tweaks", headers=gz)
    h0 = _metric(s, "signetd_http_mempool_cache_hits_total")
    m0 = _metric(s, "signetd_http_mempool_cache_misses_total")
    for _ in range(20):
        assert s.get("/mempool/tweaks", headers=gz)[2] == a[2]
    assert _metric(s, "signetd_http_mempool_cache_hits_total") - h0 == 20
    assert _metric(s, "signetd_http_mempool_cache_misses_total") == m0
    txid2 = node.rpc("sendtoaddress", addr, 1.0, wallet="w")
    wait_until(lambda: listed(txid2), timeout=30, what="second mempool tweak")
    assert _metric(s, "signetd_http_mempool_cache_misses_total") > m0
    node.generate(1, addr)
    wait_until(lambda: not listed(txid2), timeout=30, what="mempool tweaks pruned")
