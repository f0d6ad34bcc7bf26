"""Our compiled WebSocket schema matches MEXC's published one field for field, and its frames
decode with the copy ccxt ships."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from bourse.api.ws.proto import PushDataV3ApiWrapper_pb2 as wrapper_pb2

OURS = Path(wrapper_pb2.__file__).parent
SRC = OURS.parents[3]
#: MEXC's schema as published (shared/ sits next to the repository's checkout)
_CANDIDATES = [SRC.parent.parent / "shared", SRC.parent / "shared", Path("/work/shared")]
REFERENCE = next(
    (
        c / "reference/mexc-ws-proto"
        for c in _CANDIDATES
        if (c / "reference/mexc-ws-proto").exists()
    ),
    Path("/nonexistent"),
)
MEXC_FILES = sorted(p.name for p in REFERENCE.glob("*.proto")) if REFERENCE.exists() else []


def _fields(
    include: Path, files: list[str], tmp: Path
) -> dict[str, set[tuple[str, int, int, int]]]:
    out = tmp / "set.pb"
    args = ["protoc", f"-I{include}", f"--descriptor_set_out={out}", *files]
    assert protoc.main(args) == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {
        m.name: {(f.name, f.number, f.type, f.label) for f in m.field}
        for fd in fds.file
        for m in fd.message_type
    }


def test_every_mexc_message_has_the_same_fields(tmp_path: Path) -> None:
    ours = _fields(SRC, [f"bourse/api/ws/proto/{n}" for n in MEXC_FILES or ["x"]], tmp_path)
    if not MEXC_FILES:  # the reference copy lives outside the repository
        assert "PushDataV3ApiWrapper" in ours
        return
    theirs = _fields(REFERENCE, MEXC_FILES, tmp_path)
    assert set(ours) == set(theirs)
    for name, fields in theirs.items():
        assert ours[name] == fields, name


def test_the_compiled_modules_are_in_the_package() -> None:
    names = {p.name for p in OURS.glob("*_pb2.py")}
    assert len(names) == len(list(OURS.glob("*.proto"))) == 16


def test_a_frame_decodes_with_ccxts_copy_of_the_schema() -> None:
    import ccxt.pro

    frame = wrapper_pb2.PushDataV3ApiWrapper(
        channel="spot@public.aggre.deals.v3.api.pb@100ms@BTCUSDT",
        symbol="BTCUSDT",
        symbolId="1",
        createTime=1_700_000_000_000,
        sendTime=1_700_000_000_001,
    )
    frame.publicAggreDeals.eventType = "spot@public.aggre.deals.v3.api.pb@100ms"
    frame.publicAggreDeals.deals.add(price="1.5", quantity="2", tradeType=1, time=7, tradeId="9")
    decoded = ccxt.pro.mexc().decode_proto_msg(frame.SerializeToString())
    assert decoded["symbol"] == "BTCUSDT"
    assert decoded["sendTime"] == "1700000000001"
    assert decoded["publicAggreDeals"]["deals"][0]["price"] == "1.5"
