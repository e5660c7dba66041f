"""blindbit-oracle v1 conformance: signetd synced to regtest-a answers every
request upstream's v1 answered (blindbit-v1.jsonl) with the same status,
content type and body bytes, except the deviations documented in
docs/compat.md, each asserted exactly.  Plus the middleware upstream has
(gzip, CORS, trailing-slash redirect), the /blindbit/ prefix, and our
extensions (ETag/304, Cache-Control by depth, /forward-tx via the node,
/mempool/tweaks, /status /health /metrics)."""
import gzip
import http.client
import json
import re

import pytest

import api_common as ac
from conftest import wait_until


@pytest.fixture(scope="module")
def oracle(regtest_a_node):
    s = ac.start_synced(regtest_a_node)
    yield s
    ac.stop_synced(s)


@pytest.fixture(scope="module")
def dev(regtest_a_node):
    d = ac.Deviations()
    ac.fill_block_info(d, regtest_a_node)
    return d


def keepalive(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def fetch(conn, method, path, headers=None, body=None):
    conn.request(method, path, body, headers or {})
    r = conn.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


def compare_all(port, dev, prefix=""):
    conn = keepalive(port)
    kinds, bad = {}, []
    for row in ac.recorded():
        st, hd, body = fetch(conn, row["method"], prefix + row["path"])
        est, ect, ebody, kind = dev.expected(row, ac.height_of)
        kinds[kind] = kinds.get(kind, 0) + 1
        if (st, hd.get("content-type"), body) != (est, ect, ebody):
            bad.append((row["method"], row["path"], st, est, hd.get("content-type"),
                        ect, body[:200], ebody[:200]))
    conn.close()
    return kinds, bad


def test_every_recorded_request(oracle, dev):
    kinds, bad = compare_all(oracle.port, dev)
    assert not bad, f"{len(bad)} answers differ, first: {bad[:5]}"
    assert sum(kinds.values()) == 3610
    # each documented deviation, counted exactly
    assert kinds["bip352_tweaks"] == 6
    assert kinds["spent_index_empty_object"] == 117
    assert kinds["utxos_height_timestamp"] == 275


def test_bip352_rows_equal_reference(oracle, dev):
    """The 6 rows where upstream's tweaks are wrong: ours are exactly the
    BIP352 reference (expected-tweaks.jsonl), in block order."""
    for h in sorted(dev.heights):
        assert h in (109, 240, 380)
        body = oracle.get_json(f"/tweak-index/{h}")
        assert body == dev.truth[h]
        # with the dust filter: a subset of the truth, in the same order
        dusty = oracle.get_json(f"/tweak-index/{h}?dustLimit=1000")
        assert dusty == [t for t in dev.truth[h] if t in dusty]
        for t, fix in dev.tweak_fix.items():
            assert t not in body and t not in dusty
            if fix and fix in dev.truth[h]:
                assert fix in body


def test_utxos_deviation_fields(oracle, dev):
    """/utxos block_height is the real height; spent rows keep the block's
    timestamp; everything else as upstream."""
    saw_spent = 0
    for row in ac.recorded():
        if not row["path"].startswith("/utxos/") or row["body"] == "[]":
            continue
        h = ac.height_of(row["path"])
        up = json.loads(row["body"])
        ours = oracle.get_json(row["path"])
        assert [u["txid"] for u in ours] == \
            [u["txid"] for u in up if u["txid"] not in dev.no_tweak_txids]
        for u in ours:
            assert u["block_height"] == h
            assert u["timestamp"] == dev.block_time[h]
            assert list(u) == ["txid", "vout", "value", "scriptpubkey", "block_height",
                               "block_hash", "timestamp", "spent"]
        for a in up:
            if a["spent"]:
                assert a["timestamp"] == 0
                saw_spent += 1
    assert saw_spent > 0


def test_spent_index_empty_is_object(oracle, dev):
    st, hd, body = oracle.get("/spent-index/1")
    assert st == 200 and hd["content-type"] == ac.JSON_CT
    assert body == ('{"block_hash":"%s","data":[]}' % dev.block_hash[1]).encode()


def test_blindbit_prefix_every_request(oracle, dev):
    kinds, bad = compare_all(oracle.port, dev, prefix="/blindbit")
    assert not bad, f"{len(bad)} answers differ under /blindbit, first: {bad[:5]}"


def test_errors_and_404(oracle):
    cases = [
        ("/tweaks/4294967295", 500, b'{"error":"could not fetch header inv"}'),
        ("/tweaks/4294967296", 400, b'{"error":"could not parse block height"}'),
        ("/tweaks/0", 500, b'{"error":"could not fetch header inv"}'),
        ("/tweaks/401", 500, b'{"error":"could not fetch header inv"}'),
        ("/tweaks/0400", 200, None),
        ("/tweaks/%2B1", 400, b'{"error":"could not parse block height"}'),
        ("/filter/foo/401", 500, b'{"error":"could not fetch header inv"}'),
        ("/filter/foo/400", 400, b'{"error":"invalid filter type"}'),
        ("/tweak-index/401?dustLimit=x", 500, b'{"error":"could not fetch header inv"}'),
        ("/tweak-index/400?dustLimit=x", 400, b'{"error":"Invalid dustLimit parameter"}'),
        ("/tweaks/400?dustLimit", 400, b'{"error":"Invalid dustLimit parameter"}'),
    ]
    for path, st, body in cases:
        s, hd, b = oracle.get(path)
        assert s == st, path
        assert hd["content-type"] == ac.JSON_CT, path
        if body is not None:
            assert b == body, path
    for path in ("/", "/tweaks", "/tweaks/", "/TWEAKS/1", "/blindbit", "/info/x"):
        s, hd, b = oracle.get(path)
        assert (s, hd["content-type"], b) == (404, "text/plain", b"404 page not found"), path
    s, hd, b = oracle.request("POST", "/info")
    assert (s, b) == (404, b"404 page not found")
    s, hd, b = oracle.request("DELETE", "/tweaks/1")
    assert s == 404


def test_trailing_slash_redirect(oracle):
    s, hd, b = oracle.get("/tweaks/5/")
    assert s == 301 and hd["location"] == "/tweaks/5"
    assert hd["content-type"] == "text/html; charset=utf-8"
    assert b == b'<a href="/tweaks/5">Moved Permanently</a>.\n\n'
    s, hd, _ = oracle.get("/blindbit/tweak-index/5/?dustLimit=1000")
    assert s == 301 and hd["location"] == "/blindbit/tweak-index/5?dustLimit=1000"
    s, hd, b = oracle.request("POST", "/forward-tx/")
    assert s == 307 and hd["location"] == "/forward-tx" and b == b""
    s, _, _ = oracle.get("/nope/")
    assert s == 404


def test_gzip(oracle):
    for path in ("/tweak-index/300", "/info", "/nope", "/filter/spent/300"):
        s0, h0, plain = oracle.get(path)
        s1, h1, packed = oracle.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert s0 == s1
        assert "content-encoding" not in h0
        assert h1["content-encoding"] == "gzip" and h1["vary"] == "Accept-Encoding"
        assert gzip.decompress(packed) == plain
        assert h1["content-type"] == h0["content-type"]
    s, h, b = oracle.get("/tweak-index/300", headers={"Accept-Encoding": "br"})
    assert "content-encoding" not in h and json.loads(b)


def test_cors(oracle):
    s, h, _ = oracle.get("/block-height", headers={"Origin": "http://wallet.example"})
    assert s == 200
    assert h["access-control-allow-origin"] == "*"
    # upstream adds Allow-Credentials: true; we never do (docs/compat.md)
    assert "access-control-allow-credentials" not in h
    # same origin: no CORS headers
    s, h, _ = oracle.get("/block-height",
                         headers={"Origin": f"http://127.0.0.1:{oracle.port}"})
    assert s == 200 and "access-control-allow-origin" not in h
    s, h, _ = oracle.get("/block-height")
    assert "access-control-allow-origin" not in h
    # preflight on any path, even unknown
    for path in ("/tweaks/5", "/does/not/exist"):
        s, h, b = oracle.request("OPTIONS", path, headers={
            "Origin": "https://wallet.example", "Access-Control-Request-Method": "GET"})
        assert (s, b) == (204, b"")
        assert h["access-control-allow-methods"] == "GET,PUT"
        assert h["access-control-allow-headers"] == "Content-Type,Authorization"
        assert h["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in h
    s, _, _ = oracle.request("OPTIONS", "/tweaks/5")
    assert s == 404
    s, h, _ = oracle.get("/nope", headers={"Origin": "http://x.example"})
    assert s == 404 and h["access-control-allow-origin"] == "*"


def test_etag_and_cache_control(oracle):
    # depth = tip - h + 1 >= immutable_depth (6) -> immutable
    for h, imm in ((100, True), (395, True), (396, False), (400, False)):
        for route in (f"/tweak-index/{h}", f"/filter/new-utxos/{h}", f"/block-hash/{h}",
                      f"/spent-index/{h}"):
            s, hd, _ = oracle.get(route)
            assert s == 200 and hd["etag"].startswith('"')
            if imm:
                assert hd["cache-control"] == "public, max-age=31536000, immutable", route
            else:
                assert hd["cache-control"] == "public, max-age=5", route
    # cut-through and spent flags change with later blocks: never immutable
    for route in ("/tweaks/100", "/utxos/150"):
        s, hd, _ = oracle.get(route)
        assert s == 200 and hd["cache-control"] == "public, max-age=5"
    s, hd, body = oracle.get("/tweak-index/222")
    tag = hd["etag"]
    s2, hd2, b2 = oracle.get("/tweak-index/222", headers={"If-None-Match": tag})
    assert (s2, b2) == (304, b"") and hd2["etag"] == tag
    for inm in (f'"x", {tag}', f"W/{tag}", "*"):
        assert oracle.get("/tweak-index/222", headers={"If-None-Match": inm})[0] == 304
    assert oracle.get("/tweak-index/222", headers={"If-None-Match": '"other"'})[0] == 200
    # different query, route or encoding -> different tag
    tags = {tag,
            oracle.get("/tweak-index/222?dustLimit=1000")[1]["etag"],
            oracle.get("/tweaks/222")[1]["etag"],
            oracle.get("/tweak-index/221")[1]["etag"],
            oracle.get("/tweak-index/222", headers={"Accept-Encoding": "gzip"})[1]["etag"]}
    assert len(tags) == 5
    # repeated answers (cache) are identical
    assert oracle.get("/tweak-index/222")[2] == body
    # no ETag on tip answers or errors
    for route in ("/info", "/block-height", "/tweaks/401", "/filter/foo/5"):
        assert "etag" not in oracle.get(route)[1], route


def test_status_health_metrics(oracle):
    s, h, b = oracle.get("/status")
    assert s == 200 and h["content-type"] == ac.JSON_CT and isinstance(json.loads(b), dict)
    s, h, b = oracle.get("/blindbit/health")
    assert s in (200, 503) and isinstance(json.loads(b), dict)
    oracle.get("/tweak-index/236")
    oracle.get("/nope")
    s, h, b = oracle.get("/metrics")
    assert s == 200 and h["content-type"].startswith("text/plain")
    text = b.decode()
    m = re.search(r'signetd_http_requests_total\{route="tweak_index",code="200"\} (\d+)', text)
    assert m and int(m.group(1)) >= 1
    assert re.search(r'signetd_http_requests_total\{route="none",code="404"\} \d+', text)
    assert 'signetd_http_request_duration_seconds_bucket{route="tweak_index",le="+Inf"}' in text
    # regtest-a leaves tracked unspent taproot outputs: the map holds them
    m = re.search(r"^signetd_outpoint_map_entries (\S+)$", text, re.M)
    assert m and float(m.group(1)) > 0, m
    assert re.search(r"^signetd_outpoint_map_loading 0$", text, re.M)
    assert "height=" not in text.split("signetd_http_requests_total", 1)[1].split("# HELP signetd_http_cache", 1)[0]


def test_forward_tx_and_mempool(bitcoind, signetd_factory):
    node = bitcoind
    node.ensure_wallet()
    node.generate(101)
    s = signetd_factory(node=node).start()
    s.wait_synced(101, timeout=120)
    addr = node.rpc("getnewaddress", "", "bech32m", wallet="w")
    raw = node.rpc("createrawtransaction", [], {addr: 1.5})
    funded = node.rpc("fundrawtransaction", raw, wallet="w")["hex"]
    signed = node.rpc("signrawtransactionwithwallet", funded, wallet="w")["hex"]
    txid = node.rpc("decoderawtransaction", signed)["txid"]

    st, h, b = s.request("POST", "/forward-tx", body=json.dumps({"data": signed}),
                         headers={"Content-Type": "application/json"})
    assert (st, h["content-type"], b) == (200, ac.JSON_CT, json.dumps(txid).encode())
    assert txid in node.rpc("getrawmempool")
    # form encoding and the prefix work too (already in mempool: node says ok)
    st, _, b = s.request("POST", "/blindbit/forward-tx", body=f"data={signed}",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (st, b) == (200, json.dumps(txid).encode())

    # the node's refusal, verbatim, as 400
    bad = "0200000000010000000000"
    try:
        node.rpc("sendrawtransaction", bad)
        raise AssertionError("node accepted a bad tx")
    except Exception as e:  # RPCError
        node_msg = e.message
    st, h, b = s.request("POST", "/forward-tx", body=json.dumps({"data": bad}),
                         headers={"Content-Type": "application/json"})
    assert (st, h["content-type"]) == (400, ac.JSON_CT)
    assert json.loads(b) == {"error": node_msg}

    # missing data: upstream's 400 with an empty body; invalid hex: 400 JSON
    for body, ct in (("", None), ("{}", "application/json"), ('{"data":""}', "application/json"),
                     ("x=1", "application/x-www-form-urlencoded")):
        st, h, b = s.request("POST", "/forward-tx", body=body,
                             headers={"Content-Type": ct} if ct else {})
        assert (st, b, h.get("content-type")) == (400, b"", None), body
    for data in ("zz" * 10, "abc", "00" * 200001):
        st, h, b = s.request("POST", "/forward-tx", body=json.dumps({"data": data}),
                             headers={"Content-Type": "application/json"})
        assert (st, b) == (400, b'{"error":"invalid transaction hex"}')
    assert ac.raw_status(s.port, "POST /forward-tx HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\n"
                         f"Content-Length: {(1 << 20) + 5}\r\n\r\n",
                         b"data=" + b"0" * (1 << 20)) == 413

    # the mempool tx pays a taproot output from a taproot input: a tweak
    def in_mempool():
        lst = s.get_json("/mempool/tweaks")
        return [e for e in lst if e["txid"] == txid]
    ent = wait_until(in_mempool, timeout=30, what="mempool tweak")[0]
    assert list(ent) == ["txid", "tweak", "highest_value"]
    assert re.fullmatch(r"0[23][0-9a-f]{64}", ent["tweak"])
    assert ent["highest_value"] >= 150000000
    assert s.get_json("/mempool/tweaks?dustLimit=18446744073709551615") == [] or \
        all(e["highest_value"] >= 2**64 - 1 for e in s.get_json(
            "/mempool/tweaks?dustLimit=18446744073709551615"))
    assert s.get("/mempool/tweaks?dustLimit=-1")[0] == 400
