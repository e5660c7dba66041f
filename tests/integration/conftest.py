"""Shared fixtures for signetd integration tests: a real bitcoind, a real
signetd, real HTTP over loopback.

Binaries:
  BITCOIND / BITCOIN_CLI   your own node binaries, else .deps/bitcoin/bin/*
                           (contrib/get-bitcoind.sh .deps/bitcoin)
  SIGNETD_BIN              signetd binary (CTest sets it), else build/signetd
A missing bitcoind FAILS the test: nothing is ever skipped.

Error lines: every `level=error` line (logfmt; also fatal/crit, which
signetd does not emit today), its two plain-text fatal exits
("signetd: configuration error", "signetd: out of memory") and every
sanitizer report that a Signetd
instance logs fails the test during which it was logged, at that test's
teardown, unless the test declared it expected, precisely:

    def test_x(..., expect_errors):
        expect_errors(r"mod=rpc msg=call_failed .*err=ECONN", at_least=1)

or `@pytest.mark.expect_errors(r"...", at_least=1)` on the test (or as a
module's pytestmark).  A pattern is a regex searched in the line; at_least
(default 0) makes the test also fail when fewer matching lines appeared.
A daemon that outlives a test (module fixtures) is checked again at the
module's end.  SIGNETD_LOG_ERRORS_REPORT=<file> appends every error line
with its test id to <file> instead of failing (to survey a suite).
"""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(REPO, "tests", "data")


def find_bin(env, name):
    p = os.environ.get(env)
    if p:
        return p
    cand = os.path.join(REPO, ".deps", "bitcoin", "bin", name)
    if os.path.exists(cand):
        return cand
    w = shutil.which(name)
    if w:
        return w
    pytest.fail(f"{name} not found: set {env} or run contrib/get-bitcoind.sh .deps/bitcoin",
                pytrace=False)


def signetd_bin():
    p = os.environ.get("SIGNETD_BIN") or os.path.join(REPO, "build", "signetd")
    if not os.path.exists(p):
        pytest.fail(f"signetd binary not found at {p} (set SIGNETD_BIN)", pytrace=False)
    return p


_used_ports = set()


def free_port():
    """A free loopback TCP port (not reused within this process)."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _used_ports:
            _used_ports.add(port)
            return port


def wait_until(pred, timeout=30.0, interval=0.05, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until timeout
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


class RPCError(Exception):
    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# 100 years: no recorded chain is ever "too old" for the node (IBD).
MAX_TIP_AGE = 100 * 365 * 24 * 3600


class BitcoinNode:
    """A real bitcoind on loopback ports in a temp datadir.

    chain: "regtest" or "signet" (pass signetchallenge=... in extra args).
    """

    def __init__(self, datadir, chain="regtest", extra_args=(), zmq=True, rest=True):
        self.datadir = datadir
        self.chain = chain
        self.rpc_port = free_port()
        self.p2p_port = free_port()
        self.zmq_block_port = free_port() if zmq else None
        self.zmq_tx_port = free_port() if zmq else None
        self.extra_args = list(extra_args)
        self.rest = rest
        self.proc = None
        self.bitcoind = find_bin("BITCOIND", "bitcoind")
        os.makedirs(datadir, exist_ok=True)

    @property
    def chain_dir(self):
        return self.datadir if self.chain == "main" else os.path.join(
            self.datadir, {"regtest": "regtest", "signet": "signet"}[self.chain])

    @property
    def cookie_path(self):
        return os.path.join(self.chain_dir, ".cookie")

    @property
    def rpc_url(self):
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def zmq_hashblock(self):
        return f"tcp://127.0.0.1:{self.zmq_block_port}" if self.zmq_block_port else None

    @property
    def zmq_rawtx(self):
        return f"tcp://127.0.0.1:{self.zmq_tx_port}" if self.zmq_tx_port else None

    def args(self):
        a = [self.bitcoind, f"-datadir={self.datadir}", f"-{self.chain}",
             "-server=1", "-listen=0", "-dnsseed=0", "-fixedseeds=0", "-discover=0",
             "-upnp=0", "-natpmp=0",
             "-txindex=0", "-fallbackfee=0.0001", "-printtoconsole=0",
             "-blockmaxweight=4000000", "-maxconnections=0",
             "-rpcthreads=8", "-rpcworkqueue=64",
             # A recorded chain (regtest-a, the signet blocks) ages: without
             # this its tip is "too old" a day after it was mined and the
             # node reports initialblockdownload=true forever.  Core's own
             # functional tests start every node the same way.
             f"-maxtipage={MAX_TIP_AGE}",
             ]
        sect = "" if self.chain == "main" else ""
        a += [f"-rpcbind=127.0.0.1:{self.rpc_port}", "-rpcallowip=127.0.0.1",
              f"-port={self.p2p_port}"]
        if self.rest:
            a.append("-rest=1")
        if self.zmq_block_port:
            a += [f"-zmqpubhashblock={self.zmq_hashblock}",
                  f"-zmqpubrawtx={self.zmq_rawtx}"]
        return a + self.extra_args + ([sect] if sect else [])

    def start(self, wait=True):
        assert self.proc is None
        self.log = open(os.path.join(self.datadir, "bitcoind.stdout"), "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            wait_until(lambda: self._ready(), timeout=60, what="bitcoind RPC")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"bitcoind exited with {self.proc.returncode}; see {self.datadir}")
        try:
            self.rpc("getblockcount")
            return True
        except (OSError, RPCError, http.client.HTTPException):
            return False

    def auth_header(self):
        with open(self.cookie_path) as f:
            tok = f.read().strip()
        return "Basic " + base64.b64encode(tok.encode()).decode()

    def rpc(self, method, *params, wallet=None, timeout=120):
        body = json.dumps({"jsonrpc": "1.0", "id": "t", "method": method,
                           "params": list(params)}).encode()
        path = "/" if wallet is None else f"/wallet/{wallet}"
        conn = http.client.HTTPConnection("127.0.0.1", self.rpc_port, timeout=timeout)
        try:
            conn.request("POST", path, body, {"Authorization": self.auth_header(),
                                              "Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        if r.status == 401:
            raise RPCError(-401, "unauthorized")
        try:
            j = json.loads(data)
        except ValueError:
            raise RPCError(r.status, data[:200])
        if j.get("error"):
            raise RPCError(j["error"]["code"], j["error"]["message"])
        return j["result"]

    # conveniences
    def height(self):
        return self.rpc("getblockcount")

    def ensure_wallet(self, name="w"):
        try:
            self.rpc("createwallet", name)
        except RPCError as e:
            if "already exists" not in e.message:
                raise
            try:
                self.rpc("loadwallet", name)
            except RPCError as e2:
                if "already loaded" not in e2.message:
                    raise
        return name

    def generate(self, n, address=None):
        if address is None:
            self.ensure_wallet()
            address = self.rpc("getnewaddress", "", "bech32m", wallet="w")
        return self.rpc("generatetoaddress", n, address)

    def submit_hex_blocks(self, lines):
        for ln in lines:
            res = self.rpc("submitblock", ln.strip())
            assert res in (None, "duplicate"), f"submitblock: {res}"

    def stop(self):
        if self.proc is None:
            return
        try:
            self.rpc("stop", timeout=10)
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()


class Signetd:
    """Our daemon, configured through <datadir>/blindbit.toml."""

    def __init__(self, datadir, node=None, config=None, env=None, args=()):
        self.datadir = datadir
        os.makedirs(datadir, exist_ok=True)
        self.port = free_port()
        self.node = node
        cfg = {
            "host": f"127.0.0.1:{self.port}",
            "chain": node.chain if node else "regtest",
            "sync_start_height": 1,
            "max_parallel_tweak_computations": 2,
            "max_parallel_requests": 4,
            "tweaks_only": 0,
            "tweaks_full_basic": 1,
            "tweaks_full_with_dust_filter": 1,
            "tweaks_cut_through_with_dust_filter": 1,
        }
        if node:
            cfg["rpc_endpoint"] = node.rpc_url
            cfg["cookie_path"] = node.cookie_path
            if node.zmq_hashblock:
                cfg["zmq_hashblock"] = node.zmq_hashblock
                cfg["zmq_rawtx"] = node.zmq_rawtx
        cfg.update(config or {})
        self.config = cfg
        self.write_config()
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(datadir, "signetd.log")
        self.err_offset = 0  # bytes of the log already read for errors
        self.err_lines = []  # error lines read, not yet checked by a test
        _SIGNETDS.append(self)

    def write_config(self):
        with open(os.path.join(self.datadir, "blindbit.toml"), "w") as f:
            for k, v in self.config.items():
                if isinstance(v, str):
                    f.write(f'{k} = "{v}"\n')
                elif isinstance(v, bool):
                    f.write(f"{k} = {'true' if v else 'false'}\n")
                else:
                    f.write(f"{k} = {v}\n")

    def start(self, wait_http=True):
        assert self.proc is None
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([signetd_bin(), "-datadir", self.datadir] + self.args,
                                     stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        if wait_http:
            wait_until(self._http_up, timeout=30, what="signetd HTTP")
        return self

    def _http_up(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"signetd exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        try:
            self.get("/block-height")
            return True
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_for_log(self, needle, timeout=30):
        return wait_until(lambda: needle in self.log_text(), timeout=timeout, what=f"log {needle!r}")

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body, headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def get_json(self, path):
        st, _, body = self.get(path)
        assert st == 200, f"{path}: {st} {body[:200]!r}"
        return json.loads(body)

    def indexed_height(self):
        st, _, body = self.get("/block-height")
        if st != 200:
            return -1
        return json.loads(body)["block_height"]

    def wait_synced(self, height, timeout=120):
        return wait_until(lambda: self.indexed_height() >= height, timeout=timeout,
                          what=f"index height {height}")

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        _read_error_lines(self)  # before a fixture removes the log
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)


# --------------------------------------------------- error lines in the logs

_SIGNETDS = []  # every Signetd made in this process, in order
# a logfmt error line; common/log.h fixes the key order ("ts=... level=error
# mod=... msg=..."), so a quoted value holding "level=error" is no match.
# fatal and crit do not exist in common/log.h but would be errors too, and
# so are the two plain-text exits (signetd/main.c, common/util.c).
_ERROR_LINE = re.compile(r"^ts=\S+ level=(?:error|fatal|crit|critical|panic)(?:\s|$)"
                         r"|^signetd: (?:configuration error|out of memory)")
# sanitizer reports: never expectable
_SANITIZER_LINE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "expect_errors(pattern, at_least=0): level=error lines of "
        "signetd matching the regex pattern are expected in this test")


def _read_error_lines(s):
    """Move the error and sanitizer lines s logged since the last read to
    s.err_lines (called when it stops and before its temp dir goes)."""
    try:
        with open(s.log_path, "rb") as f:
            f.seek(s.err_offset)
            data = f.read()
    except FileNotFoundError:  # never started
        return
    end = data.rfind(b"\n") + 1  # a line still being written waits
    s.err_offset += end
    for ln in data[:end].decode("utf-8", "replace").splitlines():
        if _ERROR_LINE.search(ln) or _SANITIZER_LINE.search(ln):
            s.err_lines.append(ln)


def _new_error_lines(s):
    """The error lines s logged since the last call."""
    _read_error_lines(s)
    out, s.err_lines = s.err_lines, []
    return out


class ErrorExpectations:
    """The error lines a test declared expected (see the module doc)."""

    def __init__(self):
        self.rules = []  # [regex, at_least, matched]

    def __call__(self, pattern, at_least=0):
        self.rules.append([re.compile(pattern), at_least, 0])
        return self

    def check(self, what, lines):
        unexpected = []
        for ln in lines:
            rule = None
            if not _SANITIZER_LINE.search(ln):
                rule = next((r for r in self.rules if r[0].search(ln)), None)
            if rule is None:
                unexpected.append(ln)
            else:
                rule[2] += 1
        report = os.environ.get("SIGNETD_LOG_ERRORS_REPORT")
        if report:
            with open(report, "a") as f:
                for ln in lines:
                    f.write(f"{what}\t{'UNEXPECTED' if ln in unexpected else 'expected'}\t{ln}\n")
            return
        short = [r for r in self.rules if r[2] < r[1]]
        msg = []
        if unexpected:
            msg.append(f"{len(unexpected)} unexpected error line(s) in signetd's log "
                       "(declare them with expect_errors(regex) if the test provokes them):\n"
                       + "\n".join(unexpected[:20]))
        for r in short:
            msg.append(f"expected at least {r[1]} error line(s) matching {r[0].pattern!r}, "
                       f"saw {r[2]}")
        if msg:
            pytest.fail(f"{what}: " + "\n".join(msg), pytrace=False)


def _expectations(node):
    e = ErrorExpectations()
    for m in node.iter_markers("expect_errors"):
        e(*m.args, **m.kwargs)
    return e


@pytest.fixture(autouse=True)
def _signetd_error_lines(request):
    """Autouse, so set up before (torn down after) the fixtures that stop
    the daemons: their shutdown lines are checked too."""
    exp = _expectations(request.node)
    yield exp
    lines = []
    for s in _SIGNETDS:
        lines += _new_error_lines(s)
    exp.check(request.node.nodeid, lines)


@pytest.fixture
def expect_errors(request, _signetd_error_lines):
    """expect_errors(regex, at_least=0): declare error lines this test
    provokes (fault injection, bad configuration)."""
    return _signetd_error_lines


@pytest.fixture(scope="module", autouse=True)
def _signetd_error_lines_module(request):
    """What daemons of module fixtures log after the module's last test."""
    yield
    lines = []
    for s in _SIGNETDS:
        lines += _new_error_lines(s)
    del _SIGNETDS[:]
    _expectations(request.node).check(request.node.nodeid + " (module teardown)", lines)


@pytest.fixture
def tmpdir_short():
    """A short temp dir (unix socket paths must stay short)."""
    d = tempfile.mkdtemp(prefix="sd-")
    yield d
    for s in _SIGNETDS:  # their logs go with d
        _read_error_lines(s)
    if os.environ.get("SIGNETD_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bitcoind(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "node")).start()
    yield node
    node.stop()


@pytest.fixture
def signetd_factory(tmpdir_short):
    made = []

    def make(node=None, **kw):
        d = os.path.join(tmpdir_short, f"signetd{len(made)}")
        s = Signetd(d, node=node, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
        text = s.log_text()
        assert "ERROR: AddressSanitizer" not in text, text[-4000:]
        assert "runtime error:" not in text, text[-4000:]


def regtest_a_blocks():
    with open(os.path.join(TESTDATA, "regtest-a", "blocks.hex")) as f:
        return [ln.strip() for ln in f if ln.strip()]


@pytest.fixture(scope="module")
def regtest_a_node(tmp_path_factory):
    """A bitcoind holding the regtest-a chain (400 blocks), shared by a module."""
    d = tempfile.mkdtemp(prefix="sd-ra-")
    node = BitcoinNode(os.path.join(d, "node")).start()
    node.submit_hex_blocks(regtest_a_blocks())
    assert node.height() == 400
    assert node.rpc("getbestblockhash") == \
        "472c09d7bd172a6bafedd0d776389d34efa8e5f75386f37ab44d158f6aebe89d"
    yield node
    node.stop()
    shutil.rmtree(d, ignore_errors=True)
