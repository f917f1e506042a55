"""HTTP content codings of polling responses (gzip, deflate), decoded within a size bound.

Node's engine.io compresses polling responses over 1 KiB when the request says
``Accept-Encoding: gzip, deflate``. Decoding counts the output against ``max_size``
while it inflates, so a small body that would inflate to gigabytes (a
decompression bomb) stops at the bound, having allocated little more than it.
"""

from __future__ import annotations

import zlib
from typing import Optional, Union

from .._exceptions import ProtocolError

__all__ = ["ACCEPT_ENCODING", "decode_content"]

ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024  # input fed to zlib at a time
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decode_content(body: Union[bytes, bytearray], coding: Optional[str], max_size: int) -> Union[bytes, bytearray]:
    """``body`` without its Content-Encoding ``coding``; ProtocolError past ``max_size`` or if corrupt.

    ``deflate`` is the zlib format (RFC 9110 §8.4.1.2); a raw deflate stream, which some
    servers send instead, is accepted too.
    """
    name = (coding or "identity").strip().lower()
    if name == "identity":
        return body
    wbits = _WBITS.get(name)
    if wbits is None:
        raise ProtocolError(f"unsupported Content-Encoding {name[:40]!r}")
    try:
        return _inflate(body, wbits, max_size)
    except zlib.error:
        if name != "deflate":
            raise ProtocolError(f"corrupt {name} response body") from None
    try:
        return _inflate(body, -zlib.MAX_WBITS, max_size)
    except zlib.error:
        raise ProtocolError("corrupt deflate response body") from None


def _inflate(body: Union[bytes, bytearray], wbits: int, max_size: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    view = memoryview(body)
    for start in range(0, len(body), _STEP):
        data: bytes = bytes(view[start : start + _STEP])
        while data:
            out += inflater.decompress(data, max_size + 1 - len(out))
            if len(out) > max_size:
                raise ProtocolError(f"response body inflates past {max_size} bytes")
            data = inflater.unconsumed_tail
    out += inflater.flush()
    if len(out) > max_size:
        raise ProtocolError(f"response body inflates past {max_size} bytes")
    if not inflater.eof:
        raise zlib.error("truncated stream")
    return bytes(out)
