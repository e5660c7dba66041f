"""Debian nginx in front of signetd with contrib/nginx/blindbit.conf.template
(prefix kept and prefix stripped): every recorded request answers the same
through /blindbit/ as signetd answers directly; block answers get cached,
tip answers never; /blindbit/status, /metrics, /health are not published."""
import http.client
import os
import shutil
import subprocess
import tempfile

import pytest

import api_common as ac
from conftest import REPO, free_port, wait_until

NGINX = "/usr/sbin/nginx"


def render(tmp, signetd_port, prefix_path, redirect):
    with open(os.path.join(REPO, "contrib", "nginx", "blindbit.conf.template")) as f:
        t = f.read()
    port = free_port()
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "cache"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    subst = {
        "@LISTEN@": f"127.0.0.1:{port}",
        "@SIGNETD@": f"127.0.0.1:{signetd_port}",
        "@PREFIX_PATH@": prefix_path,
        "@PROXY_REDIRECT@": redirect,
        "@CACHE_DIR@": os.path.join(tmp, "cache"),
        "@PID@": os.path.join(tmp, "nginx.pid"),
        "@ERROR_LOG@": os.path.join(tmp, "error.log"),
        "@ACCESS_LOG@": os.path.join(tmp, "access.log"),
        "@TEMP_DIR@": tmp,
    }
    for k, v in subst.items():
        t = t.replace(k, v)
    body = "\n".join(ln for ln in t.splitlines() if not ln.lstrip().startswith("#"))
    assert "@" not in body, "unfilled placeholder"
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(t)
    return conf, port


class Nginx:
    def __init__(self, signetd_port, prefix_path, redirect):
        self.tmp = tempfile.mkdtemp(prefix="sd-ngx-")
        self.conf, self.port = render(self.tmp, signetd_port, prefix_path, redirect)
        # as root, nginx workers would drop to "nobody", who cannot use
        # our private temp dir; as any other user this is a no-op
        g = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        subprocess.run([NGINX, "-t", "-c", self.conf, "-p", self.tmp,
                        "-g", g], check=True, capture_output=True)
        self.proc = subprocess.Popen([NGINX, "-c", self.conf, "-p", self.tmp,
                                      "-g", g],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._up, timeout=20, what="nginx")

    def _up(self):
        assert self.proc.poll() is None, self.proc.stderr.read()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/blindbit/block-height")
        c.getresponse().read()
        return True

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


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


def fetch(conn, method, path, headers=None):
    conn.request(method, path, None, headers or {})
    r = conn.getresponse()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()


@pytest.mark.parametrize("prefix_path,redirect", [("/blindbit/", "off"),
                                                   ("/", "/ /blindbit/")],
                         ids=["keep-prefix", "strip-prefix"])
def test_same_answers_through_nginx(oracle, dev, prefix_path, redirect):
    ngx = Nginx(oracle.port, prefix_path, redirect)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ngx.port, timeout=30)
        bad = []
        rows = ac.recorded()
        for row in rows:
            st, hd, body = fetch(conn, row["method"], "/blindbit" + row["path"])
            est, ect, ebody, _ = dev.expected(row, ac.height_of)
            if row["method"] == "POST":
                # nginx adds nothing; upstream's empty 400
                pass
            if (st, hd.get("content-type"), body) != (est, ect, ebody):
                bad.append((row["path"], st, est, body[:120], ebody[:120]))
        assert not bad, f"{len(bad)} differ through nginx, first: {bad[:5]}"

        # block answers are cached (immutable), the tip never is
        for _ in range(2):
            st, hd, _ = fetch(conn, "GET", "/blindbit/tweak-index/222")
        assert st == 200 and hd["x-cache-status"] == "HIT"
        assert hd["cache-control"] == "public, max-age=31536000, immutable"
        for _ in range(2):
            st, hd, body = fetch(conn, "GET", "/blindbit/block-height")
        assert body == b'{"block_height":400}'
        assert hd.get("x-cache-status") in (None, "MISS", "BYPASS", "EXPIRED")
        assert hd.get("x-cache-status") != "HIT"

        # trailing slash redirect keeps the /blindbit/ prefix either way
        st, hd, _ = fetch(conn, "GET", "/blindbit/tweaks/5/")
        assert st == 301 and hd["location"].endswith("/blindbit/tweaks/5")

        # the operator views are not published through the proxy (issue
        # 16.6); signetd itself still answers them on its own port
        for p in ("/blindbit/status", "/blindbit/metrics", "/blindbit/health",
                  "/blindbit/status/"):
            st, hd, body = fetch(conn, "GET", p)
            assert st == 403, (p, st)
        direct = oracle.get("/status")
        assert direct[0] == 200 and direct[2].startswith(b"{")

        # gzip through the proxy
        import gzip
        st, hd, packed = fetch(conn, "GET", "/blindbit/tweak-index/300",
                               {"Accept-Encoding": "gzip"})
        assert hd.get("content-encoding") == "gzip"
        assert gzip.decompress(packed) == oracle.get("/tweak-index/300")[2]
        conn.close()
    finally:
        ngx.stop()
