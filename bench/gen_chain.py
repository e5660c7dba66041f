#!/usr/bin/env python3
"""gen_chain.py - build a benchmark chain on a running regtest bitcoind.

Shape (like ../shared/perf/baselines.md's 90k-tweak chain): after N_MATURE
coinbase-only blocks, a fan-out block creates BLOCKS x TXS wallet UTXOs (half
P2WPKH, half P2TR), then BLOCKS blocks of TXS transactions each: 1 or 2
inputs (P2WPKH or P2TR key path), paying 1-2 P2TR outputs plus P2WPKH
change.  Every such tx is BIP352-eligible.  The wallet signs
(signrawtransactionwithwallet), generateblock mines the raw txs directly.

Usage: gen_chain.py --rpc-url http://127.0.0.1:PORT --cookie PATH
                    [--blocks 60] [--txs 1500] [--seed 1]
The node needs -blockmaxweight=4000000 and a big mempool (-maxmempool=2000).
"""
import argparse
import base64
import http.client
import json
import random
import sys
import time
from decimal import Decimal
from urllib.parse import urlparse


class RPC:
    def __init__(self, url, cookie, wallet=None):
        u = urlparse(url)
        self.host, self.port = u.hostname, u.port
        with open(cookie) as f:
            self.auth = "Basic " + base64.b64encode(f.read().strip().encode()).decode()
        self.path = "/" if wallet is None else f"/wallet/{wallet}"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)

    def _post(self, payload):
        body = json.dumps(payload, default=str).encode()
        for attempt in range(3):
            try:
                self.conn.request("POST", self.path, body, {
                    "Authorization": self.auth, "Content-Type": "application/json"})
                r = self.conn.getresponse()
                return json.loads(r.read(), parse_float=Decimal)
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
                if attempt == 2:
                    raise

    def call(self, method, *params):
        j = self._post({"jsonrpc": "1.0", "id": 0, "method": method, "params": list(params)})
        if j.get("error"):
            raise RuntimeError(f"{method}: {j['error']}")
        return j["result"]

    def batch(self, calls, chunk=500):
        out = []
        for i in range(0, len(calls), chunk):
            part = calls[i:i + chunk]
            reqs = [{"jsonrpc": "1.0", "id": k, "method": m, "params": list(p)}
                    for k, (m, p) in enumerate(part)]
            res = self._post(reqs)
            res.sort(key=lambda r: r["id"])
            for r, (m, _) in zip(res, part):
                if r.get("error"):
                    raise RuntimeError(f"{m}: {r['error']}")
                out.append(r["result"])
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rpc-url", required=True)
    ap.add_argument("--cookie", required=True)
    ap.add_argument("--blocks", type=int, default=60)
    ap.add_argument("--txs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    node = RPC(a.rpc_url, a.cookie)
    try:
        node.call("createwallet", "gen")
    except RuntimeError:
        node.call("loadwallet", "gen")
    w = RPC(a.rpc_url, a.cookie, "gen")
    t0 = time.time()
    mine_addr = w.call("getnewaddress", "", "bech32")
    need = int(a.blocks * a.txs * 1.35) + 10
    per_fan = 1000
    n_fan = (need + per_fan - 1) // per_fan
    n_mature = max(101 + n_fan, 110)
    h = node.call("getblockcount")
    if h < n_mature:
        node.call("generatetoaddress", n_mature - h, mine_addr)
    tr_addrs = w.batch([("getnewaddress", ["", "bech32m"])] * 200)
    wpkh_addrs = w.batch([("getnewaddress", ["", "bech32"])] * 200)
    fan_tr = w.batch([("getnewaddress", ["", "bech32m"])] * (per_fan // 2))
    fan_wpkh = w.batch([("getnewaddress", ["", "bech32"])] * (per_fan // 2))
    # fan-out: n_fan txs of per_fan outputs, alternating P2WPKH / P2TR
    amount = Decimal("0.04")
    utxos = []
    for i in range(n_fan):
        # distinct addresses within one tx (createrawtransaction rule)
        outputs = [{(fan_tr if k % 2 else fan_wpkh)[k // 2]: str(amount)}
                   for k in range(per_fan)]
        raw = w.call("createrawtransaction", [], outputs)
        funded = w.call("fundrawtransaction", raw, {"fee_rate": 2})
        signed = w.call("signrawtransactionwithwallet", funded["hex"])
        tx = node.call("decoderawtransaction", signed["hex"])
        node.call("sendrawtransaction", signed["hex"])
        for o in tx["vout"]:
            if o["value"] == amount:
                utxos.append((tx["txid"], o["n"], o["scriptPubKey"]["hex"], o["value"]))
    # the fan-out txs weigh more than one block: mine until they all confirm
    while node.call("getmempoolinfo")["size"] > 0:
        node.call("generatetoaddress", 1, mine_addr)
    rnd.shuffle(utxos)
    print(f"gen_chain: {len(utxos)} utxos ready at height {node.call('getblockcount')}"
          f" in {time.time() - t0:.1f}s", file=sys.stderr)
    fee = Decimal("0.00002000")
    for b in range(a.blocks):
        tb = time.time()
        raws = []
        for _ in range(a.txs):
            n_in = 2 if rnd.random() < 0.3 and len(utxos) > 2 else 1
            ins = [utxos.pop() for _ in range(n_in)]
            total = sum(u[3] for u in ins) - fee
            n_tr = 2 if rnd.random() < 0.3 else 1
            outs = []
            pay = (total * Decimal(rnd.randint(20, 60)) / 100).quantize(Decimal("0.00000001"))
            for addr in rnd.sample(tr_addrs, n_tr):
                outs.append({addr: str((pay / n_tr).quantize(Decimal("0.00000001")))})
            change = total - sum(Decimal(list(o.values())[0]) for o in outs)
            outs.append({wpkh_addrs[rnd.randrange(200)]: str(change)})
            raws.append(("createrawtransaction",
                         [[{"txid": u[0], "vout": u[1]} for u in ins], outs]))
            if not utxos:
                break
        hexes = w.batch(raws)
        signed = w.batch([("signrawtransactionwithwallet", [h]) for h in hexes])
        for s in signed:
            assert s["complete"], s
        # generateblock validates the txs without mempool policy: fast
        node.call("generateblock", mine_addr, [s["hex"] for s in signed])
        info = node.call("getblock", node.call("getbestblockhash"), 1)
        print(f"gen_chain: block {info['height']} txs={info['nTx']} size={info['size']}"
              f" {time.time() - tb:.1f}s", file=sys.stderr)
        if not utxos:
            break
    print(f"gen_chain: done tip={node.call('getblockcount')} in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
