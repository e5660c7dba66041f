"""Shared by the API tests (conformance, abuse, nginx): a signetd synced
to regtest-a, the recorded upstream answers, and the documented deviations
(docs/compat.md) turned into exact expected answers."""
import json
import socket
import os
import shutil
import tempfile

from conftest import TESTDATA, Signetd

TIP = 400
TIP_HASH = "472c09d7bd172a6bafedd0d776389d34efa8e5f75386f37ab44d158f6aebe89d"
JSON_CT = "application/json; charset=utf-8"


def load_jsonl(name):
    with open(os.path.join(TESTDATA, "regtest-a", name)) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def recorded():
    return load_jsonl("blindbit-v1.jsonl")


def tweak_comparison():
    with open(os.path.join(TESTDATA, "regtest-a", "tweak-comparison.json")) as f:
        return json.load(f)


class Deviations:
    """The documented deviations, each as an exact rewrite of upstream's
    recorded answer into ours."""

    def __init__(self):
        cmp = tweak_comparison()
        # upstream tweak -> BIP352 tweak of the same tx (None: no tweak)
        self.tweak_fix = {}
        # txids upstream indexes that BIP352 gives no tweak (their UTXOs
        # are not tracked by us either)
        self.no_tweak_txids = set()
        self.heights = set()
        for m in cmp["tweak_index_mismatches"]:
            if m["kind"] != "extra-in-blindbit":
                continue
            self.tweak_fix[m["tweak"]] = m["expected_for_tx"]
            self.heights.add(m["height"])
            if m["expected_for_tx"] is None:
                self.no_tweak_txids.add(m["txid"])
        self.truth = {}
        for row in load_jsonl("expected-tweaks.jsonl"):
            self.truth[row["height"]] = [t for _, t in row["tweaks"] if t]
        self.block_hash = {}
        self.block_time = {}

    def fix_tweaks(self, lst):
        out = []
        for t in lst:
            if t in self.tweak_fix:
                if self.tweak_fix[t] is not None:
                    out.append(self.tweak_fix[t])
            else:
                out.append(t)
        return out

    def expected(self, row, height_of):
        """(status, content_type, body_bytes, deviation_kind or None)."""
        path = row["path"]
        body = row["body"].encode()
        st, ct = row["status"], row["content_type"]
        h = height_of(path)
        if st != 200 or h is None:
            return st, ct, body, None
        if path.startswith(("/tweak-index/", "/tweaks/")):
            lst = json.loads(body)
            fixed = self.fix_tweaks(lst)
            if fixed != lst:
                return st, ct, dumps(fixed), "bip352_tweaks"
            return st, ct, body, None
        if path.startswith("/spent-index/") and body == b"[]":
            return st, ct, dumps({"block_hash": self.block_hash[h], "data": []}), \
                "spent_index_empty_object"
        if path.startswith("/utxos/"):
            lst = json.loads(body)
            if not lst:
                return st, ct, body, None
            out = []
            for u in lst:
                if u["txid"] in self.no_tweak_txids:
                    continue
                u = dict(u)
                u["block_height"] = h
                u["timestamp"] = self.block_time[h]
                out.append(u)
            return st, ct, dumps(out), "utxos_height_timestamp"
        return st, ct, body, None


def dumps(v):
    return json.dumps(v, separators=(",", ":")).encode()


def height_of(path):
    p = path.split("?")[0].strip("/").split("/")
    if p and p[0] == "blindbit":
        p = p[1:]
    if len(p) >= 2 and p[0] in ("block-hash", "tweaks", "tweak-index", "utxos",
                                "spent-index", "filter"):
        try:
            return int(p[-1])
        except ValueError:
            return None
    return None


def start_synced(node, config=None, prefix="sd-api-"):
    d = tempfile.mkdtemp(prefix=prefix)
    s = Signetd(os.path.join(d, "sd"), node=node, config=config)
    s.tmp_root = d
    s.start()
    s.wait_synced(TIP, timeout=300)
    return s


def stop_synced(s):
    s.stop()
    text = s.log_text()
    shutil.rmtree(s.tmp_root, ignore_errors=True)
    assert "ERROR: AddressSanitizer" not in text, text[-4000:]
    assert "runtime error:" not in text, text[-4000:]


def fill_block_info(dev, node):
    for h in range(1, TIP + 1):
        bh = node.rpc("getblockhash", h)
        dev.block_hash[h] = bh
        dev.block_time[h] = node.rpc("getblockheader", bh)["time"]


def raw_status(port, head, body=b"", timeout=10):
    """Send a raw request (the server may answer and close before the body
    is all sent); returns the status code, or None when the connection was
    closed without an answer."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            sk.sendall(head.encode() + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = sk.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    finally:
        sk.close()
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])
