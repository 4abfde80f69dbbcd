"""msgpack unpacking within bounds, so that no message under the size limit costs more
than a few milliseconds to decode.

A size limit alone does not bound the cost: 4 MiB of msgpack can be 4.1 million empty
arrays (2 s and 250 MiB to build), and a 1 KB one a list nested 1000 deep. Protocol v1
messages are small maps whose bulk travels as ``bin`` (a point array is one ``bin`` of
raw float32, never a list of numbers), so the bounds can be tight:

- msgpack's own per-container limits (array items, map entries, string bytes; no ext
  types) stop any single container before it is built;
- a hook on every completed array and map counts the items of all containers together
  and their nesting depth, and stops the unpacker when either runs over.

What the hooks cannot see is the containers still open: msgpack builds bottom-up, so a
chain nested up to msgpack's own 1024 levels, each with a full container of scalars
before its child, is built before the innermost completes. That is at most 1024 ×
``max_array_len`` scalars: the reason the request bounds keep containers short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import msgpack

from facecast.protocol.errors import ErrorCode, ProtocolError
from facecast.protocol.fields import MAX_STRING


@dataclass(frozen=True)
class DecodeBounds:
    max_array_len: int  # items of one array
    max_map_len: int  # entries of one map
    max_str_bytes: int  # bytes of one string
    max_items: int  # all arrays' items and maps' keys and values together
    max_depth: int  # the top-level map is 1, an array in it 2, ...


# What the daemon reads from clients. The largest request, a pose with blendshapes, head
# and tracking, has 28 items at depth 3 (top map, a point array's map, its shape list);
# the rest is headroom for fields newer clients may add (unknown fields are ignored).
REQUEST_BOUNDS = DecodeBounds(max_array_len=32, max_map_len=16, max_str_bytes=4 * MAX_STRING,
                              max_items=512, max_depth=8)
# What clients read from the daemon: stats reports and character lists (up to 4096
# names) are larger; the open-container cost is up to 1024 × 4096 scalars here.
REPLY_BOUNDS = DecodeBounds(max_array_len=1 << 12, max_map_len=1 << 10, max_str_bytes=1 << 16,
                            max_items=1 << 16, max_depth=16)


class BoundsExceeded(ProtocolError):
    """A message over a DecodeBounds bound: MALFORMED, "too complex: ..."."""

    def __init__(self, what: str) -> None:
        super().__init__(ErrorCode.MALFORMED, f"too complex: {what}")


def _hooks(bounds: DecodeBounds) -> tuple[Callable[[list], list], Callable[[dict], dict]]:
    """The unpacker's list and map hooks: called with each array and map once it is complete
    (children before parents), so a container's depth is one more than its deepest child's.
    (Closures rather than methods: they run for every container of every request.)"""
    max_items, max_depth = bounds.max_items, bounds.max_depth
    depths: dict[int, int] = {}  # id of a completed container not yet in its parent -> depth
    items = 0

    def complete(container: Any, children: Iterable[Any], n: int) -> None:
        nonlocal items
        items += n
        if items > max_items:
            raise BoundsExceeded(f"more than {max_items} items in all")
        depth = 1
        for child in children:
            kind = type(child)
            if kind is list or kind is dict:
                d = depths.pop(id(child)) + 1
                if d > depth:
                    depth = d
        if depth > max_depth:
            raise BoundsExceeded(f"nested deeper than {max_depth}")
        depths[id(container)] = depth

    def array(value: list) -> list:
        complete(value, value, len(value))
        return value

    def map_(value: dict) -> dict:
        complete(value, value.values(), 2 * len(value))
        return value

    return array, map_


def unpack_bounded(raw: bytes | bytearray | memoryview, bounds: DecodeBounds) -> Any:
    """One msgpack object (string map keys only). Raises BoundsExceeded, or ProtocolError
    MALFORMED for what is not msgpack."""
    array_hook, map_hook = _hooks(bounds)
    try:
        return msgpack.unpackb(
            raw, raw=False, strict_map_key=True, max_array_len=bounds.max_array_len,
            max_map_len=bounds.max_map_len, max_str_len=bounds.max_str_bytes, max_bin_len=len(raw),
            max_ext_len=0, list_hook=array_hook, object_hook=map_hook,
        )
    except ProtocolError:
        raise
    except msgpack.StackError:
        raise BoundsExceeded("nested deeper than msgpack's 1024 levels") from None
    except ValueError as exc:
        if "exceeds max_" in str(exc):  # msgpack's own per-container limits
            raise BoundsExceeded(str(exc)) from None
        raise ProtocolError(ErrorCode.MALFORMED, f"not a msgpack message: {type(exc).__name__}") from None
    except (msgpack.UnpackException, TypeError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorCode.MALFORMED, f"not a msgpack message: {type(exc).__name__}") from None
