"""signetd as a process against a real bitcoind: `-datadir` forms, config
file and environment, exit codes, sync and follow, signals.

Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags or configuration."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BitcoinNode, signetd_bin, wait_until




@pytest.fixture
def bitcoind(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "node")).start()
    yield node
    node.stop()


def run(args, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([signetd_bin()] + args, capture_output=True, text=True,
                          timeout=timeout, env=e)


def write_toml(d, text):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "blindbit.toml"), "w") as f:
        f.write(text)


GOOD = ('host = "127.0.0.1:18000"\nchain = "regtest"\n'
        'rpc_endpoint = "http://127.0.0.1:1"\ncookie_path = "/nonexistent/.cookie"\n')


def test_help_and_version():
    r = run(["--help"])
    assert r.returncode == 0, r.stderr
    for key in ("host", "chain", "rpc_endpoint", "cookie_path", "rpc_user", "rpc_pass",
                "sync_start_height", "max_parallel_requests",
                "max_parallel_tweak_computations", "tweaks_only", "tweaks_full_basic",
                "tweaks_full_with_dust_filter", "tweaks_cut_through_with_dust_filter",
                "zmq_hashblock", "zmq_rawtx", "log_level", "log_file", "block_source",
                "health_max_tip_age", "health_max_index_lag"):
        assert f"\n  {key} ({key.upper()}) " in r.stdout, key
    assert "-datadir" in r.stdout
    for flag in ("--version", "-version"):
        r = run([flag])
        assert r.returncode == 0
        assert r.stdout.startswith("signetd version: "), r.stdout
    r = run(["-h"])
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_datadir_forms_and_print_config(tmpdir_short):
    d = os.path.join(tmpdir_short, "dd")
    write_toml(d, GOOD + 'rpc_user = "u"\nrpc_pass = "topsecret"\nmax_parallel_requests = 7\n')
    for args in (["-datadir", d], ["--datadir", d], [f"--datadir={d}"], [f"-datadir={d}"]):
        r = run(args + ["--print-config"])
        assert r.returncode == 0, (args, r.stderr)
        assert 'host = "127.0.0.1:18000"' in r.stdout
        assert "max_parallel_requests = 7" in r.stdout
        assert 'rpc_pass = "<redacted>"' in r.stdout
        assert "topsecret" not in r.stdout + r.stderr
    # environment wins over the file
    r = run(["-datadir", d, "-print-config"], env={"MAX_PARALLEL_REQUESTS": "3",
                                                   "CHAIN": "signet"})
    assert r.returncode == 0, r.stderr
    assert "max_parallel_requests = 3" in r.stdout and 'chain = "signet"' in r.stdout
    # 0 tweak threads means the cores, never 0
    assert "max_parallel_tweak_computations = 0" not in r.stdout
    assert f"max_parallel_tweak_computations = {os.cpu_count()}" in r.stdout
    # a missing file is a warning, then defaults (+ env)
    e = os.path.join(tmpdir_short, "empty")
    r = run(["-datadir", e, "--print-config"], env={"COOKIE_PATH": "/c"})
    assert r.returncode == 0, r.stderr
    assert "config_missing" in r.stderr
    assert 'host = "127.0.0.1:8000"' in r.stdout and 'chain = "signet"' in r.stdout
    assert "sync_start_height = 1" in r.stdout
    # ~ expands to $HOME (default datadir ~/.blindbit-oracle)
    r = run(["--print-config"], env={"HOME": tmpdir_short, "COOKIE_PATH": "/c"})
    assert r.returncode == 0
    assert os.path.join(tmpdir_short, ".blindbit-oracle", "blindbit.toml") in r.stderr


def test_bad_config_exits_2_naming_the_key(tmpdir_short):
    d = os.path.join(tmpdir_short, "bad")
    cases = [
        (GOOD + "max_parallel_requests = lots\n", "blindbit.toml:5: max_parallel_requests"),
        (GOOD + 'chain = "mainnet"\n', "chain"),
        (GOOD + "tweaks_only = maybe\n", "blindbit.toml:5: tweaks_only: expected a boolean"),
        (GOOD + "tweaks_only = 1\ntweaks_cut_through_with_dust_filter = 1\n",
         "tweaks_cut_through_with_dust_filter"),
        (GOOD.replace("127.0.0.1:18000", "localhost"), "host"),
        ('chain = "regtest"\n', "cookie_path: no RPC credentials"),
        (GOOD + "[oracle]\n", "blindbit.toml:5: [tables] are not supported"),
        (GOOD + 'log_level = "loud"\n', "log_level"),
    ]
    for text, want in cases:
        write_toml(d, text)
        t0 = time.time()
        r = run(["-datadir", d])
        assert r.returncode == 2, (text, r.returncode, r.stderr)
        assert want in r.stderr, (want, r.stderr)
        assert time.time() - t0 < 5
    # a bad environment value names the variable and the key
    write_toml(d, GOOD)
    r = run(["-datadir", d], env={"MAX_PARALLEL_TWEAK_COMPUTATIONS": "-3"})
    assert r.returncode == 2
    assert "env MAX_PARALLEL_TWEAK_COMPUTATIONS: max_parallel_tweak_computations" in r.stderr
    # bad flags
    for args in (["-datadir"], ["--bogus"], ["stray"], ["-reprune"]):
        r = run(args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("signetd: "), r.stderr


def test_unknown_key_is_a_warning(tmpdir_short):
    d = os.path.join(tmpdir_short, "unk")
    write_toml(d, GOOD + "sync_catch_up = 1\n")
    r = run(["-datadir", d, "--print-config"])
    assert r.returncode == 0, r.stderr
    assert "config_unknown_key" in r.stderr and "sync_catch_up" in r.stderr


def test_sync_follow_and_sigterm(bitcoind, signetd_factory):
    bitcoind.generate(120)
    s = signetd_factory(bitcoind).start()
    s.wait_synced(120, timeout=120)
    assert s.indexed_height() == bitcoind.height() == 120
    st, _, body = s.get("/block-hash/120")
    assert st == 200
    assert json.loads(body) == {"block_hash": bitcoind.rpc("getblockhash", 120)}

    # /block-height tracks the node as blocks arrive
    for _ in range(3):
        bitcoind.generate(2)
        s.wait_synced(bitcoind.height(), timeout=30)
    assert s.indexed_height() == 126

    # SIGTERM: clean stop, exit 0, promptly
    t0 = time.time()
    rc = s.stop(signal.SIGTERM)
    assert rc == 0
    assert time.time() - t0 < 10
    log = s.log_text()
    assert "msg=shutdown_requested signal=SIGTERM" in log
    assert "msg=stopped exit_code=0" in log

    # restart resumes from the durable index; SIGINT stops cleanly too
    bitcoind.generate(1)
    s.start()
    s.wait_synced(127, timeout=60)
    assert s.stop(signal.SIGINT) == 0


def test_env_only_config(bitcoind, signetd_factory, tmpdir_short):
    """No blindbit.toml at all: defaults plus environment, as in compose."""
    bitcoind.generate(5)
    s = signetd_factory(bitcoind)
    os.unlink(os.path.join(s.datadir, "blindbit.toml"))
    s.env.update({"HOST": f"127.0.0.1:{s.port}", "CHAIN": "regtest",
                  "RPC_ENDPOINT": bitcoind.rpc_url, "COOKIE_PATH": bitcoind.cookie_path,
                  "ZMQ_HASHBLOCK": "off", "ZMQ_RAWTX": "off"})
    s.start()
    s.wait_synced(5, timeout=60)
    assert "config_missing" in s.log_text()
    assert s.stop() == 0


def test_sighup_reopens_log_file(bitcoind, signetd_factory):
    bitcoind.generate(3)
    s = signetd_factory(bitcoind, config={"log_file": "signetd-file.log",
                                          # a warning at start (config_tweaks_empty)
                                          "tweaks_cut_through_with_dust_filter": 0}).start()
    path = os.path.join(s.datadir, "signetd-file.log")
    s.wait_synced(3, timeout=60)
    wait_until(lambda: os.path.exists(path) and "msg=started" in open(path).read(),
               timeout=10, what="log file written")
    os.rename(path, path + ".1")
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: os.path.exists(path), timeout=10, what="log file reopened")
    wait_until(lambda: "msg=log_reopened" in open(path).read(), timeout=10,
               what="log_reopened in the new file")
    bitcoind.generate(1)
    s.wait_synced(4, timeout=30)
    assert s.proc.poll() is None  # SIGHUP did not kill it
    old = open(path + ".1").read()
    assert "msg=started" in old and "msg=log_reopened" not in old
    # the logfmt lines carry no secrets
    assert open(bitcoind.cookie_path).read().split(":")[1] not in old
    assert s.stop() == 0
    # with a log file, stderr gets warnings and errors only (issue 16.5):
    # info lines are written once, to the file
    err = open(s.log_path).read()
    assert "msg=started" not in err and "msg=block_connected" not in err, err[-2000:]
    assert all(" level=info " not in ln for ln in err.splitlines()), err[-2000:]
    assert "msg=config_tweaks_empty" in err and "msg=config_tweaks_empty" in old


def test_port_in_use_exits_1(bitcoind, signetd_factory, expect_errors):
    port_err = r"host=127\.0\.0\.1:\d+ err=\"(i/o error\" detail=\")?listen on .*: Address already in use\""
    expect_errors(r"^\S+ level=error mod=http msg=listen_failed " + port_err, at_least=1)
    expect_errors(r"^\S+ level=error mod=daemon msg=http_start_failed " + port_err, at_least=1)
    a = signetd_factory(bitcoind).start()
    b = signetd_factory(bitcoind, config={"host": f"127.0.0.1:{a.port}"})
    b.start(wait_http=False)
    rc = b.proc.wait(timeout=30)
    b.proc = None
    assert rc == 1
    assert "http_start_failed" in b.log_text() or "listen_failed" in b.log_text()
    assert a.stop() == 0


def test_mempool_tweaks_and_forward_tx(bitcoind, signetd_factory):
    bitcoind.generate(110)
    s = signetd_factory(bitcoind).start()
    s.wait_synced(110)

    # a wallet spend paying a taproot output: ZMQ rawtx -> prevouts from
    # the node -> its tweak in /mempool/tweaks
    addr = bitcoind.rpc("getnewaddress", "", "bech32m", wallet="w")
    txid = bitcoind.rpc("sendtoaddress", addr, 2.0, wallet="w")

    def listed(want):
        st, _, body = s.get("/mempool/tweaks")
        assert st == 200
        rows = [r for r in json.loads(body) if r["txid"] == txid]
        return rows if bool(rows) == want else None
    rows = wait_until(lambda: listed(True), timeout=20, what="mempool tweak")
    assert len(rows) == 1 and len(rows[0]["tweak"]) == 66
    assert rows[0]["highest_value"] >= 200_000_000

    # /forward-tx relays through the node and answers the txid
    signed = bitcoind.rpc("send", [{addr: 0.5}], None, "unset", None,
                          {"add_to_wallet": False}, wallet="w")
    st, _, body = s.request("POST", "/forward-tx", json.dumps({"data": signed["hex"]}),
                            {"Content-Type": "application/json"})
    assert st == 200, body
    fwd_txid = bitcoind.rpc("decoderawtransaction", signed["hex"])["txid"]
    assert fwd_txid in body.decode()
    assert fwd_txid in bitcoind.rpc("getrawmempool")
    # the node's refusal comes back as 400 with the node's message
    bogus = bitcoind.rpc("createrawtransaction", [{"txid": "11" * 32, "vout": 0}],
                         [{addr: 1.0}])
    st, _, body = s.request("POST", "/forward-tx", json.dumps({"data": bogus}),
                            {"Content-Type": "application/json"})
    assert st == 400
    assert b"missingorspent" in body or b"missing" in body, body

    # mined: the block confirms them, the mempool tweaks go
    bitcoind.generate(1)
    s.wait_synced(111)
    wait_until(lambda: listed(False) is not None and s.get("/mempool/tweaks")[2] in
               (b"[]", b"null"), timeout=20, what="mempool tweaks pruned")
    assert s.stop() == 0


def test_sigterm_mid_sync_and_with_node_down(bitcoind, signetd_factory):
    bitcoind.generate(400)
    s = signetd_factory(bitcoind, config={"max_parallel_requests": 1,
                                          "max_parallel_tweak_computations": 1}).start()
    t0 = time.time()
    rc = s.stop(signal.SIGTERM)  # right after HTTP came up: mid-sync
    assert rc == 0 and time.time() - t0 < 10
    # the index is durable and consistent: a restart resumes to the tip
    s.start()
    s.wait_synced(400, timeout=120)
    st, _, body = s.get("/block-hash/400")
    assert json.loads(body) == {"block_hash": bitcoind.rpc("getblockhash", 400)}
    # node gone: the follower is backing off, the stop is still prompt
    bitcoind.stop()
    s.wait_for_log("msg=node_unreachable", timeout=15)
    t0 = time.time()
    assert s.stop(signal.SIGTERM) == 0
    assert time.time() - t0 < 10


# ---- issue 14: signetd in the LeCoffre stack ----------------------------------

def test_empty_env_is_unset(tmpdir_short):
    """compose passes ${X:-} for every variable: an empty COOKIE_PATH (or
    any empty variable) must not wipe the file's value (it made signetd
    exit 2: no RPC credentials)."""
    d = os.path.join(tmpdir_short, "ee")
    write_toml(d, GOOD + 'log_file = "s.log"\nmax_parallel_requests = 3\n')
    empty = {k: "" for k in ("COOKIE_PATH", "RPC_USER", "RPC_PASS", "CHAIN", "HOST",
                             "RPC_ENDPOINT", "LOG_FILE", "MAX_PARALLEL_REQUESTS",
                             "ZMQ_HASHBLOCK", "ZMQ_RAWTX", "TWEAKS_ONLY", "LOG_LEVEL")}
    r = run(["-datadir", d, "--print-config"], env=empty)
    assert r.returncode == 0, r.stderr
    assert 'cookie_path = "/nonexistent/.cookie"' in r.stdout
    assert 'chain = "regtest"' in r.stdout and 'host = "127.0.0.1:18000"' in r.stdout
    assert 'log_file = "s.log"' in r.stdout and "max_parallel_requests = 3" in r.stdout
    assert "# zmq_hashblock: unset" in r.stdout  # still "ask the node"


def test_tweaks_empty_warning_at_start(bitcoind, signetd_factory):
    """/tweaks/:h answers [] without the cut-through index (upstream's
    default): one warning at start, none when the index is on."""
    bitcoind.generate(2)
    s = signetd_factory(bitcoind, config={"tweaks_cut_through_with_dust_filter": 0}).start()
    s.wait_synced(2, timeout=60)
    s.wait_for_log("msg=config_tweaks_empty", timeout=10)
    line = [ln for ln in s.log_text().splitlines() if "msg=config_tweaks_empty" in ln][0]
    assert "level=warn" in line and "key=tweaks_cut_through_with_dust_filter" in line
    assert s.get_json("/tweaks/2") == []
    assert s.stop() == 0
    t = signetd_factory(bitcoind).start()  # the fixture's config has it on
    t.wait_synced(2, timeout=60)
    assert t.stop() == 0
    assert "config_tweaks_empty" not in t.log_text()
    # --print-config is not a start: no warning there
    r = run(["-datadir", s.datadir, "--print-config"])
    assert r.returncode == 0 and "config_tweaks_empty" not in r.stderr


def _rpcauth(user, pw):
    import hashlib
    import hmac
    salt = "0badc0de0badc0de0badc0de0badc0de"
    return f"-rpcauth={user}:{salt}${hmac.new(salt.encode(), pw.encode(), hashlib.sha256).hexdigest()}"


def test_endpoint_credentials_never_printed(tmpdir_short, signetd_factory):
    """http://user:pass@host in rpc_endpoint: used as rpc_user/rpc_pass,
    never printed by --print-config nor logged (follower_start url=...)."""
    pw = "pw-" + os.urandom(8).hex()
    node = BitcoinNode(os.path.join(tmpdir_short, "anode"),
                       extra_args=[_rpcauth("alice", pw)]).start()
    try:
        node.generate(3)
        url = f"http://alice:{pw}@127.0.0.1:{node.rpc_port}"
        s = signetd_factory(node, config={"rpc_endpoint": url, "cookie_path": ""})
        r = run(["-datadir", s.datadir, "--print-config"])
        assert r.returncode == 0, r.stderr
        assert f'rpc_endpoint = "http://127.0.0.1:{node.rpc_port}"' in r.stdout, r.stdout
        assert 'rpc_user = "alice"' in r.stdout
        assert 'rpc_pass = "<redacted>"' in r.stdout
        assert pw not in r.stdout + r.stderr
        s.start()
        s.wait_synced(3, timeout=60)  # the URL's credentials log in
        assert s.stop() == 0
        log = s.log_text()
        assert f"url=http://127.0.0.1:{node.rpc_port}" in log
        assert pw not in log
        # the environment form too
        r = run(["-datadir", s.datadir, "--print-config"], env={"RPC_ENDPOINT": url})
        assert r.returncode == 0 and pw not in r.stdout + r.stderr
    finally:
        node.stop()


def test_sigterm_as_pid1(bitcoind, signetd_factory):
    """As PID 1 (a container without an init) a signal without a handler is
    ignored; signetd waits for SIGTERM/SIGINT in sigwait(), so it still
    stops cleanly, exit 0."""
    bitcoind.generate(2)
    s = signetd_factory(bitcoind)
    s.args = []
    logf = open(s.log_path, "ab")
    proc = subprocess.Popen(["unshare", "--user", "--map-root-user", "--pid", "--fork",
                             "--kill-child", signetd_bin(), "-datadir", s.datadir],
                            stdout=logf, stderr=subprocess.STDOUT)
    try:
        s.wait_for_log("msg=started", timeout=30)
        s.wait_synced(2, timeout=60)
        path = f"/proc/{proc.pid}/task/{proc.pid}/children"
        pid = wait_until(lambda: int(open(path).read().split()[0]), timeout=10,
                         what="pid 1")
        os.kill(pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "msg=shutdown_requested signal=SIGTERM" in s.log_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        logf.close()
