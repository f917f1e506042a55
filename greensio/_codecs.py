"""The Socket.IO codec a Manager uses: JSON (any json module) or msgpack."""

from __future__ import annotations

import weakref
from typing import Any

import gevent

from ._core import sio

__all__ = ["codecs_for"]

# Encoders keep state during a call, so they are shared per hub (per thread), not per process:
# hub -> {(parser, id(json module)): (json module, encoder)}
_encoders: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], tuple[Any, Any]]] = weakref.WeakKeyDictionary()


def codecs_for(name: str, json_module: Any) -> tuple[Any, Any]:
    """The encoder (shared by the Managers of this thread) and the decoder class of ``parser``."""
    shared = _encoders.setdefault(gevent.get_hub(), {})
    key = (name, id(json_module))
    entry = shared.get(key)
    if entry is None or entry[0] is not json_module:
        entry = shared[key] = (json_module, _new_encoder(name, json_module))
    if name == "msgpack":
        from ._core.msgpack_codec import MsgpackDecoder

        return entry[1], MsgpackDecoder
    return entry[1], sio.Decoder


def _new_encoder(name: str, json_module: Any) -> Any:
    if name == "msgpack":
        from ._core import msgpack_codec

        try:
            return msgpack_codec.MsgpackEncoder()
        except ImportError as exc:
            raise ImportError("parser='msgpack' needs the msgpack package: pip install greensio[msgpack]") from exc
    return sio.Encoder(json_module.dumps)
