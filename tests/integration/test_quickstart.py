"""contrib/quickstart.sh, the README's run command, end to end: a real
bitcoind it starts itself, payments to taproot addresses, signetd serving
their tweaks; --check, --detach/--stop and Ctrl-C all leave nothing running.

BITCOIND/BITCOIN_CLI and SIGNETD_BIN point the script at existing binaries
(so it neither downloads nor builds); packages are already installed, so
contrib/install-deps.sh only checks them."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import REPO, find_bin, free_port, signetd_bin, wait_until

SCRIPT = os.path.join(REPO, "contrib", "quickstart.sh")


def env_for():
    e = dict(os.environ)
    e["BITCOIND"] = find_bin("BITCOIND", "bitcoind")
    e["BITCOIN_CLI"] = find_bin("BITCOIN_CLI", "bitcoin-cli")
    e["SIGNETD_BIN"] = os.path.abspath(signetd_bin())
    e["QS_RPC_PORT"] = str(free_port())
    e["QS_P2P_PORT"] = str(free_port())
    e["QS_ZMQ_PORT"] = str(free_port_pair())
    for k in ("RPC_ENDPOINT", "COOKIE_PATH", "RPC_USER", "RPC_PASS", "HOST"):
        e.pop(k, None)
    return e


def free_port_pair():
    """p with p and p+1 free on loopback (hashblock, rawtx)."""
    for _ in range(100):
        p = free_port()
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no two consecutive free ports")


def get(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.status, json.loads(r.read())


def pids(work):
    with open(os.path.join(work, "pids")) as f:
        return {ln.split()[0]: int(ln.split()[1]) for ln in f if ln.strip()}


def alive(pid):
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def assert_clean_logs(work):
    """signetd's stderr (sanitizer reports land there) holds no error report."""
    for d in ("signetd",):
        with open(os.path.join(work, d, "stderr.log"), errors="replace") as f:
            text = f.read()
        assert "ERROR: AddressSanitizer" not in text, text[-4000:]
        assert "runtime error:" not in text, text[-4000:]


def test_readme_command_check(tmpdir_short):
    """The README command (no chain flag) with --check: a private signet
    with a fresh challenge, mined by signetd's miner, tweaks served."""
    port = free_port()
    work = os.path.join(tmpdir_short, "qs")
    r = subprocess.run([SCRIPT, "--check", "--workdir", work, "--port", str(port),
                        "--interval", "5"], env=env_for(), capture_output=True,
                       text=True, timeout=1400)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "fresh signet challenge 5121" in out, out[-3000:]
    assert f"signetd is serving the signet chain on http://127.0.0.1:{port}" in out
    for path in ("/tweaks/102", "/tweak-index/102", "/health"):
        assert f"PASS {path} 200" in out, out[-3000:]
    assert "quickstart: check passed" in out
    assert not os.path.exists(os.path.join(work, "pids"))
    assert_clean_logs(work)
    # the miner signed its blocks with the key it generated
    with open(os.path.join(work, "node", "bitcoin.conf")) as f:
        assert "signetchallenge=5121" in f.read()


def test_detach_serves_payments_then_stop(tmpdir_short):
    port = free_port()
    work = os.path.join(tmpdir_short, "qs")
    e = env_for()
    r = subprocess.run([SCRIPT, "--regtest", "--detach", "--workdir", work, "--port",
                        str(port), "--interval", "2"], env=e, capture_output=True,
                       text=True, timeout=600)
    out = r.stdout + r.stderr
    try:
        assert r.returncode == 0, out[-5000:]
        running = pids(work)
        assert set(running) == {"bitcoind", "miner", "signetd"}, running
        assert all(alive(p) for p in running.values())
        url = f"http://127.0.0.1:{port}"
        assert f"curl -s {url}/tweaks/102" in out
        # three payments to taproot addresses, funded by taproot coinbases
        st, tweaks = get(f"{url}/tweaks/102")
        assert st == 200 and len(tweaks) >= 3, tweaks
        assert all(len(t) == 66 and t[:2] in ("02", "03") for t in tweaks)
        st, idx = get(f"{url}/tweak-index/102")
        assert st == 200 and sorted(idx) == sorted(tweaks)
        # still running after the script returned, and the chain goes on
        wait_until(lambda: get(f"{url}/block-height")[1]["block_height"] >= 104,
                   timeout=60, what="blocks mined in the background")
        st, health = get(f"{url}/health")
        assert st == 200 and health["status"] == "ok", health

        # a user's own node (RPC_ENDPOINT...): no node or miner started, just
        # signetd following it
        e2 = dict(e, RPC_ENDPOINT=f"http://127.0.0.1:{e['QS_RPC_PORT']}", CHAIN="regtest",
                  COOKIE_PATH=os.path.join(work, "node", "regtest", ".cookie"))
        port2 = free_port()
        r2 = subprocess.run([SCRIPT, "--check", "--workdir", os.path.join(tmpdir_short, "qs2"),
                             "--port", str(port2)], env=e2, capture_output=True, text=True,
                            timeout=600)
        out2 = r2.stdout + r2.stderr
        assert r2.returncode == 0, out2[-4000:]
        assert "following the node at" in out2 and "starting bitcoind" not in out2
        assert "PASS /health 200" in out2 and "check passed" in out2
        assert all(alive(p) for p in running.values())  # the first one is untouched
    finally:
        s = subprocess.run([SCRIPT, "--stop", "--workdir", work], env=e,
                           capture_output=True, text=True, timeout=120)
    assert s.returncode == 0, s.stdout + s.stderr
    assert "stopped signetd" in s.stdout and "stopped bitcoind" in s.stdout
    assert not any(alive(p) for p in running.values())
    assert not os.path.exists(os.path.join(work, "pids"))
    assert_clean_logs(work)


def test_foreground_ctrl_c_stops_everything(tmpdir_short):
    port = free_port()
    work = os.path.join(tmpdir_short, "qs")
    log = open(os.path.join(tmpdir_short, "qs.out"), "w+")
    p = subprocess.Popen([SCRIPT, "--regtest", "--workdir", work, "--port", str(port)],
                         env=env_for(), stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        end = time.time() + 600
        while "Ctrl-C stops everything" not in open(log.name).read():
            # a script that exited fails the test now, not at the timeout
            assert p.poll() is None, open(log.name).read()[-3000:]
            assert time.time() < end, "quickstart not up after 600 s"
            time.sleep(0.1)
        running = pids(work)
        assert len(running) == 3 and all(alive(x) for x in running.values())
        st, _ = get(f"http://127.0.0.1:{port}/block-height")
        assert st == 200
        # Ctrl-C: SIGINT to the terminal's foreground process group
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = open(log.name).read()
    assert rc == 130, text[-3000:]
    time.sleep(0.5)
    assert not any(alive(x) for x in running.values()), text[-3000:]
    assert "bitcoind" in text.split("Ctrl-C stops everything.")[1], text[-2000:]
    assert_clean_logs(work)
