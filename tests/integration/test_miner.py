"""signetd miner against a real bitcoind on a custom signet (loopback).

Each test makes a key (`miner keygen`), a challenge (1-of-1 bare multisig or
P2WPKH), starts `bitcoind -signet -signetchallenge=...` and mines with it.
The node's acceptance is the proof that the signet solutions verify; the
tests also decode a block's commitment themselves.

The miner command: $SIGNETD_MINER_CMD (e.g. build/tools/miner_main), else
`$SIGNETD_BIN miner`.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BitcoinNode, find_bin, signetd_bin, wait_until

SIGNET_HEADER = bytes.fromhex("ecc7daa2")
ADDR_A = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
ADDR_B = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
SPK_A = "0014751e76e8199196d454941c45d1b3a323f1433bd6"
SPK_B = "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"


def miner_cmd():
    c = os.environ.get("SIGNETD_MINER_CMD")
    if c:
        return c.split()
    return [signetd_bin(), "miner"]


def run_miner(args, stdin=None, env=None, timeout=600, check=True):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(miner_cmd() + list(args), input=stdin, capture_output=True,
                       text=True, env=e, timeout=timeout)
    if check:
        assert p.returncode == 0, f"miner {args} -> {p.returncode}\n{p.stderr[-3000:]}"
    assert "runtime error:" not in p.stderr and "AddressSanitizer" not in p.stderr, p.stderr
    return p


def b58check(payload):
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(data, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = alphabet[r] + s
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + s


class Key:
    def __init__(self, tmp, name="key"):
        self.path = os.path.join(tmp, name + ".hex")
        info = json.loads(run_miner(["keygen", "--key-file", self.path]).stdout)
        self.pubkey = info["pubkey"]
        self.multisig = info["multisig_challenge"]
        self.p2wpkh = info["p2wpkh_challenge"]
        assert oct(os.stat(self.path).st_mode & 0o777) == "0o600"

    def wif(self):
        with open(self.path) as f:
            sk = bytes.fromhex(f.read().strip())
        return b58check(b"\xef" + sk + b"\x01")




def start_signet(tmp, challenge, name="node"):
    node = BitcoinNode(os.path.join(tmp, name), chain="signet",
                       extra_args=[f"-signetchallenge={challenge}"], zmq=False)
    return node.start()


def rpc_args(node):
    return ["--rpc-url", node.rpc_url, "--rpc-cookie", node.cookie_path]


def cli_args(node, wallet=None):
    cli = f"{find_bin('BITCOIN_CLI', 'bitcoin-cli')} -datadir={node.datadir} -rpcport={node.rpc_port}"
    if wallet:
        cli += f" -rpcwallet={wallet}"
    return ["--cli", cli]


def import_key_wallet(node, key, kind):
    """A blank descriptor wallet that can solve the challenge."""
    node.rpc("createwallet", "w", False, True)
    desc = f"multi(1,{key.wif()})" if kind == "multisig" else f"wpkh({key.wif()})"
    chk = node.rpc("getdescriptorinfo", desc)["checksum"]
    res = node.rpc("importdescriptors", [{"desc": f"{desc}#{chk}", "timestamp": "now"}],
                   wallet="w")
    assert res[0]["success"], res


def coinbase(node, height):
    h = node.rpc("getblockhash", height)
    return node.rpc("getblock", h, 2)["tx"][0]


def split_solution(spk_hex):
    """Walk the commitment script like the node: the first push > 4 bytes
    starting with the signet header is the solution."""
    s = bytes.fromhex(spk_hex)
    i = 0
    while i < len(s):
        op = s[i]
        i += 1
        if op < 0x4c:
            n = op
        elif op == 0x4c:
            n = s[i]
            i += 1
        elif op == 0x4d:
            n = int.from_bytes(s[i:i + 2], "little")
            i += 2
        else:
            continue
        d = s[i:i + n]
        i += n
        if len(d) > 4 and d[:4] == SIGNET_HEADER:
            return d[4:]
    return None


def parse_solution(sol):
    """CompactSize + scriptSig, then the witness stack."""
    n = sol[0]
    script_sig = sol[1:1 + n]
    rest = sol[1 + n:]
    k = rest[0]
    items, j = [], 1
    for _ in range(k):
        m = rest[j]
        items.append(rest[j + 1:j + 1 + m])
        j += 1 + m
    assert j == len(rest), "solution not fully consumed"
    return script_sig, items


def mined_lines(stderr):
    return [ln for ln in stderr.splitlines() if "msg=block_mined" in ln]


@pytest.fixture
def tmp(tmpdir_short):
    return tmpdir_short


def test_generate_50_native_multisig(tmp):
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    try:
        p = run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                        "--max-blocks", "50", "--key-file", key.path])
        assert node.height() == 50
        lines = mined_lines(p.stderr)
        assert len(lines) == 50
        for i, ln in enumerate(lines, 1):
            for k in ("height=", "hash=", "txs=", "grind_s=", "hashes="):
                assert k in ln, ln
            assert f"height={i} " in ln
            h = re.search(r"hash=([0-9a-f]{64})", ln).group(1)
            assert node.rpc("getblockhash", i) == h
        # decode block 7's solution: OP_0 + one DER signature, no witness
        cb = coinbase(node, 7)
        assert cb["vout"][0]["scriptPubKey"]["hex"] == SPK_A
        assert cb["vout"][0]["value"] == 50
        commit = cb["vout"][-1]["scriptPubKey"]["hex"]
        assert commit.startswith("6a24aa21a9ed")
        sol = split_solution(commit)
        script_sig, wit = parse_solution(sol)
        assert wit == []
        assert script_sig[0] == 0 and script_sig[1] in (0x46, 0x47, 0x48)
        sig = script_sig[2:2 + script_sig[1]]
        assert sig[0] == 0x30 and sig[-1] == 0x01
        assert cb["vin"][0]["coinbase"].startswith("5700")  # height 7, padded
        # block times: backdated 100 intervals, spaced 600 s of block time
        t1 = node.rpc("getblockheader", node.rpc("getblockhash", 1))["time"]
        t2 = node.rpc("getblockheader", node.rpc("getblockhash", 2))["time"]
        assert t2 - t1 == 600
        assert abs(t1 - (time.time() - 60030)) < 300
    finally:
        node.stop()


def test_p2wpkh_native_and_wallet_paths(tmp):
    key = Key(tmp)
    node = start_signet(tmp, key.p2wpkh)
    try:
        # native key from the environment, JSON-RPC
        run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                    "--max-blocks", "3"],
                  env={"SIGNET_MINER_KEY": key.wif()})
        assert node.height() == 3
        # the node's wallet through --cli, as the reference
        import_key_wallet(node, key, "p2wpkh")
        p = run_miner(cli_args(node, "w") + ["generate", "--address", ADDR_B,
                                             "--min-nbits", "--max-blocks", "3"])
        assert node.height() == 6
        assert len(mined_lines(p.stderr)) == 3
        cb = coinbase(node, 5)
        assert cb["vout"][0]["scriptPubKey"]["hex"] == SPK_B
        script_sig, wit = parse_solution(split_solution(cb["vout"][-1]["scriptPubKey"]["hex"]))
        assert script_sig == b"" and len(wit) == 2
        assert wit[1].hex() == key.pubkey
        # a wallet that cannot sign: clear failure, non-zero exit
        node.rpc("createwallet", "empty", False, True)
        p = run_miner(cli_args(node, "empty") + ["generate", "--address", ADDR_B,
                                                 "--min-nbits"], check=False)
        assert p.returncode != 0
        assert "PSBT signing failed" in p.stderr
        assert node.height() == 6
    finally:
        node.stop()


def test_wallet_multisig_jsonrpc_and_reward_split(tmp):
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    try:
        import_key_wallet(node, key, "multisig")
        run_miner(rpc_args(node) + ["--rpc-wallet", "w", "generate",
                                    "--address", ADDR_A, "--relay-address", ADDR_B,
                                    "--reward-split", "0.25", "--min-nbits",
                                    "--max-blocks", "2", "--poolnum", "7"])
        assert node.height() == 2
        cb = coinbase(node, 2)
        outs = cb["vout"]
        assert len(outs) == 3
        assert outs[0]["scriptPubKey"]["hex"] == SPK_A
        assert outs[1]["scriptPubKey"]["hex"] == SPK_B
        assert round(outs[0]["value"] * 1e8) == 3_750_000_000
        assert round(outs[1]["value"] * 1e8) == 1_250_000_000
        assert outs[2]["scriptPubKey"]["hex"].startswith("6a24aa21a9ed")
        assert cb["vin"][0]["coinbase"] == "5200" + "0a" + b"/signet:7/".hex()
        # env form of the split (4NK fork): COINBASE_ADDRESS, RELAY_ADDRESS, ratio
        run_miner(rpc_args(node) + ["--rpc-wallet", "w", "generate", "--min-nbits"],
                  env={"COINBASE_ADDRESS": ADDR_B, "RELAY_ADDRESS": ADDR_A,
                       "REWARD_SPLIT_RATIO": "0.5"})
        outs = coinbase(node, 3)["vout"]
        assert outs[0]["scriptPubKey"]["hex"] == SPK_B
        assert outs[1]["scriptPubKey"]["hex"] == SPK_A
        assert round(outs[0]["value"] * 1e8) == round(outs[1]["value"] * 1e8) == 2_500_000_000
    finally:
        node.stop()


def test_genpsbt_solvepsbt_equals_generate(tmp):
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    try:
        import_key_wallet(node, key, "multisig")
        run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                    "--max-blocks", "2", "--key-file", key.path])
        tmpl = node.rpc("getblocktemplate", {"rules": ["signet", "segwit"]})
        psbt = run_miner(rpc_args(node) + ["genpsbt", "--address", ADDR_A],
                         stdin=json.dumps(tmpl)).stdout.strip()
        dec = node.rpc("decodepsbt", psbt)
        assert len(dec["tx"]["vin"]) == 1 and dec["tx"]["vout"][0]["scriptPubKey"]["hex"] == "6a"
        signed = node.rpc("walletprocesspsbt", psbt, True, "ALL", wallet="w")
        assert signed["complete"]
        block_hex = run_miner(["solvepsbt"], stdin=signed["psbt"]).stdout.strip()
        # the same step in one go, at the template's time: identical block
        run_miner(rpc_args(node) + ["generate", "--address", ADDR_A,
                                    "--set-block-time", str(tmpl["curtime"]),
                                    "--key-file", key.path])
        best = node.rpc("getbestblockhash")
        assert node.rpc("getblock", best, 0) == block_hex
        assert node.rpc("getblockheader", best)["time"] == tmpl["curtime"]
        # and with --grind-cmd (bitcoin-util grind) the block is valid too
        util = find_bin("BITCOIN_UTIL", "bitcoin-util")
        tmpl = node.rpc("getblocktemplate", {"rules": ["signet", "segwit"]})
        psbt = run_miner(rpc_args(node) + ["genpsbt", "--address", ADDR_B],
                         stdin=json.dumps(tmpl)).stdout.strip()
        signed = node.rpc("walletprocesspsbt", psbt, True, "ALL", wallet="w")
        block_hex = run_miner(["solvepsbt", "--grind-cmd", f"{util} grind"],
                              stdin=signed["psbt"]).stdout.strip()
        assert node.rpc("submitblock", block_hex) is None
        assert node.height() == 4
    finally:
        node.stop()


def test_ongoing_spacing_and_node_restart(tmp):
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    proc = None
    try:
        # one block stamped exactly at T
        t0 = int(time.time()) - 30
        run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                    "--set-block-time", str(t0), "--key-file", key.path])
        assert node.rpc("getblockheader", node.rpc("getbestblockhash"))["time"] == t0
        logf = open(os.path.join(tmp, "miner.log"), "w")
        proc = subprocess.Popen(miner_cmd() + rpc_args(node) + [
            "generate", "--ongoing", "--min-nbits", "--block-interval", "3",
            "--address", ADDR_A, "--key-file", key.path],
            stdout=subprocess.DEVNULL, stderr=logf)
        wait_until(lambda: node.height() >= 6, timeout=120, what="ongoing blocks")
        # block times follow tip.time + interval (3 s here), never far ahead
        times = [node.rpc("getblockheader", node.rpc("getblockhash", h))["time"]
                 for h in range(1, node.height() + 1)]
        for a, b in zip(times[1:], times[2:]):
            assert b - a == 3, times
        assert times[-1] <= time.time() + 5
        # the node goes away mid-run and comes back: the miner carries on
        node.kill()
        time.sleep(4)
        assert proc.poll() is None, "miner died with the node"
        # its next call must find the node gone (it may be sleeping until
        # the next block's time: wait for that call, not a fixed time)
        def saw_gone():
            with open(os.path.join(tmp, "miner.log")) as f:
                return "msg=node_unreachable" in f.read()
        wait_until(saw_gone, timeout=60, what="the miner sees the node gone")
        assert proc.poll() is None, "miner died with the node"
        node.start()
        h = node.height()
        wait_until(lambda: node.height() >= h + 3, timeout=120, what="mining after restart")
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc = None
        logf.close()
        with open(os.path.join(tmp, "miner.log")) as f:
            log = f.read()
        assert "msg=node_unreachable" in log
        assert "msg=node_back" in log
        assert "runtime error:" not in log
    finally:
        if proc:
            proc.kill()
            proc.wait()
        node.stop()


def test_usage_errors_exit_nonzero(tmp):
    for args in (["generate", "--address", ADDR_A],                       # no nbits
                 ["generate", "--address", ADDR_A, "--min-nbits", "--max-interval", "900"],
                 ["generate", "--address", ADDR_A, "--min-nbits", "--multiminer", "1/2"],
                 ["generate", "--address", ADDR_A, "--min-nbits", "--max-blocks", "0"],
                 [],
                 ["bogus"]):
        p = run_miner(args, check=False)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
    p = run_miner(["solvepsbt"], stdin="not base64!", check=False)
    assert p.returncode == 1 and "bad_psbt" in p.stderr


# ---- issue 14: the miner in the LeCoffre stack -------------------------------

def test_empty_env_means_unset(tmp):
    """compose sets every variable, empty when unset (${X:-}): RPC_USER=""
    and RPC_PASS="" must not win over the cookie (they sent ":" and got 401
    for ever), and no other empty variable may change anything."""
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    try:
        empty = {k: "" for k in ("RPC_USER", "RPC_PASS", "RPC_URL", "RPC_WALLET",
                                 "BITCOIN_DATADIR", "SIGNET_MINER_KEY", "RELAY_ADDRESS",
                                 "REWARD_SPLIT_RATIO", "COINBASE_ADDRESS")}
        env = dict(empty, RPC_COOKIE=node.cookie_path, SIGNET_MINER_KEY_FILE=key.path)
        p = run_miner(["--rpc-url", node.rpc_url, "generate", "--address", ADDR_A,
                       "--min-nbits", "--max-blocks", "2"], env=env, timeout=90)
        assert node.height() == 2
        assert "msg=rpc_auth auth=cookie" in p.stderr, p.stderr
        # one reward output (no relay split from an empty RELAY_ADDRESS)
        assert len(coinbase(node, 2)["vout"]) == 2
        # the other way round: empty SIGNET_MINER_KEY_FILE, key in SIGNET_MINER_KEY
        env = dict(empty, RPC_COOKIE=node.cookie_path, SIGNET_MINER_KEY_FILE="",
                   SIGNET_MINER_KEY=key.wif(), COINBASE_ADDRESS=ADDR_B)
        run_miner(["--rpc-url", node.rpc_url, "generate", "--min-nbits"], env=env,
                  timeout=90)
        assert node.height() == 3
        assert coinbase(node, 3)["vout"][0]["scriptPubKey"]["hex"] == SPK_B
    finally:
        node.stop()


def test_key_that_cannot_sign_the_challenge_is_refused(tmp):
    """A fresh `keygen` key cannot sign an existing signet: refused before
    anything is mined, with the pubkey the chain wants, exit 2."""
    owner = Key(tmp, "owner")
    stranger = Key(tmp, "stranger")
    for kind in ("multisig", "p2wpkh"):
        node = start_signet(tmp, getattr(owner, kind), name=f"node-{kind}")
        try:
            p = run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                            "--key-file", stranger.path], check=False,
                          timeout=60)
            assert p.returncode == 2, (kind, p.returncode, p.stderr[-2000:])
            assert "msg=key_challenge_mismatch" in p.stderr, p.stderr
            assert "cannot sign this chain's" in p.stderr
            assert stranger.pubkey in p.stderr
            assert (owner.pubkey if kind == "multisig" else owner.p2wpkh[4:]) in p.stderr
            assert "keygen only makes keys for a new signet" in p.stderr
            assert "msg=block_mined" not in p.stderr and "msg=rpc_call" not in p.stderr
            assert node.height() == 0
            # the right key passes the same check and mines
            p = run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                            "--key-file", owner.path], timeout=60)
            assert "msg=challenge_ok" in p.stderr and node.height() == 1
        finally:
            node.stop()
    # p2tr: not signed natively, whoever's key: said before mining
    node = start_signet(tmp, "5120" + owner.pubkey[2:], name="node-p2tr")
    try:
        p = run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                        "--key-file", owner.path], check=False, timeout=60)
        assert p.returncode == 2, p.stderr[-2000:]
        assert "not this p2tr one" in p.stderr and "wallet" in p.stderr
        assert node.height() == 0
    finally:
        node.stop()


def test_p2pk_challenge_native(tmp):
    """`<pubkey> OP_CHECKSIG` challenges are signed natively too."""
    key = Key(tmp)
    node = start_signet(tmp, "21" + key.pubkey + "ac")
    try:
        run_miner(rpc_args(node) + ["generate", "--address", ADDR_A, "--min-nbits",
                                    "--max-blocks", "2", "--key-file", key.path])
        assert node.height() == 2
        script_sig, wit = parse_solution(split_solution(
            coinbase(node, 2)["vout"][-1]["scriptPubKey"]["hex"]))
        assert wit == [] and script_sig[0] in (0x46, 0x47, 0x48)
    finally:
        node.stop()


def test_help_does_not_send_operators_to_keygen():
    p = run_miner(["--help"])
    assert "only for a NEW signet" in p.stdout
    assert "key of the chain's signet challenge" in p.stdout
    assert "--cli-timeout" in p.stdout and "--grind-timeout" in p.stdout


def test_invalid_reward_split_ratio_is_an_error(tmp):
    """REWARD_SPLIT_RATIO was silently 0.5 when invalid: exit 2, named."""
    for bad in ("abc", "1.5", "-0.1", "nan", "0.5x"):
        p = run_miner(["solvepsbt"], stdin="", env={"REWARD_SPLIT_RATIO": bad},
                      check=False, timeout=30)
        assert p.returncode == 2, (bad, p.returncode, p.stderr)
        assert "option=REWARD_SPLIT_RATIO" in p.stderr, p.stderr
    p = run_miner(["generate", "--address", ADDR_A, "--min-nbits",
                   "--reward-split", "nan"], check=False, timeout=30)
    assert p.returncode == 2, p.stderr


def _ongoing(node, key, log, extra=(), prefix=()):
    return subprocess.Popen(list(prefix) + miner_cmd() + rpc_args(node) + [
        "generate", "--ongoing", "--min-nbits", "--block-interval", "2",
        "--address", ADDR_A, "--key-file", key.path] + list(extra),
        stdout=subprocess.DEVNULL, stderr=log)


def _read(path):
    with open(path) as f:
        return f.read()


def test_sigterm_stops_ongoing_miner_cleanly(tmp):
    """SIGTERM/SIGINT: the --ongoing miner stops promptly and exits 0."""
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    procs = []
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            path = os.path.join(tmp, f"m{int(sig)}.log")
            with open(path, "w") as log:
                proc = _ongoing(node, key, log)
                procs.append(proc)
                h = node.height()
                wait_until(lambda: node.height() >= h + 2, timeout=120, what="blocks")
                t0 = time.time()
                proc.send_signal(sig)
                rc = proc.wait(timeout=20)
            assert rc == 0, (sig, rc, _read(path)[-2000:])
            assert time.time() - t0 < 10
            text = _read(path)
            assert f"msg=miner_stopped signal={sig.name}" in text, text[-2000:]
            assert "runtime error:" not in text
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        node.stop()


def _pid1(prefix_proc):
    """The pid (in our namespace) of the child `unshare --fork` started."""
    path = f"/proc/{prefix_proc.pid}/task/{prefix_proc.pid}/children"

    def child():
        with open(path) as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    return wait_until(child, timeout=30, what="unshare's child")


UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child"]


def test_sigterm_as_pid1(tmp):
    """As PID 1 (a container without an init) signals without a handler
    are ignored: the miner must still stop on SIGTERM, exit 0."""
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    proc = None
    path = os.path.join(tmp, "pid1.log")
    try:
        with open(path, "w") as log:
            proc = _ongoing(node, key, log, prefix=UNSHARE)
            pid = _pid1(proc)
            wait_until(lambda: node.height() >= 2, timeout=120, what="blocks")
            os.kill(pid, signal.SIGTERM)
            rc = proc.wait(timeout=20)
        assert rc == 0, (rc, _read(path)[-2000:])
        assert "msg=miner_stopped signal=SIGTERM" in _read(path)
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        node.stop()


def _drop_to_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def test_unreadable_cookie_says_permission_denied(tmp):
    """bitcoind's 0600 cookie read by another user: the miner says
    "cannot read cookie <path>: Permission denied", not a bare 401."""
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    d = os.path.join(tmp, "ck")
    os.mkdir(d)
    os.chmod(d, 0o755)
    cookie = os.path.join(d, ".cookie")
    with open(cookie, "w") as f:
        f.write(open(node.cookie_path).read())
    os.chmod(cookie, 0o600)
    kw = {}
    if os.geteuid() == 0:
        kw["preexec_fn"] = _drop_to_nobody  # root reads any file
    else:
        os.chmod(cookie, 0)
    os.chmod(key.path, 0o600)
    path = os.path.join(tmp, "ck.log")
    proc = None
    try:
        env = dict(os.environ, SIGNET_MINER_KEY=key.wif())
        with open(path, "w") as log:
            proc = subprocess.Popen(miner_cmd() + [
                "--rpc-url", node.rpc_url, "--rpc-cookie", cookie, "generate",
                "--address", ADDR_A, "--min-nbits"], stdout=subprocess.DEVNULL,
                stderr=log, env=env, **kw)
            wait_until(lambda: "msg=node_unreachable" in _read(path), timeout=60,
                       what="node_unreachable")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        text = _read(path)
        assert f"msg=cookie_unreadable path={cookie} err=\"Permission denied\"" in text, text
        assert f"cannot read cookie {cookie}: Permission denied" in text, text
        assert "authentication refused" not in text
        assert node.height() == 0
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        node.stop()


# ---- issue 16.12: the miner's children ----------------------------------------

def _script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def test_children_get_no_secrets(tmp):
    """--cli and --grind-cmd children see neither RPC_PASS nor
    SIGNET_MINER_KEY (user/password auth and a key file in use)."""
    import hmac
    key = Key(tmp)
    salt = "5a17c0ffee5a17c0ffee5a17c0ffee00"
    pw = "pw-" + os.urandom(8).hex()
    auth = hmac.new(salt.encode(), pw.encode(), hashlib.sha256).hexdigest()
    node = BitcoinNode(os.path.join(tmp, "node"), chain="signet", zmq=False,
                       extra_args=[f"-signetchallenge={key.multisig}",
                                   f"-rpcauth=miner:{salt}${auth}"]).start()
    util = find_bin("BITCOIN_UTIL", "bitcoin-util")
    grind_env = os.path.join(tmp, "grind.env")
    grind = _script(os.path.join(tmp, "grind.sh"),
                    f'env > "{grind_env}"\nexec "{util}" grind "$@"')
    wif = key.wif()
    try:
        p = run_miner(["--rpc-url", node.rpc_url, "--rpc-user", "miner", "generate",
                       "--address", ADDR_A, "--min-nbits", "--key-file", key.path,
                       "--grind-cmd", grind],
                      env={"RPC_PASS": pw, "SIGNET_MINER_KEY": wif}, timeout=120)
        assert node.height() == 1, p.stderr
        text = _read(grind_env)
        assert "PATH=" in text
        assert pw not in text and "RPC_PASS=" not in text
        assert wif not in text and "SIGNET_MINER_KEY=" not in text
        assert "msg=rpc_auth auth=user" in p.stderr
        # the --cli child too
        cli_env = os.path.join(tmp, "cli.env")
        cli = _script(os.path.join(tmp, "cli.sh"),
                      f'env > "{cli_env}"\nexec "{find_bin("BITCOIN_CLI", "bitcoin-cli")}" '
                      f'-datadir={node.datadir} -rpcport={node.rpc_port} "$@"')
        run_miner(["--cli", cli, "generate", "--address", ADDR_A, "--min-nbits",
                   "--key-file", key.path],
                  env={"RPC_PASS": pw, "SIGNET_MINER_KEY": wif}, timeout=120)
        assert node.height() == 2
        text = _read(cli_env)
        assert "PATH=" in text and pw not in text and wif not in text
    finally:
        node.stop()


def test_children_time_out(tmp):
    """A --grind-cmd that never answers is killed at --grind-timeout (an
    error, exit 1); a --cli that hangs is killed at --cli-timeout and
    retried like an unreachable node."""
    key = Key(tmp)
    node = start_signet(tmp, key.multisig)
    pidfile = os.path.join(tmp, "grind.pid")
    grind = _script(os.path.join(tmp, "hang.sh"), f'echo $$ > "{pidfile}"\nexec sleep 300')
    try:
        t0 = time.time()
        p = run_miner(rpc_args(node) + ["--grind-timeout", "2", "generate",
                                        "--address", ADDR_A, "--min-nbits",
                                        "--key-file", key.path, "--grind-cmd", grind],
                      check=False, timeout=60)
        assert p.returncode == 1, p.stderr[-2000:]
        assert time.time() - t0 < 30
        assert "--grind-cmd killed: no header after 2 s (--grind-timeout)" in p.stderr
        pid = int(_read(pidfile))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert node.height() == 0
        # --cli: killed after 2 s, logged as an unreachable node, SIGTERM ends it
        cli = _script(os.path.join(tmp, "hangcli.sh"), "exec sleep 300")
        path = os.path.join(tmp, "cli.log")
        with open(path, "w") as log:
            proc = subprocess.Popen(miner_cmd() + [
                "--cli", cli, "--cli-timeout", "2", "generate", "--address", ADDR_A,
                "--min-nbits", "--key-file", key.path],
                stdout=subprocess.DEVNULL, stderr=log)
            try:
                wait_until(lambda: "msg=node_unreachable" in _read(path), timeout=30,
                           what="cli timeout")
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=20) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert "no answer to getblockchaininfo in 2 s (--cli-timeout)" in _read(path)
    finally:
        node.stop()
