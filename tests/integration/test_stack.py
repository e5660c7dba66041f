"""The LeCoffre stack, for real: signetd's image built and run with podman,
its compose override (contrib/docker-compose.yml) merged onto a compose file
with the node's own names (tests/stack/docker-compose.yml) by docker-compose
v1 through podman's Docker API, and the README's operator steps run in order:

  upstream oracle running on a root-owned blindbit_data volume -> override
  up (same service `blindbit`, container blindbit-oracle) -> signet_miner
  profile mining with the chain's existing challenge key -> nginx with
  contrib/nginx/blindbit.location over HTTPS -> validate-deployment.sh ->
  down / up.

Needs root, podman, buildah, docker-compose, mmdebstrap (contrib/container.sh
install) and the Debian mirror of the machine's apt configuration (base
images are made with mmdebstrap when missing).  Missing tools FAIL the test.
Cold (no base image, no build cache) ~5-7 min; warm ~2-3 min.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
import ssl

import pytest

from conftest import REPO, Signetd, find_bin, free_port, signetd_bin, wait_until

try:
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

CONTRIB = os.path.join(REPO, "contrib")
STACK_SRC = os.path.join(REPO, "tests", "stack")
PROJECT = "sdstack"
ORACLE = "blindbit-oracle"
NODE = "bitcoin-signet"
NGINX = "lecoffre-test-nginx"
SIGNETD_IMAGE = "localhost/signetd:stack-test"
TOOLS = ("podman", "buildah", "docker-compose", "mmdebstrap", "setpriv", "openssl", "curl")


def sh(cmd, check=True, timeout=600, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd if isinstance(cmd, str) else ' '.join(cmd)} -> "
                             f"{r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def state_dir():
    b = os.environ.get("SIGNETD_BUILD_DIR") or os.path.join(REPO, "build")
    return os.path.join(os.path.abspath(b), "container")


class Stack:
    def __init__(self):
        for t in TOOLS:
            if not shutil.which(t):
                pytest.fail(f"{t} not found: run contrib/container.sh install "
                            "(contrib/test.sh does)", pytrace=False)
        if os.getuid() != 0:
            pytest.fail("the stack test runs rootful podman: run it as root", pytrace=False)
        self.state = state_dir()
        self.env = dict(os.environ, SIGNETD_CONTAINER_STATE=self.state)
        out = sh([os.path.join(CONTRIB, "container.sh"), "env"], env=self.env).stdout
        for k, v in re.findall(r"(\w+)=(\S+)", out):
            self.env[k] = v
        self.dir = tempfile.mkdtemp(prefix="sd-stack-")
        self.http_port = free_port()
        self.https_port = free_port()
        self.oracle_port = free_port()
        self.timings = {}

    # ------------------------------------------------------------ tools
    def podman(self, *args, check=True, timeout=300):
        return sh(["podman"] + list(args), check=check, timeout=timeout, env=self.env)

    def compose(self, *args, override=True, profile=False, check=True, timeout=600):
        cmd = ["docker-compose", "--env-file", ".env.master", "-p", PROJECT,
               "-f", "docker-compose.yml"]
        if override:
            cmd += ["-f", "docker-compose.signetd.yml"]
        if profile:
            cmd += ["--profile", "signet_miner"]
        return sh(cmd + list(args), check=check, timeout=timeout, cwd=self.dir, env=self.env)

    def cli(self, *args, timeout=120):
        """The sheet's operator command: docker exec bitcoin-signet bitcoin-cli -signet ..."""
        r = self.podman("exec", NODE, "bitcoin-cli", "-signet",
                        "-rpccookiefile=/home/bitcoin/.bitcoin/signet/.cookie",
                        *[str(a) for a in args],
                        timeout=timeout)
        out = r.stdout.strip()
        try:
            return json.loads(out)
        except ValueError:
            return out

    def height(self):
        return int(self.cli("getblockcount"))

    def https_get(self, path, timeout=20):
        """GET https://127.0.0.1:<443>/path through nginx (self-signed cert)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(f"https://127.0.0.1:{self.https_port}{path}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def oracle_get(self, path, timeout=20):
        """GET the oracle's published port (the node's 8000)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.oracle_port}{path}",
                                        timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError as e:
            return 0, str(e).encode()

    def oracle_height(self):
        st, body = self.oracle_get("/block-height", timeout=5)
        return json.loads(body)["block_height"] if st == 200 else -1

    def volume_path(self, name):
        return self.podman("volume", "inspect", "-f", "{{.Mountpoint}}", name).stdout.strip()

    def health(self, name=ORACLE):
        """Run the container's HEALTHCHECK now (no systemd timers here) and
        return the status podman records."""
        self.podman("healthcheck", "run", name, check=False)
        return self.podman("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()

    def logs(self, name):
        r = self.podman("logs", name, check=False)
        return r.stdout + r.stderr

    def diag(self):
        out = []
        for c in (ORACLE, NODE, NGINX):
            out.append(f"--- podman logs {c} (tail)\n{self.logs(c)[-3000:]}")
        for f in ("logs/blindbit/signetd.log", "logs/miner/miner.log"):
            p = os.path.join(self.dir, f)
            if os.path.exists(p):
                with open(p, errors="replace") as fh:
                    out.append(f"--- {f} (tail)\n{fh.read()[-3000:]}")
        return "\n".join(out)

    # ------------------------------------------------------------ setup
    def images(self):
        t0 = time.time()
        cs = os.path.join(CONTRIB, "container.sh")
        sh([cs, "base"], env=self.env, timeout=900)
        self.timings["base_images"] = time.time() - t0
        t0 = time.time()
        sh([cs, "build", SIGNETD_IMAGE], env=self.env, timeout=1200)
        self.timings["signetd_image"] = time.time() - t0
        t0 = time.time()
        self.bitcoin_image = self.build_bitcoin_image()
        self.nginx_image = self.build_local("nginx", os.path.join(STACK_SRC, "nginx"))
        self.timings["stack_images"] = time.time() - t0

    def build_local(self, name, ctx, extra_hash=""):
        h = hashlib.sha256(extra_hash.encode())
        for f in sorted(os.listdir(os.path.join(STACK_SRC, name))):
            with open(os.path.join(STACK_SRC, name, f), "rb") as fh:
                h.update(f.encode() + fh.read())
        tag = f"localhost/lecoffre-test/{name}:{h.hexdigest()[:12]}"
        if self.podman("image", "exists", tag, check=False).returncode != 0:
            self.podman("build", "-q", "--format", "docker", "--network", "host",
                        "--pull=never", "-t", tag, ctx, timeout=900)
        return tag

    def build_bitcoin_image(self):
        bitcoind = os.path.realpath(find_bin("BITCOIND", "bitcoind"))
        prefix = os.path.dirname(os.path.dirname(bitcoind))
        root = os.path.join(prefix, "root")
        if not os.path.exists(os.path.join(root, "usr", "bin", "bitcoind")):
            pytest.fail(f"{bitcoind}: the stack test packs contrib/get-bitcoind.sh's "
                        f"layout (PREFIX/root/usr/bin/bitcoind) into its bitcoin image",
                        pytrace=False)
        version = sh([bitcoind, "-version"]).stdout.splitlines()[0]
        ctx = os.path.join(self.dir, "bitcoin-image")
        shutil.copytree(os.path.join(STACK_SRC, "bitcoin"), ctx)
        shutil.copytree(root, os.path.join(ctx, "root"), symlinks=True)
        try:
            return self.build_local("bitcoin", ctx, version)
        finally:
            shutil.rmtree(ctx, ignore_errors=True)

    def write_files(self, key_hex, challenge):
        d = self.dir
        shutil.copy(os.path.join(STACK_SRC, "docker-compose.yml"), d)
        # the operator's steps: the override next to the node's file ...
        shutil.copy(os.path.join(CONTRIB, "docker-compose.yml"),
                    os.path.join(d, "docker-compose.signetd.yml"))
        # ... the nginx location in conf/nginx, included by the 443 server block
        os.makedirs(os.path.join(d, "conf", "nginx"))
        shutil.copy(os.path.join(CONTRIB, "nginx", "blindbit.location"),
                    os.path.join(d, "conf", "nginx"))
        with open(os.path.join(STACK_SRC, "nginx", "lecoffre.conf")) as f:
            conf = f.read().replace("@HTTPS_PORT@", str(self.https_port))
        with open(os.path.join(d, "conf", "nginx", "lecoffre.conf"), "w") as f:
            f.write(conf)
        os.makedirs(os.path.join(d, "conf", "ssl"))
        sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=localhost", "-keyout", os.path.join(d, "conf/ssl/privkey.pem"),
            "-out", os.path.join(d, "conf/ssl/fullchain.pem")])
        # log folders as the node has them: created by root (setup-logs.sh)
        for s in ("bitcoin", "blindbit", "miner", "nginx"):
            os.makedirs(os.path.join(d, "logs", s))
        # the chain's existing challenge key, 0600, owned by root on the host
        os.makedirs(os.path.join(d, "secrets"))
        kf = os.path.join(d, "secrets", "signet_miner.key")
        fd = os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (key_hex + "\n").encode())
        os.close(fd)
        # .env.master: the stack's own lines, then contrib/env.example appended
        with open(os.path.join(CONTRIB, "env.example")) as f:
            example = f.read()
        stack_env = (
            "# the node's own variables (a few, for the shape)\n"
            "COMPOSE_PROJECT_NAME=4nk_node\nLOG_LEVEL=debug\nRPC_USER=stack-user\n"
            f"SIGNET_CHALLENGE={challenge}\n"
            f"STACK_BITCOIN_IMAGE={self.bitcoin_image}\nSTACK_NGINX_IMAGE={self.nginx_image}\n"
            f"STACK_BLINDBIT_PORT=127.0.0.1:{self.oracle_port}\n"
            f"STACK_HTTP_PORT=127.0.0.1:{self.http_port}\n"
            f"STACK_HTTPS_PORT=127.0.0.1:{self.https_port}\n"
            f"STACK_BITCOIN_VOLUME_NAME={PROJECT}_node_bitcoin_data\n\n")
        with open(os.path.join(d, ".env.master"), "w") as f:
            f.write(stack_env + example)
        # the operator's edits: where the checkout is, the image tag
        self.set_env(SIGNETD_SRC=REPO, SIGNETD_IMAGE=SIGNETD_IMAGE)

    def set_env(self, **kv):
        """Edit .env.master as the operator does (last assignment wins)."""
        with open(os.path.join(self.dir, ".env.master"), "a") as f:
            f.write("\n# test settings\n")
            for k, v in kv.items():
                f.write(f"{k}={v}\n")

    def cleanup(self):
        self.compose("--profile", "signet_miner", "down", "-v", "--remove-orphans",
                     "-t", "5", check=False, timeout=300)
        for c in (ORACLE, NODE, NGINX):
            self.podman("rm", "-f", "-v", c, check=False)
        for v in (f"{PROJECT}_node_bitcoin_data", f"{PROJECT}_blindbit_data"):
            self.podman("volume", "rm", "-f", v, check=False)
        sh([os.path.join(CONTRIB, "container.sh"), "stop-service"], env=self.env, check=False)
        if os.environ.get("SIGNETD_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def keygen(tmp):
    path = os.path.join(tmp, "challenge.key")
    r = sh([signetd_bin(), "miner", "keygen", "--key-file", path])
    info = json.loads(r.stdout)
    with open(path) as f:
        return f.read().strip(), info["multisig_challenge"]


@pytest.fixture(scope="module")
def stack():
    s = Stack()
    t_start = time.time()
    try:
        # a leftover of an interrupted run would hold the names
        s.compose("--profile", "signet_miner", "down", "-v", "-t", "1",
                  check=False, override=False)
        for c in (ORACLE, NODE, NGINX):
            s.podman("rm", "-f", c, check=False)
        s.images()
        key_hex, challenge = keygen(s.dir)
        s.write_files(key_hex, challenge)
        sh([os.path.join(CONTRIB, "container.sh"), "service"], env=s.env)
        s.key_hex = key_hex
        s.t_start = t_start
        yield s
    finally:
        if hasattr(s, "dir"):
            print(f"\nstack timings: {json.dumps({k: round(v, 1) for k, v in s.timings.items()})}"
                  f" total {time.time() - t_start:.0f}s")
            s.cleanup()


# ---------------------------------------------------------------- compose

def config(s, **kw):
    r = s.compose("config", **kw)
    return yaml.safe_load(r.stdout)


def volumes(svc):
    """{target: (source, mode)} of a service's short-syntax volumes."""
    out = {}
    for v in svc["volumes"]:
        src, tgt, mode = (str(v).split(":") + ["rw"])[:3]
        out[tgt] = (src, mode)
    return out


def test_override_merges_onto_the_node_file(stack):
    """(1, 2, 7, 8, 11, 12, 13) `docker-compose config` passes on the node's
    file + the override; one oracle, the node's names, no duplicated port or
    command, SIGNETD_* mapped to signetd's names."""
    s = stack
    assert yaml, "python3-yaml missing (contrib/install-deps.sh)"
    base = config(s, override=False)
    c = config(s, profile=True)
    assert set(c["services"]) == set(base["services"]), sorted(c["services"])
    b = c["services"]["blindbit"]
    assert b["container_name"] == ORACLE and b["image"] == SIGNETD_IMAGE
    assert b["entrypoint"] == ["/usr/bin/tini", "--", "signetd-entrypoint"]
    assert b["command"] == ["-datadir", "/data"]
    # v1 prints short syntax: "127.0.0.1:PORT:8000/tcp"
    assert len(b["ports"]) == 1 and str(b["ports"][0]).endswith(":8000/tcp"), b["ports"]
    assert b["healthcheck"]["test"][0] == "CMD-SHELL" and "/health" in b["healthcheck"]["test"][1]
    assert b["labels"]["com.centurylinklabs.watchtower.enable"] == "false"
    assert "bitcoin" in b["depends_on"]
    e = b["environment"]
    assert e["RPC_ENDPOINT"] == "http://bitcoin:38332"
    assert e["ZMQ_HASHBLOCK"] == "tcp://bitcoin:29000" and e["ZMQ_RAWTX"] == "tcp://bitcoin:29001"
    assert e["COOKIE_PATH"] == "/bitcoin/signet/.cookie"
    assert e["TWEAKS_CUT_THROUGH_WITH_DUST_FILTER"] == "1"
    assert e["LOG_FILE"] == "/var/log/blindbit/signetd.log"
    # the stack's own LOG_LEVEL/RPC_USER in .env.master do not leak in
    assert e["RPC_USER"] == "" and e["LOG_LEVEL"] == ""
    targets = volumes(b)
    assert targets["/data"][0] == "blindbit_data"
    assert targets["/var/log/blindbit"][0] == os.path.join(s.dir, "logs", "blindbit")
    assert targets["/bitcoin"] == ("bitcoin_data", "ro")
    # the node's volume declaration (its name:) survives the override
    assert c["volumes"]["bitcoin_data"]["name"] == f"{PROJECT}_node_bitcoin_data"
    m = c["services"]["signet_miner"]
    assert m["profiles"] == ["signet_miner"]
    # v1 normalises `disable: true` to test: [NONE]
    assert m["healthcheck"] in ({"disable": True}, {"test": ["NONE"]}), m["healthcheck"]
    assert m["command"][:2] == ["miner", "generate"] and "sleep" not in " ".join(m["command"])
    assert m["environment"]["RPC_URL"] == "http://bitcoin:38332"
    assert m["environment"]["MINER_LOG_FILE"].startswith("/var/log/miner/")
    assert set(volumes(m)) >= {"/var/log/miner", "/bitcoin"}
    assert m["labels"]["com.centurylinklabs.watchtower.enable"] == "false"


# ---------------------------------------------------------------- the upgrade

@pytest.fixture(scope="module")
def upgraded(stack):
    """The node as it runs today (upstream oracle, root-owned volume), then the
    README's steps: bitcoind's cookie made readable, the override up."""
    s = stack
    t0 = time.time()
    s.compose("up", "-d", "bitcoin", "blindbit", "nginx", override=False)
    wait_until(lambda: s.cli("getblockchaininfo")["chain"] == "signet", timeout=60,
               interval=0.5, what="bitcoind up")
    vol = s.volume_path(f"{PROJECT}_blindbit_data")
    wait_until(lambda: os.path.exists(os.path.join(vol, "data", "tweaks", "000001.ldb")),
               timeout=30, what="the upstream stand-in's files")
    assert os.stat(os.path.join(vol, "blindbit.toml")).st_uid == 0
    # README: bitcoind runs with -rpccookieperms=group; its signet/ folder
    # (0700 when bitcoind creates it) is made group-searchable once
    s.podman("exec", "-u", "0", NODE, "chmod", "0750", "/home/bitcoin/.bitcoin/signet")
    s.cli("createwallet", "w")
    s.addr = s.cli("-rpcwallet=w", "getnewaddress", "", "bech32")
    s.set_env(SIGNETD_MINER_COINBASE_ADDRESS=s.addr, SIGNETD_MINER_BLOCK_INTERVAL=2,
              SIGNETD_LOG_LEVEL="")
    s.compose("up", "-d", "--no-build", "blindbit")
    wait_until(lambda: s.oracle_get("/health", timeout=5)[0] in (200, 503), timeout=90,
               interval=0.5,
               what=f"signetd answering in {ORACLE}\n{s.diag()}")
    s.timings["upgrade"] = time.time() - t0
    return s


def test_oracle_replaces_upstream_on_its_root_owned_volume(upgraded):
    """(2, 5) The same service/container now runs signetd as 10001:10001 under
    tini, on the upstream volume and root-made log folder it took over."""
    s = upgraded
    ps = s.podman("ps", "-a", "--format", "{{.Names}} {{.Image}}").stdout
    oracles = [ln for ln in ps.splitlines() if "blindbit" in ln]
    assert oracles == [f"{ORACLE} {SIGNETD_IMAGE}"], ps
    top = s.podman("top", ORACLE, "user", "group", "args").stdout
    assert re.search(r"^root\s+root\s+/usr/bin/tini", top, re.M), top
    assert re.search(r"^signetd\s+signetd\s+signetd -datadir /data", top, re.M), top
    assert "chown -R 10001:10001 /data (was 0:0)" in s.logs(ORACLE)
    vol = s.volume_path(f"{PROJECT}_blindbit_data")
    for root, dirs, files in os.walk(vol):
        for n in dirs + files:
            st = os.lstat(os.path.join(root, n))
            assert (st.st_uid, st.st_gid) == (10001, 10001), os.path.join(root, n)
    logdir = os.path.join(s.dir, "logs", "blindbit")
    assert os.stat(logdir).st_uid == 10001
    assert os.path.exists(os.path.join(logdir, "signetd.log"))
    # the cookie came through its group (no "cannot read" from the entrypoint)
    assert "cannot read the node's cookie" not in s.logs(ORACLE), s.logs(ORACLE)
    st, body = s.oracle_get("/status")
    assert st == 200 and json.loads(body)["node"]["reachable"] is True, body


# ---------------------------------------------------------------- mining

@pytest.fixture(scope="module")
def mined(upgraded):
    """The signet_miner profile mining with the chain's existing key, coins
    spent to taproot outputs, everything indexed."""
    s = upgraded
    t0 = time.time()
    s.compose("up", "-d", "--no-build", "signet_miner", profile=True)
    wait_until(lambda: s.height() >= 102, timeout=240, interval=1,
               what=f"the miner container's first 102 blocks\n{s.diag()}")
    # mature coinbases -> transactions with taproot outputs (BIP352 tweaks)
    s.txids = []
    for _ in range(6):
        tr = s.cli("-rpcwallet=w", "getnewaddress", "", "bech32m")
        s.txids.append(s.cli("-rpcwallet=w", "sendtoaddress", tr, "1.5"))
    wait_until(lambda: all(s.cli("-rpcwallet=w", "gettransaction", t)["confirmations"] >= 1
                           for t in s.txids), timeout=120, interval=1,
               what="the miner including the transactions")
    h = s.height()
    wait_until(lambda: s.oracle_height() >= h, timeout=120, interval=0.5,
               what=f"{ORACLE} indexing to {h}")
    s.tx_heights = sorted({s.cli("-rpcwallet=w", "gettransaction", t)["blockheight"]
                           for t in s.txids})
    s.timings["mining"] = time.time() - t0
    return s


def miner_container(s):
    r = s.podman("ps", "-q", "--filter", "label=com.docker.compose.service=signet_miner")
    ids = r.stdout.split()
    assert len(ids) == 1, r.stdout
    return ids[0]


def test_miner_container_mines_with_the_existing_key(mined):
    """(3, 4, 6, 13) The miner container signs with the chain's challenge key
    (a root-owned 0600 secret), logs logfmt to logs/miner/, and its blocks are
    the chain."""
    s = mined
    with open(os.path.join(s.dir, "logs", "miner", "miner.log")) as f:
        log = f.read()
    assert "msg=challenge_ok" in log or "msg=miner_start" in log, log[-2000:]
    mined_lines = [ln for ln in log.splitlines() if "msg=block_mined" in ln]
    assert len(mined_lines) >= 100, log[-2000:]
    last = dict(re.findall(r"(\w+)=(\S+)", mined_lines[-1]))
    assert s.cli("getblockhash", int(last["height"])) == last["hash"]
    top = s.podman("top", miner_container(s), "user", "args").stdout
    assert re.search(r"^signetd\s+signetd miner generate", top, re.M), top
    info = s.cli("-rpcwallet=w", "getwalletinfo")
    assert info["immature_balance"] > 0 or info["balance"] > 0


def test_tweak_index_through_nginx_equals_a_fresh_index(mined):
    """(10) /blindbit/... over HTTPS through the stack's nginx and the shipped
    location equals what a fresh signetd (this build, on the host) computes
    from the same node; /blindbit/status, /metrics, /health are not public."""
    s = mined
    ip = s.podman("inspect", "-f",
                  "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", NODE).stdout.strip()
    cookie = os.path.join(s.volume_path(f"{PROJECT}_node_bitcoin_data"), "signet", ".cookie")
    fresh = Signetd(os.path.join(s.dir, "fresh"), config={
        "chain": "signet", "rpc_endpoint": f"http://{ip}:38332", "cookie_path": cookie,
        "zmq_hashblock": "off", "zmq_rawtx": "off"})
    try:
        fresh.start()
        h = s.oracle_height()
        fresh.wait_synced(h, timeout=120)
        st, body = s.https_get("/blindbit/block-height")
        assert st == 200 and json.loads(body)["block_height"] >= h, (st, body)
        heights = sorted(set(s.tx_heights + [1, 50, h]))
        for height in heights:
            for route in ("tweak-index", "tweaks", "filter/new-utxos", "block-hash"):
                st, body = s.https_get(f"/blindbit/{route}/{height}")
                fst, _, fbody = fresh.get(f"/{route}/{height}")
                assert st == 200 and fst == 200, (route, height, st, body[:200])
                assert json.loads(body) == json.loads(fbody), (route, height)
        n = sum(len(json.loads(s.https_get(f"/blindbit/tweak-index/{x}")[1]))
                for x in s.tx_heights)
        assert n >= len(s.txids), n
        # /tweaks/H (blindbit-scan's route) is filled: cut-through is on (12)
        assert any(json.loads(s.https_get(f"/blindbit/tweaks/{x}")[1]) for x in s.tx_heights)
        for p in ("status", "metrics", "health"):
            st, _ = s.https_get(f"/blindbit/{p}")
            assert st == 403, (p, st)
    finally:
        fresh.stop()
        text = fresh.log_text()
        assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, text[-3000:]


def test_healthy_and_validate_deployment(mined):
    """(5, 10) The HEALTHCHECK reports healthy in `podman ps`, and
    validate-deployment.sh passes every check against the stack's real URLs
    (http -> https redirect, self-signed), and fails when the oracle is down."""
    s = mined
    assert s.health() == "healthy", s.logs(ORACLE)[-2000:]
    ps = s.podman("ps", "--filter", f"name={ORACLE}", "--format", "{{.Status}}").stdout
    assert "(healthy)" in ps, ps
    env = dict(s.env, DOCKER="podman", INSECURE="1", MINER="required",
               ORACLE_URL=f"http://127.0.0.1:{s.oracle_port}",
               BLINDBIT_URL=f"http://127.0.0.1:{s.http_port}/blindbit",
               LOG_DIR=os.path.join(s.dir, "logs"), WAIT="30")
    r = sh([os.path.join(CONTRIB, "validate-deployment.sh")], env=env, check=False,
           cwd=s.dir, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    passes = [ln for ln in r.stdout.splitlines() if ln.startswith("PASS")]
    assert len(passes) == 14, r.stdout
    assert "redirects (301) to HTTPS" in r.stdout and "not public (403)" in r.stdout


def test_logs_in_the_format_promtail_parses(mined):
    """(6, 9) logs/blindbit/ and logs/miner/ hold the files Promtail's paths
    match, every line matches its regex stage and timestamp format, and the
    dashboard's events are there."""
    s = mined
    with open(os.path.join(CONTRIB, "promtail", "signetd.yml")) as f:
        p = yaml.safe_load(f)
    assert not p["positions"]["filename"].startswith("/tmp")
    sc = p["scrape_configs"][0]
    rx = re.compile(sc["pipeline_stages"][0]["regex"]["expression"])
    fmt = sc["pipeline_stages"][2]["timestamp"]["format"]
    assert fmt == "RFC3339Nano"
    import fnmatch
    seen = {}
    for t in sc["static_configs"]:
        glob = t["labels"]["__path__"]
        assert glob.startswith("/var/log/"), glob
        host_glob = os.path.join(s.dir, "logs", glob[len("/var/log/"):])
        files = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(s.dir, "logs"))
                 for f in fs if fnmatch.fnmatch(os.path.join(d, f), host_glob)]
        files = [f for f in files if "upstream" not in f and not f.endswith("blindbit.log")]
        assert files, host_glob
        for fn in files:
            with open(fn) as fh:
                lines = fh.read().splitlines()
            assert lines, fn
            for ln in lines:
                m = rx.match(ln)
                assert m, (fn, ln)
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", m["ts"]), ln
            seen[t["labels"]["job"]] = "\n".join(lines)
    assert "msg=block_connected" in seen["blindbit"]
    assert "msg=block_mined" in seen["miner"]
    # every event the dashboard counts is one the code logs
    with open(os.path.join(CONTRIB, "grafana", "bitcoin-miner.json")) as f:
        exprs = " ".join(t["expr"] for pn in json.load(f)["panels"] for t in pn["targets"])
    for ev in ("block_connected", "block_mined"):
        assert f"msg={ev}" in exprs


def test_miner_stops_on_sigterm(mined):
    """(13) `docker stop` ends the miner with SIGTERM at once (tini as PID 1,
    the miner's own handler), not with SIGKILL after the grace period."""
    s = mined
    cid = miner_container(s)
    t0 = time.time()
    s.podman("stop", "-t", "30", cid, timeout=60)
    took = time.time() - t0
    code = int(s.podman("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip())
    assert code in (0, 143), code
    assert took < 10, took


def test_down_up_resumes_at_the_same_tip(mined):
    """`docker compose down` then `up` loses nothing: the node and the index
    come back at the same tip, without re-indexing."""
    s = mined
    tip = s.height()
    wait_until(lambda: s.oracle_height() == tip, timeout=60, what="index at the tip")
    t0 = time.time()
    s.compose("down", "-t", "30", profile=True)
    assert s.podman("ps", "-a", "-q", "--filter", f"name={ORACLE}").stdout.strip() == ""
    s.compose("up", "-d", "--no-build", "bitcoin", "blindbit", "nginx")
    wait_until(lambda: s.oracle_height() == tip, timeout=90, interval=0.5,
               what=f"the index back at {tip}\n{s.diag()}")
    assert s.height() == tip
    with open(os.path.join(s.dir, "logs", "blindbit", "signetd.log")) as f:
        opened = re.findall(r"msg=index_opened tip=(-?\d+)", f.read())
    assert len(opened) >= 2 and int(opened[-1]) == tip, opened
    wait_until(lambda: s.health() == "healthy", timeout=60, interval=1, what="healthy again")
    st, body = s.https_get(f"/blindbit/block-height")
    assert st == 200 and json.loads(body)["block_height"] == tip
    s.timings["down_up"] = time.time() - t0
