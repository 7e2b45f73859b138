"""The user's Protobuf message types: ``.proto`` files compiled at run time, or descriptor sets.

``.proto`` files are compiled by the ``protoc`` that ``grpcio-tools`` bundles as a Python
module, run as a child process so its error text can be shown as is (no system ``protoc`` is
needed). A descriptor set made elsewhere (``protoc -o FILE --include_imports``; ``.pb``,
``.desc``, ``.protoset``, ``.binpb``) is read directly, for machines without grpcio-tools.

Each ``ProtoSchemas`` has its own descriptor pool: nothing is added to protobuf's default pool,
so two profiles with different versions of the same ``.proto`` never collide.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

DESCRIPTOR_SET_SUFFIXES = (".pb", ".desc", ".protoset", ".binpb")
COMPILE_TIMEOUT_SECONDS = 60


class ProtoSchemaError(ValueError):
    """The .proto files or descriptor sets cannot be used, or a message type is not in them."""


class ProtoDecodeError(ValueError):
    """The payload is not a valid message of the chosen type; the message says why."""


def _proto_files(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, list[str]]], list[Path]]:
    """(include root, .proto names relative to it) per path, and the descriptor-set files."""
    roots: list[tuple[Path, list[str]]] = []
    sets: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(str(p.relative_to(path)) for p in path.rglob("*.proto"))
            sets += sorted(p for p in path.rglob("*") if p.suffix in DESCRIPTOR_SET_SUFFIXES)
            if found:
                roots.append((path, found))
        elif path.suffix == ".proto" and path.is_file():
            roots.append((path.parent, [path.name]))
        elif path.suffix in DESCRIPTOR_SET_SUFFIXES and path.is_file():
            sets.append(path)
        elif not path.exists():
            raise ProtoSchemaError(f"No such file or folder: {path}")
        else:
            raise ProtoSchemaError(f"{path} is neither a .proto file, a folder nor a descriptor set "
                                   f"({', '.join(DESCRIPTOR_SET_SUFFIXES)})")
    return roots, sets


def compile_protos(include_root: Path, names: list[str], extra_includes: Iterable[Path] = ()) -> bytes:
    """A serialized FileDescriptorSet (imports included) of ``names`` under ``include_root``."""
    if importlib.util.find_spec("grpc_tools") is None:
        raise ProtoSchemaError("Compiling .proto files needs grpcio-tools (pip install grpcio-tools); or give a "
                               "descriptor set made with: protoc --include_imports -o schema.pb FILES")
    import grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="eventscope-proto-") as tmp:
        out = Path(tmp) / "schema.pb"
        includes = [f"-I{include_root}", *(f"-I{p}" for p in extra_includes), f"-I{well_known}"]
        command = [sys.executable, "-m", "grpc_tools.protoc", *includes, "--include_imports",
                   f"--descriptor_set_out={out}", *names]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise ProtoSchemaError(f"protoc took longer than {COMPILE_TIMEOUT_SECONDS} s on {include_root}") from None
        if done.returncode != 0 or not out.exists():
            reason = (done.stderr or done.stdout).strip() or f"protoc exited with {done.returncode}"
            raise ProtoSchemaError(f"Cannot compile the .proto files in {include_root}:\n{reason}")
        return out.read_bytes()


class ProtoSchemas:
    """Message types from the user's schemas, decoded with the ``protobuf`` runtime."""

    def __init__(self, descriptor_sets: Iterable[bytes] = (), sources: Iterable[str | Path] = ()) -> None:
        self.sources = tuple(str(s) for s in sources)
        self._pool = descriptor_pool.DescriptorPool()
        self._files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
        self._classes: dict[str, Any] = {}
        for data in descriptor_sets:
            self._add_set(data)

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> ProtoSchemas:
        """Compile every ``.proto`` in ``paths`` (files or folders) and read every descriptor set there.

        Folders given together are import roots for each other, as ``protoc -I`` would have them.
        """
        paths = list(paths)
        roots, sets = _proto_files(paths)
        all_roots = [root for root, _ in roots]
        compiled = [compile_protos(root, names, [r for r in all_roots if r != root]) for root, names in roots]
        return cls(compiled + [p.read_bytes() for p in sets], sources=paths)

    def _add_set(self, data: bytes) -> None:
        file_set = descriptor_pb2.FileDescriptorSet()
        try:
            file_set.ParseFromString(data)
        except DecodeError as exc:
            raise ProtoSchemaError(f"Not a protobuf descriptor set: {exc}") from None
        for file in file_set.file:
            if file.name in self._files:
                continue  # the same import (e.g. google/protobuf/timestamp.proto) from two sets
            try:
                self._pool.Add(file)
            except (TypeError, ValueError) as exc:
                raise ProtoSchemaError(f"Cannot load {file.name}: {exc} "
                                       "(was the set made with --include_imports?)") from None
            self._files[file.name] = file

    @property
    def message_types(self) -> list[str]:
        """Every message type's full name, nested ones included (for choosing one per topic filter)."""
        names: list[str] = []

        def visit(prefix: str, messages) -> None:
            for message in messages:
                if message.options.map_entry:
                    continue
                full = f"{prefix}{message.name}"
                names.append(full)
                visit(f"{full}.", message.nested_type)

        for file in self._files.values():
            visit(f"{file.package}." if file.package else "", file.message_type)
        return sorted(names)

    def message_class(self, type_name: str):
        if type_name not in self._classes:
            try:
                descriptor = self._pool.FindMessageTypeByName(type_name)
            except KeyError:
                known = ", ".join(n for n in self.message_types if not n.startswith("google.protobuf.")) or "none"
                raise ProtoSchemaError(f"No message type {type_name!r} in the loaded schemas (known: {known})") from None
            self._classes[type_name] = message_factory.GetMessageClass(descriptor)
        return self._classes[type_name]

    def decode(self, payload: bytes, type_name: str) -> tuple[dict, tuple[str, ...]]:
        """(the message as JSON-mapped values, notes). Raises ``ProtoDecodeError`` or ``ProtoSchemaError``."""
        message = self.message_class(type_name)()
        try:
            message.ParseFromString(payload)
        except (DecodeError, RuntimeError) as exc:
            raise ProtoDecodeError(f"Not a valid {type_name} ({len(payload)} B): {exc}") from None
        unknown = sorted({field.field_number for field in UnknownFieldSet(message)})
        notes = ()
        if unknown:
            numbers = ", ".join(map(str, unknown[:20]))
            notes = (f"field {numbers} not in {type_name} (or of another wire type): is it the right message type?",)
        try:
            value = json_format.MessageToDict(message, preserving_proto_field_name=True, descriptor_pool=self._pool)
        except (json_format.Error, RecursionError, ValueError) as exc:
            raise ProtoDecodeError(f"Cannot show {type_name} as values: {exc}") from None
        return value, notes
