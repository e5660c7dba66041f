"""Python gRPC stubs generated at test time from our own
oracle/grpc/proto/oracle_service.proto (grpc_tools.protoc, Debian
python3-grpc-tools) and the recorder's message-to-JSON conversion (every
field in .proto order with defaults, bytes as hex, unset message null)."""
import os
import sys
import tempfile

from conftest import REPO

_mods = None


def stubs():
    """(pb2, pb2_grpc) modules."""
    global _mods
    if _mods:
        return _mods
    from grpc_tools import protoc
    import grpc_tools
    out = tempfile.mkdtemp(prefix="sd-pb-")
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main(["protoc", "-I" + os.path.join(REPO, "oracle", "grpc", "proto"),
                      "-I" + wkt, "--python_out=" + out, "--grpc_python_out=" + out,
                      "oracle_service.proto"])
    assert rc == 0, "grpc_tools.protoc failed"
    sys.path.insert(0, out)
    import oracle_service_pb2
    import oracle_service_pb2_grpc
    _mods = (oracle_service_pb2, oracle_service_pb2_grpc)
    return _mods


def to_json(msg):
    """The recorder's conversion."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        v = getattr(msg, f.name)
        if f.label == f.LABEL_REPEATED:
            out[f.name] = [to_json(x) if f.type == f.TYPE_MESSAGE else x for x in v]
        elif f.type == f.TYPE_MESSAGE:
            out[f.name] = to_json(v) if msg.HasField(f.name) else None
        elif f.type == f.TYPE_BYTES:
            out[f.name] = v.hex()
        else:
            out[f.name] = v
    return out


def channel(port):
    import grpc
    return grpc.insecure_channel(f"127.0.0.1:{port}")


def call(stub, rpc, request_json):
    """Run rpc with the recorded request; (status name, [responses json],
    details)."""
    import grpc
    pb2, _ = stubs()
    method = getattr(stub, rpc)
    if rpc in ("GetInfo", "GetBestBlockHeight"):
        from google.protobuf import empty_pb2
        req = empty_pb2.Empty()
    elif rpc.startswith("Stream"):
        req = pb2.RangedBlockHeightRequestFiltered(**request_json)
    else:
        req = pb2.BlockHeightRequest(**request_json)
    try:
        if rpc.startswith("Stream"):
            resps = [to_json(m) for m in method(req, timeout=60)]
        else:
            resps = [to_json(method(req, timeout=60))]
        return "OK", resps, None
    except grpc.RpcError as e:
        return e.code().name, [], e.details()
