"""gRPC streams of signetd's OracleService on regtest-a: a whole-chain
stream equals the per-height answers; a client cancelling at block 10 of
400 stops the stream (nothing is sent after; the server keeps serving);
bad requests get proper status codes; a reorg between two messages ends the
stream with ABORTED instead of mixing branches."""
import re
import threading
import time

import grpc
import pytest

import api_common as ac
import grpc_common as gc
from conftest import free_port, wait_until


@pytest.fixture(scope="module")
def oracle(regtest_a_node):
    gport = free_port()
    s = ac.start_synced(regtest_a_node, config={
        "grpc_host": f"127.0.0.1:{gport}", "log_level": "info"}, prefix="sd-grpcs-")
    s.gport = gport
    yield s
    ac.stop_synced(s)


@pytest.fixture(scope="module")
def stub(oracle):
    _, pb2_grpc = gc.stubs()
    ch = gc.channel(oracle.gport)
    yield pb2_grpc.OracleServiceStub(ch)
    ch.close()


def ranged(start, end, **kw):
    pb2, _ = gc.stubs()
    return pb2.RangedBlockHeightRequestFiltered(start=start, end=end, **kw)


def height_req(h):
    pb2, _ = gc.stubs()
    return pb2.BlockHeightRequest(block_height=h)


def test_whole_chain_equals_per_height(stub):
    scan = [gc.to_json(m) for m in stub.StreamBlockScanDataShort(ranged(1, 400), timeout=120)]
    comp = [gc.to_json(m) for m in stub.StreamComputeIndex(ranged(1, 400), timeout=120)]
    assert len(scan) == len(comp) == 400
    for h in range(1, 401):
        one = [gc.to_json(m) for m in stub.StreamBlockScanDataShort(ranged(h, h), timeout=30)]
        assert one == [scan[h - 1]], h
        assert scan[h - 1]["block_identifier"]["block_height"] == h
        assert scan[h - 1]["comp_index"] == comp[h - 1]["index"]
        assert scan[h - 1]["block_identifier"] == comp[h - 1]["block_identifier"]
        sp = gc.to_json(stub.GetSpentOutputsShort(height_req(h), timeout=30))
        assert sp["index"] == scan[h - 1]["spent_outputs"]
        bh = gc.to_json(stub.GetBlockHashByHeight(height_req(h), timeout=30))
        assert bh["block_hash"] == scan[h - 1]["block_identifier"]["block_hash"]
        # the full block's tweaked txs are the compute index's
        fb = gc.to_json(stub.GetFullBlock(height_req(h), timeout=30))
        tw = [(i["txid"], i["tweak"]) for i in fb["index"] if i["tweak"] != "00" * 33]
        assert tw == [(i["txid"], i["tweak"]) for i in comp[h - 1]["index"]]
    # a range with the wanted window is the same slice
    mid = [gc.to_json(m) for m in stub.StreamComputeIndex(ranged(100, 120), timeout=30)]
    assert mid == comp[99:120]


def stream_ends(oracle):
    return re.findall(r"msg=stream_end rpc=(\w+) start=(\d+) end=(\d+) sent=(\d+) "
                      r"status=(-?\d+) cancelled=(\d)", oracle.log_text())


def test_cancel_at_block_10(oracle):
    """A client with a small HTTP/2 window (no BDP growth), like one on a
    slow link: the server is held by flow control, not by memory."""
    _, pb2_grpc = gc.stubs()
    ch = grpc.insecure_channel(f"127.0.0.1:{oracle.gport}", options=[
        ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)])
    stub = pb2_grpc.OracleServiceStub(ch)
    before = len(stream_ends(oracle))
    it = stub.StreamBlockScanDataShort(ranged(1, 400), timeout=60)
    got = []
    for m in it:
        got.append(m)
        if len(got) == 10:
            it.cancel()
            break
    with pytest.raises(grpc.RpcError) as e:
        next(it)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert [m.block_identifier.block_height for m in got] == list(range(1, 11))
    wait_until(lambda: len(stream_ends(oracle)) > before, timeout=10, what="stream_end")
    rpc, start, end, sent, status, cancelled = stream_ends(oracle)[before]
    print("sent before the cancel:", sent)
    assert (rpc, start, end, cancelled) == ("StreamBlockScanDataShort", "1", "400", "1")
    sent = int(sent)
    # at most what HTTP/2 flow control let through before the cancel
    assert 10 <= sent < 400, sent
    time.sleep(0.5)   # nothing more is sent for it, and it stays ended
    assert len(stream_ends(oracle)) == before + 1
    # the server serves on
    assert stub.GetBestBlockHeight(gc.stubs()[0].google_dot_protobuf_dot_empty__pb2.Empty(),
                                   timeout=10).block_height == 400
    ch.close()


def test_cancel_many_streams(oracle, stub):
    """64 streams cancelled at once: all end, server still answers."""
    before = len(stream_ends(oracle))
    its = [stub.StreamComputeIndex(ranged(1, 400), timeout=60) for _ in range(64)]
    for it in its:
        next(it)
    for it in its:
        it.cancel()
    wait_until(lambda: len(stream_ends(oracle)) >= before + 64, timeout=20,
               what="64 stream_end")
    assert len(list(stub.StreamComputeIndex(ranged(1, 400), timeout=60))) == 400


def code_of(fn):
    with pytest.raises(grpc.RpcError) as e:
        r = fn()
        if hasattr(r, "__iter__") and not hasattr(r, "DESCRIPTOR"):
            list(r)
    return e.value.code(), e.value.details()


def test_bad_requests(oracle, stub):
    # end < start: nothing, OK (as upstream)
    assert list(stub.StreamComputeIndex(ranged(120, 100), timeout=10)) == []
    # past the tip: empty items, up to 1000 blocks past it
    past = list(stub.StreamComputeIndex(ranged(1399, 1400), timeout=10))
    assert [(m.block_identifier.block_hash, m.block_identifier.block_height) for m in past] \
        == [(b"", 1399), (b"", 1400)]
    code, det = code_of(lambda: stub.StreamComputeIndex(ranged(1, 1401), timeout=10))
    assert code == grpc.StatusCode.OUT_OF_RANGE and "1000 blocks past the tip 400" in det
    code, _ = code_of(lambda: stub.StreamBlockScanDataShort(ranged(0, 2**64 - 1), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(lambda: stub.StreamBlockScanDataShort(ranged(2**32, 2**32), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # a request that is not the rpc's message
    ch = gc.channel(oracle.gport)
    raw = ch.unary_stream("/blindbit.oracle.v1.OracleService/StreamComputeIndex",
                          request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, det = code_of(lambda: raw(b"\x08\xff\xff", timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, det
    unary = ch.unary_unary("/blindbit.oracle.v1.OracleService/GetFullBlock",
                           request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, _ = code_of(lambda: unary(b"\x0f", timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    nope = ch.unary_unary("/blindbit.oracle.v1.OracleService/Nope",
                          request_serializer=lambda b: b, response_deserializer=lambda b: b)
    code, _ = code_of(lambda: nope(b"", timeout=10))
    assert code == grpc.StatusCode.UNIMPLEMENTED
    ch.close()
    # unknown heights are not errors (as upstream)
    assert stub.GetBlockHashByHeight(height_req(2**63), timeout=10).block_hash == b""
    fb = stub.GetFullBlock(height_req(401), timeout=10)
    assert fb.block_identifier.block_height == 401 and len(fb.index) == 0


def test_reorg_mid_stream_aborts(bitcoind, signetd_factory):
    """A stream paused by flow control (the client reads nothing) after
    sending old-branch blocks above the fork; the chain reorganizes; the
    stream then ends with ABORTED at the first new-branch block instead of
    going on with the other branch."""
    node = bitcoind
    node.generate(200)
    gport = free_port()
    s = signetd_factory(node=node, config={"grpc_host": f"127.0.0.1:{gport}"})
    s.start()
    s.wait_synced(200)
    old = {h: node.rpc("getblockhash", h) for h in range(1, 201)}
    _, pb2_grpc = gc.stubs()
    ch = grpc.insecure_channel(f"127.0.0.1:{gport}", options=[
        ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)])
    stub = pb2_grpc.OracleServiceStub(ch)
    it = stub.StreamComputeIndex(ranged(1, 1000), timeout=120)
    first = next(it)       # the stream runs, then waits on the window
    assert first.block_identifier.block_height == 1
    time.sleep(1.0)
    # fork at 20: a new branch, longer than the old one
    node.rpc("invalidateblock", old[20])
    addr = node.rpc("getnewaddress", "", "bech32", wallet=node.ensure_wallet())
    node.generate(190, address=addr)
    new_tip = node.rpc("getbestblockhash")
    wait_until(lambda: s.get_json("/block-hash/209")["block_hash"] == new_tip,
               timeout=60, what="signetd on the new branch")
    got = [first]
    with pytest.raises(grpc.RpcError) as e:
        for m in it:
            got.append(m)
    assert e.value.code() == grpc.StatusCode.ABORTED, e.value.details()
    assert "chain reorganized" in e.value.details()
    hs = [m.block_identifier.block_height for m in got]
    assert hs == list(range(1, len(got) + 1))
    # what was sent is one branch: the old one, past the fork
    assert len(got) > 20, len(got)
    for m in got:
        h = m.block_identifier.block_height
        assert m.block_identifier.block_hash.hex() == old[h], h
    ch.close()


def test_64_streams_while_blocks_arrive_and_reorg(bitcoind, signetd_factory):
    """64 slow streams (the client sleeps between messages) while blocks
    arrive and, once every client has read past 300, the chain reorganizes
    at 320: every stream ends OK or ABORTED, and what each one received is
    one chain (each block's parent is the previous message's block); a
    stream started afterwards is the node's final chain."""
    node = bitcoind
    node.generate(600)
    gport = free_port()
    s = signetd_factory(node=node, config={"grpc_host": f"127.0.0.1:{gport}"})
    s.start()
    s.wait_synced(600)
    _, pb2_grpc = gc.stubs()
    results = [None] * 64
    progress = [0] * 64

    def run(i):
        ch = grpc.insecure_channel(f"127.0.0.1:{gport}", options=[
            ("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 4096)])
        got = []
        try:
            for m in pb2_grpc.OracleServiceStub(ch).StreamComputeIndex(
                    ranged(1, 610), timeout=240):
                got.append((m.block_identifier.block_height,
                            m.block_identifier.block_hash.hex()))
                progress[i] = len(got)
                time.sleep(0.005)
            results[i] = ("OK", got)
        except grpc.RpcError as e:
            results[i] = (e.code().name, got)
        finally:
            progress[i] = 10**6
            ch.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    addr = node.rpc("getnewaddress", "", "bech32", wallet=node.ensure_wallet())
    for _ in range(10):                     # blocks arrive
        node.generate(1)
        time.sleep(0.05)
    wait_until(lambda: min(progress) >= 300, timeout=120, what="streams past 300")
    # reorg: the node drops 320..610 and mines another branch
    node.rpc("invalidateblock", node.rpc("getblockhash", 320))
    node.generate(5, address=addr)
    for t in threads:
        t.join(300)
    tip = node.height()
    parents = {}

    def parent(h):
        if h not in parents:
            parents[h] = node.rpc("getblockheader", h)["previousblockhash"]
        return parents[h]

    codes = {}
    for st, got in results:
        codes[st] = codes.get(st, 0) + 1
        assert st in ("OK", "ABORTED"), st
        assert [h for h, _ in got] == list(range(1, len(got) + 1))
        if st == "OK":
            assert len(got) == 610
        for (h0, b0), (h1, b1) in zip(got, got[1:]):
            if b0 and b1:
                assert parent(b1) == b0, (h1, st)
        known = [h for h, b in got if b]
        # no gap of unknown heights followed by another branch either
        assert known == list(range(1, len(known) + 1)) or st == "ABORTED" or \
            all(b == node.rpc("getblockhash", h) for h, b in got if b)
    print("stream outcomes:", codes)
    # (grpcio's client takes the whole stream into its buffers here, so
    # these streams usually end OK with the old branch before signetd
    # sees the reorg; test_reorg_mid_stream_aborts pauses one for real)
    best = node.rpc("getbestblockhash")
    wait_until(lambda: s.indexed_height() == tip and
               s.get_json(f"/block-hash/{tip}")["block_hash"] == best,
               timeout=120, what="signetd on the node's chain")
    final = [(m.block_identifier.block_height, m.block_identifier.block_hash.hex())
             for m in pb2_grpc.OracleServiceStub(gc.channel(gport)).StreamComputeIndex(
                 ranged(1, tip), timeout=60)]
    assert final == [(h, node.rpc("getblockhash", h)) for h in range(1, tip + 1)]
