"""gen_chain.py - build a benchmark chain on a running regtest bitcoind.

Shape (like ../shared/perf/baselines.md's 90k-tweak chain): after the
coinbases mature, fan-out txs create ~1.55 x BLOCKS x TXS UTXOs (half
P2WPKH, half P2TR), then BLOCKS blocks of TXS +- 7% eligible txs each: 1
or 2 inputs (P2WPKH or P2TR key path), paying 1-2 P2TR outputs plus change
(P2TR 30% of the time, else P2WPKH), and 4-6% more txs paying P2WPKH only
(not eligible).  generateblock mines the raw
txs directly (no mempool policy, no fee competition).

No wallet: the keys are derived from --seed here, addresses come from the
node's descriptor RPCs and the node signs with descriptorprocesspsbt and
the private-key descriptors (a wallet holding 100k+ UTXOs of 1000-output
txs spends seconds and megabytes of sqlite writes per transaction update).

Usage: gen_chain.py --rpc-url http://127.0.0.1:PORT --cookie PATH
                    [--blocks 60] [--txs 1500] [--seed 1]
The node needs -blockmaxweight=4000000 and a big mempool (-maxmempool=2000).
"""
import argparse
import base64
import hashlib
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


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58check(b):
    b = b + hashlib.sha256(hashlib.sha256(b).digest()).digest()[:4]
    n = int.from_bytes(b, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = _B58[r] + s
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + s


class Keys:
    """n deterministic keys (regtest WIF) with their wpkh() and tr()
    private descriptors, addresses and scriptPubKeys."""

    def __init__(self, node, seed, n):
        self.wif = [_b58check(b"\xef" + hashlib.sha256(f"signetd-bench-{seed}-{i}".encode())
                              .digest() + b"\x01") for i in range(n)]
        self.desc, self.addr, self.spk = {}, {}, {}
        for kind in ("wpkh", "tr"):
            priv = [f"{kind}({w})" for w in self.wif]
            pub = [i["descriptor"] for i in node.batch([("getdescriptorinfo", [d]) for d in priv])]
            addrs = [r[0] for r in node.batch([("deriveaddresses", [d]) for d in pub])]
            spks = [r["scriptPubKey"] for r in node.batch([("validateaddress", [x]) for x in addrs])]
            self.desc[kind], self.addr[kind], self.spk[kind] = priv, addrs, spks
        self.mine_addr = self.addr["wpkh"][0]


# key ranges: 0 coinbase/change of the fan-out, 1..500 fan-out outputs
# (spent by the bench txs), 501..700 P2TR payees, 701..900 P2WPKH change
N_KEYS = 901
FAN_KEYS = range(1, 501)
PAY_KEYS = range(501, 701)
CHANGE_KEYS = range(701, 901)


def sign(node, raws_and_descs):
    """[(psbt, [descriptors])] -> final tx hexes (descriptorprocesspsbt
    finds the prevouts in the UTXO set or the mempool)."""
    res = node.batch([("descriptorprocesspsbt", [p, d]) for p, d in raws_and_descs])
    for r in res:
        assert r["complete"], r
    return [r["hex"] for r in res]


def fan_out(node, keys, need, amount=Decimal("0.04"), per_fan=1000):
    """Mature enough coinbases, then ceil(need / per_fan) txs of per_fan
    outputs (alternating P2WPKH / P2TR, distinct keys), mined.  Returns the
    utxos as (txid, vout, private descriptor, value)."""
    n_fan = (need + per_fan - 1) // per_fan
    assert per_fan <= 2 * len(FAN_KEYS)
    # regtest halves every 150 blocks (50 -> 25 BTC); one fan-out tx of
    # 1000 x 0.04 needs 40 BTC: one 50 BTC or two 25 BTC coinbases
    n_mature = 110 + (n_fan if n_fan <= 139 else 2 * n_fan)
    h = node.call("getblockcount")
    if h < n_mature:
        node.call("generatetoaddress", n_mature - h, keys.mine_addr)
    tip = node.call("getblockcount")
    hashes = node.batch([("getblockhash", [x]) for x in range(1, tip - 99)])
    cbs = [b["tx"][0] for b in node.batch([("getblock", [x, 1]) for x in hashes])]
    outs = node.batch([("gettxout", [t, 0]) for t in cbs])
    coins = [(t, o["value"]) for t, o in zip(cbs, outs)
             if o and o["scriptPubKey"]["hex"] == keys.spk["wpkh"][0]]
    coins.sort(key=lambda c: -c[1])
    fee = Decimal("0.001")  # ~44 kvB at ~2 sat/vB
    targets = []
    for k in range(per_fan):
        kind = "tr" if k % 2 else "wpkh"
        targets.append((kind, FAN_KEYS[k // 2]))
    utxos = []
    for _ in range(n_fan):
        ins, got = [], Decimal(0)
        while got < amount * per_fan + fee:
            if not coins:
                raise RuntimeError("fan_out: not enough mature coinbases")
            t, v = coins.pop(0)
            ins.append({"txid": t, "vout": 0})
            got += v
        outputs = [{keys.addr[kind][i]: str(amount)} for kind, i in targets]
        change = got - amount * per_fan - fee
        if change > Decimal("0.0001"):
            outputs.append({keys.mine_addr: str(change)})
        psbt = node.call("createpsbt", ins, outputs)
        hexes = sign(node, [(psbt, [keys.desc["wpkh"][0]])])
        txid = node.call("sendrawtransaction", hexes[0])
        for k, (kind, i) in enumerate(targets):
            utxos.append((txid, k, keys.desc[kind][i], amount))
    # the fan-out txs weigh more than one block: mine until they all confirm
    while node.call("getmempoolinfo")["size"] > 0:
        node.call("generatetoaddress", 1, keys.mine_addr)
    return utxos


class TxMaker:
    """Signed BIP352-eligible txs: 1 or 2 inputs (P2WPKH or P2TR key path)
    paying 1-2 P2TR outputs plus P2WPKH change."""

    def __init__(self, node, keys, rnd, utxos):
        self.node, self.keys, self.rnd, self.utxos = node, keys, rnd, utxos
        self.tr_addrs = [keys.addr["tr"][i] for i in PAY_KEYS]
        self.wpkh_addrs = [keys.addr["wpkh"][i] for i in CHANGE_KEYS]
        self.fee = Decimal("0.00002000")

    def txs(self, n, plain=0):
        """n eligible txs (1-2 inputs, 50/50), then `plain` txs without a
        taproot output (not eligible), shuffled together."""
        rnd, utxos = self.rnd, self.utxos
        reqs, descs = [], []
        for k in range(n + plain):
            if not utxos:
                break
            n_in = 2 if rnd.random() < 0.5 and len(utxos) > 2 else 1
            ins = [utxos.pop() for _ in range(n_in)]
            total = sum(u[3] for u in ins) - self.fee
            outs = []
            pay = (total * Decimal(rnd.randint(20, 60)) / 100).quantize(Decimal("0.00000001"))
            if k < n:
                n_tr = 2 if rnd.random() < 0.5 else 1
                payees = rnd.sample(self.tr_addrs, n_tr)
            else:
                payees = [self.wpkh_addrs[rnd.randrange(len(self.wpkh_addrs))]]
            for addr in payees:
                outs.append({addr: str((pay / len(payees)).quantize(Decimal("0.00000001")))})
            change = total - sum(Decimal(list(o.values())[0]) for o in outs)
            # change: P2WPKH, P2TR for 30% of the eligible txs
            if k < n and rnd.random() < 0.3:
                caddr = self.tr_addrs[rnd.randrange(len(self.tr_addrs))]
                if caddr in payees:
                    caddr = self.wpkh_addrs[rnd.randrange(len(self.wpkh_addrs))]
            else:
                caddr = self.wpkh_addrs[rnd.randrange(len(self.wpkh_addrs))]
                if caddr in payees:
                    caddr = self.tr_addrs[0] if k < n else self.wpkh_addrs[
                        (self.wpkh_addrs.index(caddr) + 1) % len(self.wpkh_addrs)]
            outs.append({caddr: str(change)})
            reqs.append(("createpsbt", [[{"txid": u[0], "vout": u[1]} for u in ins], outs]))
            descs.append(sorted({u[2] for u in ins}))
        order = list(range(len(reqs)))
        rnd.shuffle(order)
        reqs = [reqs[i] for i in order]
        descs = [descs[i] for i in order]
        psbts = self.node.batch(reqs)
        return sign(self.node, list(zip(psbts, descs)))


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
    t0 = time.time()
    keys = Keys(node, a.seed, N_KEYS)
    # eligible txs per block vary +-7% around --txs, plus 5% of txs
    # without a taproot output; 1.5 inputs a tx on average
    per_block = [rnd.randint(int(a.txs * 0.93), int(a.txs * 1.07)) for _ in range(a.blocks)]
    plain = [rnd.randint(int(a.txs * 0.04), int(a.txs * 0.06)) for _ in range(a.blocks)]
    utxos = fan_out(node, keys, int((sum(per_block) + sum(plain)) * 1.55) + 10)
    rnd.shuffle(utxos)
    print(f"gen_chain: {len(utxos)} utxos ready at height {node.call('getblockcount')}"
          f" in {time.time() - t0:.1f}s", file=sys.stderr)
    maker = TxMaker(node, keys, rnd, utxos)
    for b in range(a.blocks):
        tb = time.time()
        hexes = maker.txs(per_block[b], plain[b])
        if not hexes:
            break
        # generateblock validates the txs without mempool policy: fast
        node.call("generateblock", keys.mine_addr, hexes)
        info = node.call("getblock", node.call("getbestblockhash"), 1)
        print(f"gen_chain: block {info['height']} txs={info['nTx']} size={info['size']}"
              f" {time.time() - tb:.1f}s", file=sys.stderr)
    print(f"gen_chain: done tip={node.call('getblockcount')} in {time.time() - t0:.1f}s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
