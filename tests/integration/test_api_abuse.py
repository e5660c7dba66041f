"""Bad input at the HTTP API: thousands of malformed paths, huge headers,
slow clients, oversize POST bodies, many concurrent connections.  The
server must answer 4xx (or upstream's 500 for an unknown height), never
crash or hang, and the index must be unchanged afterwards."""
import http.client
import random
import socket
import threading
import time
import urllib.parse

import pytest

import api_common as ac

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
