#!/usr/bin/env python3
"""grpc_stream_bench.py - throughput of signetd's gRPC server streams
(StreamBlockScanDataShort, StreamComputeIndex) over a whole chain.

    /usr/bin/python3 bench/grpc_stream_bench.py BUILD_DIR [--rounds N]
        [--chain regtest-a | --node-datadir DIR --rpc-port P]

regtest-a (default): a fresh regtest bitcoind gets tests/data/regtest-a's 400
blocks.  --node-datadir: an existing regtest node (e.g. sync_bench.sh's
$BENCH_DIR/node, the 90k-tweak chain), started here on --rpc-port.
signetd (BUILD/signetd) syncs it with grpc_host set, then each round streams
1..tip once per rpc with a raw-bytes client (grpcio, no protobuf decoding on
the client, so the client costs little) and prints messages/s, MB/s of
message payload, and signetd's CPU time per round (from /proc); then a
v1 light client's way for comparison: 3 GETs a block (/tweak-index,
/spent-index, /utxos) on one keep-alive connection, one at a time."""
import argparse
import http.client
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import grpc  # noqa: E402

from conftest import BitcoinNode, Signetd, free_port, regtest_a_blocks  # noqa: E402
import grpc_common as gc  # noqa: E402

RPCS = ("StreamBlockScanDataShort", "StreamComputeIndex")


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def stream_round(ch, rpc, tip):
    pb2, _ = gc.stubs()
    call = ch.unary_stream(f"/blindbit.oracle.v1.OracleService/{rpc}",
                           request_serializer=lambda r: r.SerializeToString(),
                           response_deserializer=lambda b: b)
    t0 = time.perf_counter()
    n = nbytes = 0
    for m in call(pb2.RangedBlockHeightRequestFiltered(start=1, end=tip), timeout=600):
        n += 1
        nbytes += len(m)
    return n, nbytes, time.perf_counter() - t0


def http_round(port, tip):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    nbytes = 0
    for h in range(1, tip + 1):
        for p in (f"/tweak-index/{h}", f"/spent-index/{h}", f"/utxos/{h}"):
            c.request("GET", p)
            r = c.getresponse()
            nbytes += len(r.read())
    c.close()
    return 3 * tip, nbytes, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--node-datadir")
    ap.add_argument("--rpc-port", type=int, default=28555)
    a = ap.parse_args()
    os.environ.setdefault("SIGNETD_BIN", os.path.join(a.build, "signetd"))
    tmp = tempfile.mkdtemp(prefix="sd-gbench-")
    node = sd = None
    try:
        if a.node_datadir:
            node = BitcoinNode(a.node_datadir)
            node.rpc_port = a.rpc_port
            node.start()
        else:
            node = BitcoinNode(os.path.join(tmp, "node")).start()
            node.submit_hex_blocks(regtest_a_blocks())
        tip = node.height()
        gport = free_port()
        sd = Signetd(os.path.join(tmp, "sd"), node=node,
                     config={"grpc_host": f"127.0.0.1:{gport}", "log_level": "warn"})
        sd.start()
        t0 = time.perf_counter()
        sd.wait_synced(tip, timeout=1800)
        print(f"chain: tip {tip}, signetd synced in {time.perf_counter() - t0:.2f} s",
              flush=True)
        ch = grpc.insecure_channel(f"127.0.0.1:{gport}",
                                   options=[("grpc.max_receive_message_length", 64 << 20)])
        print("| what | round | messages | MB | s | msgs/s | MB/s | signetd CPU s |")
        print("|---|---|---|---|---|---|---|---|")
        for rpc in RPCS + ("v1 HTTP, 3 GETs a block",):
            best, dts = None, []
            for r in range(a.rounds):
                c0 = cpu_of(sd.proc.pid)
                if rpc in RPCS:
                    n, nb, dt = stream_round(ch, rpc, tip)
                else:
                    n, nb, dt = http_round(sd.port, tip)
                cpu = cpu_of(sd.proc.pid) - c0
                dts.append((dt, cpu))
                if a.rounds <= 10:
                    print(f"| {rpc} | {r + 1} | {n} | {nb / 1e6:.2f} | {dt:.3f} | "
                          f"{n / dt:,.0f} | {nb / 1e6 / dt:.1f} | {cpu:.2f} |", flush=True)
                if best is None or dt < best[2]:
                    best = (n, nb, dt, cpu)
            n, nb, dt, cpu = best
            print(f"| **{rpc} best** | | {n} | {nb / 1e6:.2f} | {dt:.3f} | "
                  f"**{n / dt:,.0f}** | **{nb / 1e6 / dt:.1f}** | {cpu:.2f} |", flush=True)
            dts.sort()
            dt, cpu = dts[len(dts) // 2]
            print(f"| {rpc} median of {a.rounds} | | {n} | {nb / 1e6:.2f} | {dt:.3f} | "
                  f"{n / dt:,.0f} | {nb / 1e6 / dt:.1f} | {cpu:.2f} |", flush=True)
        ch.close()
        print(f"load1 {os.getloadavg()[0]:.2f}")
    finally:
        if sd:
            sd.stop()
        if node:
            node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
