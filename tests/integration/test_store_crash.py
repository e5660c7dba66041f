"""Crash safety of the LMDB tweak index (issue 3): build/tools/oracle_index
indexes regtest-a's blocks.hex; it is kill -9'd at 10 random instants while
indexing (starting from a tiny map so map growth is hit too), each restart
resumes from the tip, and the final index must dump byte-identical to a fresh
uninterrupted run.  No bitcoind needed: the tool feeds the blocks itself.

Issue 18: signetd kill -9'd after a background snapshot of the outpoint map
restarts from it with a replay (real bitcoind holding regtest-a).
"""
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import REPO, TESTDATA, regtest_a_blocks, wait_until

BLOCKS = os.path.join(TESTDATA, "regtest-a", "blocks.hex")


def tool_path():
    build = os.environ.get("SIGNETD_BUILD_DIR") or os.path.join(REPO, "build")
    p = os.path.join(build, "tools", "oracle_index")
    if not os.path.exists(p):
        pytest.fail(f"{p} not found (build the oracle_index tool, set SIGNETD_BUILD_DIR)",
                    pytrace=False)
    return p


def run(args, env):
    r = subprocess.run([tool_path(), "--blocks", BLOCKS] + args, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    return r.stdout.decode()


def tip_of(datadir, env):
    out = run(["--datadir", datadir, "--no-index", "--tip"], env)
    h, _hash = out.split()[1:3]
    return int(h)


def test_kill9_resume_equals_fresh(tmp_path):
    env = dict(os.environ, SIGNETD_INDEX_MAP_SIZE="131072")
    rng = random.Random(int(os.environ.get("STORE_CRASH_SEED", time.time())))

    fresh = run(["--datadir", str(tmp_path / "fresh"), "--dump"], env)
    assert fresh.count("\nblocks ") == 400  # heights 1..400

    crashed = str(tmp_path / "crashed")
    last_tip = -1
    kills_mid_run = 0
    tips = []
    for i in range(10):
        p = subprocess.Popen([tool_path(), "--blocks", BLOCKS, "--datadir", crashed,
                              "--progress"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Wait until the blocks are loaded, then kill while a random block
        # between the tip and the end is being written: the tool prints
        # "connect H" just before connecting H, and a random extra delay of
        # up to 0.5 ms moves the kill into the LMDB write.  Any build speed
        # (Release or ASan) gets kills spread over the whole run.
        line = p.stderr.readline().decode()
        assert "loaded 400 blocks" in line, line
        # (a kill can land a few blocks after its target: keep the range
        # non-empty when an earlier one overshot)
        lo = min(max(last_tip, 0) + 1, 400)
        target = rng.randint(lo, max(lo, 399 - (9 - i)))
        while True:
            line = p.stderr.readline().decode()
            if not line:
                break
            if line.strip() == f"oracle_index: connect {target}":
                time.sleep(rng.uniform(0.0, 0.0005))
                if p.poll() is None:
                    os.kill(p.pid, signal.SIGKILL)
                    kills_mid_run += 1
                break
        p.wait()
        tip = tip_of(crashed, env)
        assert tip >= last_tip, (i, tip, last_tip)
        assert tip <= 400
        last_tip = tip
        tips.append(tip)
    print("tips after each kill:", tips)
    assert kills_mid_run >= 8, kills_mid_run
    assert last_tip < 400, "index finished before the kills: nothing was tested"

    resumed = run(["--datadir", crashed, "--dump"], env)
    assert tip_of(crashed, env) == 400
    assert resumed == fresh


def snap_tip(datadir):
    """The tip height the outpoint map's snapshot is tagged with (header
    offset 20, LE; oracle/index/STORAGE.md), or None."""
    try:
        with open(os.path.join(datadir, "index", "outmap.snap"), "rb") as f:
            hdr = f.read(24)
    except FileNotFoundError:
        return None
    return int.from_bytes(hdr[20:24], "little")


def loaded_line(s, after):
    """The outpoint_map_loaded line logged after byte offset `after`."""
    text = s.log_text()[after:]
    lines = [ln for ln in text.splitlines() if "msg=outpoint_map_loaded" in ln]
    return lines[-1] if lines else None


def test_kill9_signetd_replays_background_snapshot(bitcoind, signetd_factory, tmp_path):
    """Issue 18: signetd writes the outpoint map's snapshot from a forked
    child every SIGNETD_OUTMAP_SNAPSHOT_BLOCKS blocks.  kill -9 after
    indexing 1..350 (one background snapshot at 250.., none later): the
    restart loads it and replays the blocks above it (logged
    source=snapshot+replay replayed_blocks=350-T, T the file's tip),
    serves /block-height at once, indexes 351..400 with the replayed map
    (their spends of outputs created up to 350 need it), and the index
    then dumps byte-identical to a fresh uninterrupted run."""
    env = dict(os.environ)
    fresh = run(["--datadir", str(tmp_path / "fresh"), "--dump"], env)
    assert fresh.count("\nblocks ") == 400

    blocks = regtest_a_blocks()
    bitcoind.submit_hex_blocks(blocks[:350])
    s = signetd_factory(bitcoind, env={"SIGNETD_OUTMAP_SNAPSHOT_BLOCKS": "250"})
    s.start()
    s.wait_synced(350)
    # the child forked at the first commit at or past 250 renames its file
    wait_until(lambda: snap_tip(s.datadir) is not None, timeout=60,
               what="background snapshot")
    t = snap_tip(s.datadir)
    assert 250 <= t < 350, t
    # (its outpoint_map_saved line comes when the parent reaps it, at a
    # later commit: maybe none before the kill)
    assert f"msg=outpoint_map_save_started tip={t} " in s.log_text()
    assert s.indexed_height() == 350
    s.kill()
    assert snap_tip(s.datadir) == t  # no later one (next due at t + 250)

    off = len(s.log_text())
    s.start()
    assert s.indexed_height() == 350
    wait_until(lambda: loaded_line(s, off) is not None, timeout=60,
               what="outpoint_map_loaded")
    line = loaded_line(s, off)
    print("snapshot tip", t, "restart:", line)
    assert f"source=snapshot+replay replayed_blocks={350 - t} snapshot_tip={t}" in line, line
    assert "outpoint_map_snapshot_unusable" not in s.log_text()[off:]
    # operators see it: /status and /metrics name the snapshot's tip
    om = s.get_json("/status")["index"]["outpoint_map"]
    assert om["snapshot_height"] == t and om["snapshot_failures"] == 0, om
    st, _, body = s.get("/metrics")
    assert st == 200
    assert f"\nsignetd_outpoint_map_snapshot_height {t}\n" in body.decode()
    assert "\nsignetd_outpoint_map_snapshot_failures_total 0\n" in body.decode()

    bitcoind.submit_hex_blocks(blocks[350:])
    s.wait_synced(400)
    s.stop()
    crashed = run(["--datadir", s.datadir, "--no-index", "--dump"], env)
    assert crashed == fresh
