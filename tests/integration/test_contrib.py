"""contrib/: the Dockerfile, compose override, entrypoint, Promtail, Grafana
and validate-deployment.sh, checked piece by piece against the real daemon
and a real bitcoind: what the Dockerfile COPYs exists and builds signetd, its
ENTRYPOINT+CMD start the daemon, its HEALTHCHECK tells a healthy daemon from
a stopped one.  tests/integration/test_stack.py builds and runs the image
itself, with the override on the node's compose file.
"""
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile

import pytest

try:  # Debian's python3-yaml; else the small reader below (no pip)
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

from conftest import (REPO, BitcoinNode, free_port, signetd_bin, wait_until)

CONTRIB = os.path.join(REPO, "contrib")
DOCKERFILE = os.path.join(CONTRIB, "Dockerfile")


# ---------------------------------------------------------------- YAML

def _scalar(v):
    v = v.strip()
    if not v:
        return None
    if v[0] in "\"'":
        return v[1:-1]
    if v == "{}":
        return {}
    if v in ("true", "false"):
        return v == "true"
    if v.startswith("["):
        return [_scalar(x) for x in v[1:-1].split(",") if x.strip()]
    return int(v) if re.fullmatch(r"-?[0-9]+", v) else v


def mini_yaml(text):
    """The block-style YAML subset contrib/ uses: maps, "- " lists, flow
    [a, b] / {}, quoted and plain scalars, # comments."""
    lines = []
    for ln in text.splitlines():
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        if " #" in ln and ln.count('"') % 2 == 0 and ln.count("'") % 2 == 0:
            ln = re.sub(r"\s+#.*$", "", ln)
        lines.append((len(ln) - len(ln.lstrip()), ln.strip()))

    def block(i, ind):
        if lines[i][1].startswith("- "):
            out = []
            while i < len(lines) and lines[i][0] == ind and lines[i][1].startswith("- "):
                item = lines[i][1][2:]
                if re.match(r"^[\w.-]+:(\s|$)", item) and not item.startswith(('"', "'")):
                    lines[i] = (ind + 2, item)
                    v, i = block(i, ind + 2)
                else:
                    v, i = _scalar(item), i + 1
                out.append(v)
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == ind:
            k, _, v = lines[i][1].partition(":")
            k = k.strip().strip("\"'")
            i += 1
            if v.strip():
                out[k] = _scalar(v)
            elif i < len(lines) and lines[i][0] > ind:
                out[k], i = block(i, lines[i][0])
            elif i < len(lines) and lines[i][0] == ind and lines[i][1].startswith("- "):
                out[k], i = block(i, ind)
            else:
                out[k] = None
        return out, i
    return block(0, lines[0][0])[0] if lines else None


def load_yaml(path):
    with open(path) as f:
        text = f.read()
    return yaml.safe_load(text) if yaml else mini_yaml(text)


def test_mini_yaml_reader_agrees_with_pyyaml():
    """The fallback reader gives what PyYAML gives on every contrib file."""
    if yaml is None:
        pytest.fail("python3-yaml missing: install it (contrib/install-deps.sh)")
    for p in ("docker-compose.yml", "promtail/signetd.yml", "grafana/dashboards.yml"):
        with open(os.path.join(CONTRIB, p)) as f:
            text = f.read()
        assert mini_yaml(text) == yaml.safe_load(text), p


# ---------------------------------------------------------------- Dockerfile

def dockerfile_instructions():
    """[(INSTRUCTION, argument text)] with line continuations joined."""
    out, cur = [], ""
    with open(DOCKERFILE) as f:
        for line in f:
            s = line.rstrip("\n")
            if not cur and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            ins, _, rest = cur.strip().partition(" ")
            out.append((ins.upper(), rest.strip()))
            cur = ""
    return out


def copy_sources():
    """Context paths the Dockerfile COPYs/ADDs (not --from= stage copies)."""
    srcs = []
    for ins, rest in dockerfile_instructions():
        if ins not in ("COPY", "ADD"):
            continue
        words = shlex.split(rest)
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        assert len(words) >= 2, f"{ins} {rest}"
        srcs += words[:-1]
    return srcs


def exec_form(ins):
    for i, rest in dockerfile_instructions():
        if i == ins:
            return json.loads(rest)
    raise AssertionError(f"no {ins} in the Dockerfile")


def test_dockerfile_shape():
    ins = dockerfile_instructions()
    froms = [r for i, r in ins if i == "FROM"]
    assert len(froms) == 2 and froms[0].startswith("debian:bookworm ") \
        and froms[1] == "debian:bookworm-slim", froms
    # starts as root: the entrypoint fixes volume owners, then drops to 10001
    assert not [r for i, r in ins if i == "USER"]
    assert ("EXPOSE", "8000") in ins
    assert ("VOLUME", '["/data"]') in ins
    assert exec_form("ENTRYPOINT") == ["/usr/bin/tini", "--", "signetd-entrypoint"]
    assert exec_form("CMD") == ["-datadir", "/data"]
    envs = [r for i, r in ins if i == "ENV"]
    assert envs.count("DEBIAN_FRONTEND=noninteractive") == 2, envs  # both stages
    runs = [r for i, r in ins if i == "RUN"]
    # the build stage installs the compiler packages only (no clang, valgrind...)
    assert "contrib/install-deps.sh --build-only" in runs[0], runs[0]
    assert "--runtime-only" in runs[2] and "tini" in runs[2], runs[2]
    assert "groupadd --gid 10001 signetd" in runs[2]
    assert "useradd --uid 10001 --gid 10001" in runs[2] and "--system" not in runs[2]
    for d in ("/var/log/blindbit", "/var/log/miner"):
        assert d in runs[2]
    assert "signet-miner" in runs[1]  # the miner's argv[0] symlink
    copies = [r for i, r in ins if i == "COPY"]
    assert "contrib/entrypoint.sh /usr/local/bin/signetd-entrypoint" in copies


def test_install_deps_build_only_is_the_compilers():
    """--build-only (the image's build stage) installs no test tools."""
    r = subprocess.run(["bash", "-c", 'source <(sed -n "/^build=/,/^pkgs=/p" '
                        f'{CONTRIB}/install-deps.sh); echo "${{build[@]}}"'],
                       capture_output=True, text=True, timeout=30)
    build = r.stdout.split()
    assert "cmake" in build and "libsecp256k1-dev" in build, r
    for p in ("clang", "valgrind", "prometheus", "nginx-light", "wrk", "python3-pytest"):
        assert p not in build, p


def test_dockerfile_copies_exist_and_are_not_ignored():
    srcs = copy_sources()
    assert "contrib/install-deps.sh" in srcs and "signetd/" in srcs
    for s in srcs:
        assert os.path.exists(os.path.join(REPO, s)), f"COPY {s}: not in the repo"
    with open(os.path.join(CONTRIB, "Dockerfile.dockerignore")) as f:
        allowed = [ln[1:].strip() for ln in f if ln.startswith("!")]
    for s in srcs:
        assert s in allowed, f"COPY {s} is excluded by Dockerfile.dockerignore"


def test_dockerfile_context_builds_signetd(tmp_path):
    """The build stage's context (only what it COPYs, minus test/ folders as
    the .dockerignore says) configures and builds signetd with its flags."""
    ctx = tmp_path / "src"
    ctx.mkdir()
    for s in copy_sources():
        src = os.path.join(REPO, s)
        dst = os.path.join(ctx, s)
        if os.path.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("test", "*.o"))
        else:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
    run = [r for i, r in dockerfile_instructions() if i == "RUN" and "cmake -S" in r]
    assert len(run) == 1, run
    m = re.search(r"cmake -S \. -B build ([^&]*)&&", run[0])
    flags = shlex.split(m.group(1))
    assert "-DBUILD_TESTING=OFF" in flags
    r = subprocess.run(["cmake", "-S", ".", "-B", "build"] + flags, cwd=ctx,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    r = subprocess.run(["cmake", "--build", "build", "-j2", "--target", "signetd"],
                       cwd=ctx, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([str(ctx / "build" / "signetd"), "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "signetd" in r.stdout, r


def healthcheck_cmd():
    for ins, rest in dockerfile_instructions():
        if ins == "HEALTHCHECK":
            m = re.search(r"\bCMD (.*)$", rest)
            assert m, rest
            return m.group(1)
    raise AssertionError("no HEALTHCHECK")


# ---------------------------------------------------------------- compose

def compose():
    return load_yaml(os.path.join(CONTRIB, "docker-compose.yml"))


def env_example(documented=False):
    """The KEY=value lines of env.example; with documented=True also the
    commented-out #KEY=value ones (optional settings, shown with a value)."""
    out = {}
    with open(os.path.join(CONTRIB, "env.example")) as f:
        for ln in f:
            ln = ln.strip()
            if documented and re.match(r"^#[A-Z][A-Z0-9_]*=", ln):
                ln = ln[1:]
            if ln and not ln.startswith("#"):
                k, _, v = ln.partition("=")
                out[k] = v
    return out


def interpolate(text, env):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err} and $$."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        v = env.get(name, "")
        if op == ":-" and not v:
            return arg
        if op == "-" and name not in env:
            return arg
        if op == ":?" and not v:
            raise AssertionError(f"{name} required: {arg}")
        return v
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?)([^}]*))?\}", sub, text)


def compose_vars():
    with open(os.path.join(CONTRIB, "docker-compose.yml")) as f:
        text = f.read()
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def config_keys():
    """Keys the daemon knows, from its own --print-config."""
    env = dict(os.environ, RPC_USER="u", RPC_PASS="p")
    r = subprocess.run([signetd_bin(), "-datadir", tempfile.mkdtemp(prefix="sd-k-"),
                        "--print-config"], capture_output=True, text=True, timeout=30,
                       env=env)
    assert r.returncode == 0, r.stderr
    keys = re.findall(r"^#?\s*([a-z_]+)\s*[=:]", r.stdout, re.M)
    assert "rpc_endpoint" in keys and "zmq_hashblock" in keys, r.stdout
    return set(keys)


def oracle_env(extra=None):
    """The blindbit service's environment as compose passes it with env.example
    appended to .env.master (extra: SIGNETD_* settings of the operator)."""
    svc = compose()["services"]["blindbit"]
    env = env_example()
    env.update(extra or {})
    return {k: interpolate(str(v), env) for k, v in svc["environment"].items()}


def test_compose_structure():
    """(1, 2, 6, 7, 8, 11, 12, 13) The override uses the node's names and
    replaces its services; it does not repeat what would duplicate or reset
    the node's declarations (ports, top-level volumes/networks)."""
    d = compose()
    assert set(d["services"]) == {"blindbit", "signet_miner"}, d["services"]
    assert set(d) == {"services", "secrets"}, set(d)
    svc = d["services"]["blindbit"]
    assert svc["container_name"] == "blindbit-oracle"
    assert "ports" not in svc  # the node's "8000:8000" stays, once
    assert svc["entrypoint"] == exec_form("ENTRYPOINT")
    assert svc["command"] == exec_form("CMD")
    assert svc["depends_on"] == ["bitcoin"]
    assert svc["labels"]["com.centurylinklabs.watchtower.enable"] == "false"
    assert "/health" in svc["healthcheck"]["test"][1]
    assert any(v.endswith(":/data") for v in svc["volumes"]), svc["volumes"]
    # paths are relative to the node stack's folder; SIGNETD_SRC = this repo
    assert svc["build"]["dockerfile"] == "contrib/Dockerfile"
    ctx = interpolate(svc["build"]["context"], {"SIGNETD_SRC": REPO})
    assert os.path.samefile(ctx, REPO), ctx
    env = oracle_env()
    assert env["RPC_ENDPOINT"] == "http://bitcoin:38332"
    assert env["ZMQ_HASHBLOCK"] == "tcp://bitcoin:29000"
    assert env["ZMQ_RAWTX"] == "tcp://bitcoin:29001"
    assert env["COOKIE_PATH"] == "/bitcoin/signet/.cookie"
    assert env["HOST"].endswith(":8000")
    assert env["TWEAKS_CUT_THROUGH_WITH_DUST_FILTER"] == "1"
    assert env["LOG_FILE"].startswith("/var/log/blindbit/")
    vols = [interpolate(v, env_example()) for v in svc["volumes"]]
    assert "./logs/blindbit:/var/log/blindbit" in vols
    assert "bitcoin_data:/bitcoin:ro" in vols
    # empty SIGNETD_COOKIE_PATH (user/password instead) stays empty
    assert oracle_env({"SIGNETD_COOKIE_PATH": ""})["COOKIE_PATH"] == ""
    miner = d["services"]["signet_miner"]
    assert miner["profiles"] == ["signet_miner"]
    assert miner["healthcheck"] == {"disable": True}
    assert miner["labels"]["com.centurylinklabs.watchtower.enable"] == "false"
    assert miner["entrypoint"] == exec_form("ENTRYPOINT")
    menv = {k: interpolate(str(v), env_example()) for k, v in miner["environment"].items()}
    assert menv["RPC_URL"] == "http://bitcoin:38332"
    assert menv["RPC_COOKIE"] == "/bitcoin/signet/.cookie"
    assert menv["MINER_LOG_FILE"].startswith("/var/log/miner/")
    assert "./logs/miner:/var/log/miner" in miner["volumes"]
    for net in svc["networks"] + miner["networks"]:
        assert net == "btcnet"
    # every variable is ours (SIGNETD_*) and documented in env.example
    used = compose_vars()
    assert all(v.startswith("SIGNETD_") for v in used), sorted(used)
    missing = used - set(env_example(documented=True))
    assert not missing, f"not in env.example: {sorted(missing)}"
    # nothing required is left blank: a blank line there would be read as set
    for k, v in env_example().items():
        assert v != "", f"env.example: {k}= is blank (comment it out, or give it a value)"


def test_compose_env_keys_are_daemon_keys(tmp_path):
    """Each env var of the service is a config key, and the daemon takes the
    values compose passes (an empty one leaves the key to the file/default)."""
    keys = config_keys()
    env = oracle_env()
    for k in env:
        assert k.lower() in keys, f"{k}: not a signetd config key"
    e = dict(os.environ)
    e.update(env)
    r = subprocess.run([signetd_bin(), "-datadir", str(tmp_path), "--print-config"],
                       capture_output=True, text=True, timeout=30, env=e)
    assert r.returncode == 0, r.stderr
    printed = dict(re.findall(r'^([a-z_]+)\s*=\s*"?([^"\n]*)"?', r.stdout, re.M))
    for k in ("host", "chain", "rpc_endpoint", "cookie_path", "zmq_hashblock",
              "zmq_rawtx", "log_file"):
        assert printed.get(k) == env[k.upper()], (k, printed.get(k), r.stdout)
    assert printed["tweaks_cut_through_with_dust_filter"] in ("1", "true")
    # the empty ones are the daemon's defaults
    assert printed["block_source"] == "auto" and printed["health_max_tip_age"] == "3600"


def test_miner_options_known():
    """The miner service's command uses options the miner accepts, and its
    environment names the miner (or the entrypoint) reads."""
    miner = compose()["services"]["signet_miner"]
    r = subprocess.run([signetd_bin(), "miner", "--help"], capture_output=True,
                       text=True, timeout=30)
    usage = r.stdout + r.stderr
    assert "generate" in usage and "--ongoing" in usage, usage
    cmd = [interpolate(str(c), {}) for c in miner["command"]]
    assert cmd[:2] == ["miner", "generate"]
    for c in cmd[2:]:
        opt = c.split("=", 1)[0]
        assert opt in usage, f"{opt} not in the miner's usage"
    with open(os.path.join(CONTRIB, "entrypoint.sh")) as f:
        entry = f.read()
    for k in miner["environment"]:
        assert k in usage or k.startswith("RPC_") or k in entry, k


def test_signet_miner_symlink_dispatch(tmp_path):
    """The image's signet-miner symlink runs the miner (argv[0])."""
    link = tmp_path / "signet-miner"
    os.symlink(os.path.abspath(signetd_bin()), link)
    r = subprocess.run([str(link), "--help"], capture_output=True, text=True, timeout=30)
    assert "usage: signet-miner" in r.stdout + r.stderr, r


# ---------------------------------------------------------------- Grafana, Promtail

def dashboard():
    with open(os.path.join(CONTRIB, "grafana", "bitcoin-miner.json")) as f:
        return json.load(f)


def test_grafana_dashboard():
    """(9) The stack's "Bitcoin & Miner" (uid bitcoin-miner) on Loki alone."""
    d = dashboard()
    assert d["title"] == "Bitcoin & Miner" and d["uid"] == "bitcoin-miner"
    assert [v["query"] for v in d["templating"]["list"] if v["type"] == "datasource"] == ["loki"]
    titles = [p["title"] for p in d["panels"]]
    for t in ("New blocks", "Mined blocks", "Chain errors"):
        assert t in titles, titles
    for p in d["panels"]:
        assert p["datasource"]["type"] == "loki", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["type"] == "loki", p["title"]
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in d["panels"]}
    assert "msg=block_connected" in exprs["New blocks"]
    assert "msg=block_mined" in exprs["Mined blocks"]
    assert 'level="error"' in exprs["Chain errors"] and "zmq_gap" in exprs["Chain errors"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))


def test_grafana_events_are_logged_by_the_code():
    """Every event name the dashboard counts is one the C sources log."""
    logged = set()
    for mod in ("signetd", "oracle", "rpc", "miner"):
        for dirpath, _, files in os.walk(os.path.join(REPO, mod)):
            for fn in files:
                if fn.endswith(".c"):
                    with open(os.path.join(dirpath, fn)) as f:
                        text = f.read()
                    # sd_log_*(mod, "event", ...), the event possibly chosen
                    # by a ?: of literals: every literal of those calls
                    for call in re.findall(r'sd_log_(?:info|warn|error|debug)\((.*?)\);',
                                           text, re.S):
                        logged |= set(re.findall(r'"([a-z_]+)"', call))
    assert "block_connected" in logged and "block_mined" in logged, sorted(logged)
    text = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    names = set(re.findall(r'msg=([a-z_]+)', text))
    for alt in re.findall(r'msg=~"([a-z_|]+)"', text):
        names |= set(alt.split("|"))
    assert names, text
    assert not names - logged, sorted(names - logged)


def promtail():
    return load_yaml(os.path.join(CONTRIB, "promtail", "signetd.yml"))


def test_promtail_config():
    """(6, 11) Promtail reads logs/blindbit and logs/miner (the node's folders),
    its regex takes our logfmt lines, positions are not in /tmp."""
    p = promtail()
    assert not p["positions"]["filename"].startswith("/tmp/")
    sc = p["scrape_configs"][0]
    stages = sc["pipeline_stages"]
    rx = re.compile(stages[0]["regex"]["expression"])
    labels = next(s["labels"] for s in stages if "labels" in s)
    assert set(labels) <= {"level", "mod"}, labels
    paths = {t["labels"]["job"]: t["labels"]["__path__"] for t in sc["static_configs"]}
    assert fnmatch.fnmatch(oracle_env()["LOG_FILE"], paths["blindbit"]), paths
    miner = compose()["services"]["signet_miner"]
    assert fnmatch.fnmatch(miner["environment"]["MINER_LOG_FILE"], paths["miner"]), paths
    m = rx.match("ts=2026-08-22T10:11:12.345Z level=info mod=oracle msg=block_connected "
                 "height=812 hash=00ab")
    assert m and m["msg"] == "block_connected" and m["level"] == "info"


# ---------------------------------------------------------------- a running "container"

def nginx_conf(tmp, oracle_port, listen_port):
    """contrib/nginx/blindbit.conf.template filled in as the stack would
    (prefix stripped: /blindbit/x -> signetd /x), with runtime paths in tmp."""
    with open(os.path.join(CONTRIB, "nginx", "blindbit.conf.template")) as f:
        text = f.read()
    values = {"LISTEN": f"127.0.0.1:{listen_port}", "SIGNETD": f"127.0.0.1:{oracle_port}",
              "PREFIX_PATH": "/", "PROXY_REDIRECT": "/ /blindbit/",
              "CACHE_DIR": f"{tmp}/nginx-cache", "PID": f"{tmp}/nginx.pid",
              "ERROR_LOG": f"{tmp}/nginx.error.log",
              "ACCESS_LOG": f"{tmp}/nginx.access.log", "TEMP_DIR": f"{tmp}/nginx-tmp"}
    text = "\n".join(ln if ln.lstrip().startswith("#") else
                     re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], ln)
                     for ln in text.splitlines())
    os.makedirs(f"{tmp}/nginx-tmp", exist_ok=True)
    path = os.path.join(tmp, "nginx.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


class Container:
    """signetd started the way the image starts it: ENTRYPOINT + CMD with
    /data -> a temp dir, the compose fragment's environment pointed at a
    real regtest bitcoind, and nginx in front."""

    def __init__(self, tmp, node):
        self.tmp = tmp
        self.node = node
        self.data = os.path.join(tmp, "data")
        self.logdir = os.path.join(tmp, "logs", "blindbit")  # ./logs/blindbit
        os.makedirs(self.data)
        os.makedirs(self.logdir)
        self.port = free_port()
        self.nginx_port = free_port()
        env = oracle_env({"SIGNETD_CHAIN": "regtest", "SIGNETD_RPC_ENDPOINT": node.rpc_url,
                          "SIGNETD_COOKIE_PATH": node.cookie_path,
                          "SIGNETD_ZMQ_HASHBLOCK": node.zmq_hashblock,
                          "SIGNETD_ZMQ_RAWTX": node.zmq_rawtx})
        env["HOST"] = f"127.0.0.1:{self.port}"
        env["LOG_FILE"] = env["LOG_FILE"].replace("/var/log/blindbit", self.logdir)
        self.env = dict(os.environ)
        self.env.update(env)
        # tini -> signetd-entrypoint CMD -> `signetd -datadir /data`
        argv = exec_form("CMD")
        assert argv[0].startswith("-")
        self.argv = [signetd_bin()] + [self.data if a == "/data" else a for a in argv]
        self.proc = None
        self.nginx = None
        self.log_path = os.path.join(tmp, "signetd.stderr")

    def start(self):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        return self

    def start_nginx(self):
        conf = nginx_conf(self.tmp, self.port, self.nginx_port)
        self.nginx = subprocess.Popen(["nginx", "-p", self.tmp, "-c", conf,
                                       "-g", "daemon off;" + (" user root;" if os.getuid() == 0 else "")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: self.http(f"http://127.0.0.1:{self.nginx_port}/") is not None,
                   timeout=20, what="nginx")

    def nginx_errors(self):
        try:
            with open(os.path.join(self.tmp, "nginx.error.log")) as f:
                return "\nnginx error log:\n" + f.read()[-2000:]
        except FileNotFoundError:
            return ""

    def http(self, url):
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url],
                           capture_output=True, text=True, timeout=20)
        return r.stdout if r.returncode == 0 else None

    def healthcheck(self):
        """The Dockerfile's HEALTHCHECK command, run by /bin/sh with our env."""
        return subprocess.run(["/bin/sh", "-c", healthcheck_cmd()], env=self.env,
                              capture_output=True, text=True, timeout=30).returncode

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
            self.proc = None
            return rc
        return None

    def close(self):
        self.stop()
        if self.nginx:
            self.nginx.terminate()
            self.nginx.wait(timeout=30)


@pytest.fixture
def stack(tmpdir_short):
    node = BitcoinNode(os.path.join(tmpdir_short, "node")).start()
    c = Container(tmpdir_short, node)
    try:
        node.generate(110)
        c.start()
        yield c
    finally:
        c.close()
        node.stop()
        with open(c.log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        assert "ERROR: AddressSanitizer" not in text, text[-4000:]
        assert "runtime error:" not in text, text[-4000:]


def validate(c, **extra):
    """validate-deployment.sh without containers: the node by JSON-RPC, no
    container/nginx/miner checks (tests/integration/test_stack.py runs it
    whole against the stack)."""
    env = dict(os.environ)
    env.update({"RPC_URL": c.node.rpc_url, "COOKIE_PATH": c.node.cookie_path,
                "ORACLE_URL": f"http://127.0.0.1:{c.port}", "ORACLE_CONTAINER": "",
                "BLINDBIT_URL": "", "MINER": "off",
                "LOG_DIR": os.path.dirname(c.logdir), "WAIT": "5"})
    env.update(extra)
    return subprocess.run([os.path.join(CONTRIB, "validate-deployment.sh")], env=env,
                          capture_output=True, text=True, timeout=120)


def test_image_entrypoint_healthcheck_and_validate(stack):
    c = stack
    wait_until(lambda: c.healthcheck() == 0, timeout=90,
               what="HEALTHCHECK passing (signetd synced to the node)")
    r = validate(c)
    assert r.returncode == 0, r.stdout + r.stderr
    passes = [ln for ln in r.stdout.splitlines() if ln.startswith("PASS")]
    assert len(passes) == 5, r.stdout
    assert "oracle tip = node tip: 110" in r.stdout
    assert "signetd_index_height 110" in r.stdout
    assert "signetd.log: logfmt, 110 block_connected" in r.stdout

    # the log file compose points Promtail at: logfmt, with the dashboard's events
    c.node.generate(1)
    log = os.path.join(c.logdir, os.path.basename(oracle_env()["LOG_FILE"]))
    wait_until(lambda: "msg=block_connected height=111" in open(log).read(),
               timeout=30, what="block_connected in the log file")
    for ln in open(log).read().splitlines():
        assert re.match(r"ts=\S+ level=(trace|debug|info|warn|error) mod=\S+ msg=[a-z_]+", ln), ln

    # an unreachable node is caught
    r = validate(c, RPC_URL=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "FAIL node unreachable" in r.stdout, r.stdout

    # signetd stopped: HEALTHCHECK and validate-deployment fail
    assert c.stop() == 0
    assert c.healthcheck() != 0
    r = validate(c)
    assert r.returncode == 1, r.stdout
    assert "FAIL oracle not healthy" in r.stdout and "PASS node reachable" in r.stdout
    assert "check(s) failed" in r.stdout


def test_systemd_unit_verifies(tmp_path):
    """contrib/signetd.service passes systemd-analyze verify (with ExecStart
    pointed at the built binary) and starts signetd the upstream way."""
    with open(os.path.join(CONTRIB, "signetd.service")) as f:
        unit = f.read()
    m = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    assert m and m.group(2) == "-datadir /var/lib/signetd", m
    assert re.search(r"^User=signetd$", unit, re.M)
    p = tmp_path / "signetd.service"
    p.write_text(unit.replace(m.group(1), os.path.abspath(signetd_bin())))
    r = subprocess.run(["systemd-analyze", "verify", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


def test_toml_example_is_accepted(tmp_path):
    """contrib/blindbit.toml.example loads as is and sets what it says."""
    shutil.copy(os.path.join(CONTRIB, "blindbit.toml.example"), tmp_path / "blindbit.toml")
    env = {k: v for k, v in os.environ.items() if k.lower() not in config_keys()}
    r = subprocess.run([signetd_bin(), "-datadir", str(tmp_path), "--print-config"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 0, r.stderr
    assert "unknown" not in r.stderr, r.stderr
    assert 'rpc_endpoint = "http://127.0.0.1:38332"' in r.stdout, r.stdout
    assert 'zmq_rawtx = "tcp://127.0.0.1:29001"' in r.stdout
    assert "tweaks_full_with_dust_filter = true" in r.stdout
    assert "tweaks_cut_through_with_dust_filter = true" in r.stdout  # (12)


@pytest.fixture
def open_tmp():
    """A temp dir uid 10001 can walk (pytest's tmp_path is 0700 root)."""
    import pathlib
    d = tempfile.mkdtemp(prefix="sd-entry-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_entrypoint_owns_volume_and_drops_privileges(open_tmp):
    """(5) contrib/entrypoint.sh as root: a root-owned datadir (an upstream
    blindbit_data volume) becomes 10001:10001, and the command runs as
    10001:10001; `miner ...` becomes `signetd miner ...`."""
    if os.getuid() != 0:
        pytest.fail("needs root (the image's entrypoint starts as root)", pytrace=False)
    tmp_path = open_tmp
    data = tmp_path / "data"
    (data / "old").mkdir(parents=True)
    (data / "old" / "f").write_text("upstream")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "signetd"
    # stands for /usr/local/bin/signetd: prints who runs it and its argv
    wrapper.write_text('#!/bin/sh\necho "uid=$(id -u) gid=$(id -g) groups=$(id -G) argv=$*"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    entry = os.path.join(CONTRIB, "entrypoint.sh")
    r = subprocess.run([entry, "-datadir", str(data)], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"uid=10001 gid=10001 groups=10001 argv=-datadir {data}" in r.stdout, r.stdout
    assert f"chown -R 10001:10001 {data} (was 0:0)" in r.stderr, r.stderr
    for p in (data, data / "old", data / "old" / "f"):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid) == (10001, 10001), p
    r = subprocess.run([entry, "miner", "generate", "--ongoing"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert "uid=10001" in r.stdout and "argv=miner generate --ongoing" in r.stdout, r
    # the cookie's group is added; an unreadable cookie is named, not hidden
    node = tmp_path / "node" / "signet"
    node.mkdir(parents=True)
    cookie = node / ".cookie"
    cookie.write_text("__cookie__:x")
    os.chown(cookie, 1000, 1000)
    os.chmod(cookie, 0o640)
    os.chown(node, 1000, 1000)
    os.chmod(node, 0o700)
    env["COOKIE_PATH"] = str(cookie)
    r = subprocess.run([entry, "-datadir", str(data)], capture_output=True, text=True,
                       env=env, timeout=30)
    assert "groups=10001 1000" in r.stdout, r.stdout
    assert "cannot read the node's cookie" in r.stderr and "chmod 0750" in r.stderr, r.stderr
    os.chmod(node, 0o750)
    r = subprocess.run([entry, "-datadir", str(data)], capture_output=True, text=True,
                       env=env, timeout=30)
    assert "cannot read" not in r.stderr, r.stderr
