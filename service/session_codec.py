"""A session as bytes, for a shared store (Redis): a small JSON header describing the session's fields, then the
raw bytes of each numpy array. Never pickle: decoding builds only the classes a session kind declares
(`Session.stored_types`), and a blob naming anything else is refused.

    RNZS1 | header length (4 bytes, big-endian) | header (UTF-8 JSON) | array bytes, one after another

The header is a tree: JSON's own values as themselves, and tagged objects for the rest
    {"$a": [dtype, shape, offset]}   a numpy array (C order, little-endian) at `offset` in the array bytes
    {"$n": [dtype, value]}           a numpy scalar (np.float32(0.5) stays a float32)
    {"$t": [...]}, {"$d": [[k, v], ...]}  a tuple; a dict (as pairs: its keys need not be strings)
    {"$o": [name, {...}]}            an instance of a declared class: its attributes (vars()) by name

Why by hand: msgpack or safetensors would carry the arrays but not the small objects around them (a vitals stay's
running sums, a stream's CTC decoder), and a per-task schema would be one more thing each new task writes. A
session kind's data is its dataclass fields, and its attributes' classes are declared next to it.
"""
from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any

import numpy as np

MAGIC = b"RNZS1"


class CodecError(ValueError):
    """Bytes that are not a session this code can rebuild (another version's, corrupted, or naming an
    undeclared class)."""


def type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class SessionCodec:
    """Encodes and decodes sessions of the given kinds (Session subclasses) and the classes they declare."""

    def __init__(self, kinds: list[type]):
        self.classes: dict[str, type] = {}
        for kind in kinds:
            for cls in (kind, *kind.stored_types):
                self.classes[type_name(cls)] = cls

    def encode(self, session) -> bytes:
        arrays: list[bytes] = []
        offset = [0]
        written: dict[int, dict] = {}  # id(array) -> its node: an array held twice is stored once, and comes back shared

        def tree(value: Any) -> Any:
            if value is None or isinstance(value, (bool, str)):
                return value
            if isinstance(value, np.ndarray):
                if id(value) not in written:
                    data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
                    arrays.append(data)
                    offset[0] += len(data)
                    written[id(value)] = {"$a": [value.dtype.newbyteorder("<").str, list(value.shape),
                                                 offset[0] - len(data)]}
                return written[id(value)]
            if isinstance(value, np.generic):
                return {"$n": [value.dtype.str, value.item()]}
            if isinstance(value, (int, float)):
                return value
            if isinstance(value, list):
                return [tree(v) for v in value]
            if isinstance(value, tuple):
                return {"$t": [tree(v) for v in value]}
            if isinstance(value, dict):
                return {"$d": [[tree(k), tree(v)] for k, v in value.items()]}
            name = type_name(type(value))
            if name not in self.classes:
                raise CodecError(f"{name} is not declared in stored_types of any session kind; declare it to store it")
            return {"$o": [name, {k: tree(v) for k, v in attributes(value).items()}]}

        header = json.dumps(tree(session), separators=(",", ":"), allow_nan=True).encode()
        return MAGIC + struct.pack(">I", len(header)) + header + b"".join(arrays)

    def decode(self, data: bytes):
        if data[: len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + 4:
            raise CodecError("not a stored session (no RNZS1 header)")
        (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
        start = len(MAGIC) + 4
        try:
            header = json.loads(data[start : start + length])
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CodecError(f"a stored session's header is not JSON: {error}") from None
        body = memoryview(data)[start + length :]
        read: dict[tuple, np.ndarray] = {}  # what was one array when stored is one array again

        def value(node: Any) -> Any:
            if isinstance(node, list):
                return [value(v) for v in node]
            if not isinstance(node, dict):
                return node
            (tag, content), = node.items()
            if tag == "$a":
                dtype, shape, at = np.dtype(content[0]), tuple(content[1]), content[2]
                size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
                if dtype.hasobject or at < 0 or at + size > len(body):
                    raise CodecError("a stored array lies outside the session's bytes")
                key = (at, dtype.str, shape)  # empty arrays share their offset with the next array
                if key not in read:
                    read[key] = np.frombuffer(body[at : at + size], dtype=dtype).reshape(shape).astype(
                        dtype.newbyteorder("="))
                return read[key]
            if tag == "$n":
                return np.dtype(content[0]).type(content[1])
            if tag == "$t":
                return tuple(value(v) for v in content)
            if tag == "$d":
                return {value(k): value(v) for k, v in content}
            if tag == "$o":
                cls = self.classes.get(content[0])
                if cls is None:
                    raise CodecError(f"a stored session names {content[0]!r}, which no session kind declares")
                instance = cls.__new__(cls)
                fields = {k: value(v) for k, v in content[1].items()}
                if dataclasses.is_dataclass(cls):  # a field the stored session lacks gets its default
                    for f in dataclasses.fields(cls):
                        if f.name not in fields and f.default_factory is not dataclasses.MISSING:
                            fields[f.name] = f.default_factory()
                instance.__dict__.update(fields)  # as the instance was: __init__ would start afresh
                return instance
            raise CodecError(f"unknown tag {tag!r} in a stored session")

        try:
            return value(header)
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, CodecError):
                raise
            raise CodecError(f"a stored session is malformed: {error}") from None


def attributes(value: Any) -> dict[str, Any]:
    try:
        return vars(value)
    except TypeError:
        raise CodecError(f"{type_name(type(value))} has no attributes to store (__slots__?)") from None
