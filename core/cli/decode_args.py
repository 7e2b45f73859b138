"""``--decode FILTER=DECODER[:TYPE]`` and ``--proto-path PATH``: decoder rules on the command line.

The same rules as a profile stores (``core/decoding/rules.py``); ``sub`` and ``audit export`` take them.
"""

from __future__ import annotations

import argparse
import json

from eventscope.core.cli.common import UsageError
from eventscope.core.decoding.decoders import DecodedPayload, json_default
from eventscope.core.decoding.protobuf_schemas import ProtoSchemaError, ProtoSchemas
from eventscope.core.decoding.rules import DecoderRule, DecoderRuleError, DecoderRules
from eventscope.core.payload_text import escape_controls
from eventscope.core.sparkplug.state import SparkplugState


def add_decode_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--decode", metavar="FILTER=DECODER[:TYPE]", action="append", default=[],
                       help="decode messages on FILTER, e.g. 'factory/#=protobuf:acme.Telemetry' or "
                            "'spBv1.0/#=sparkplug' (repeatable; the first matching rule wins)")
    group.add_argument("--proto-path", metavar="PATH", action="append", default=[],
                       help=".proto file, folder of .proto files, or descriptor set (protoc -o) for protobuf rules "
                            "and for content types naming a message type (repeatable)")


def decoder_rules_from_args(args: argparse.Namespace, sparkplug: SparkplugState | None = None) -> DecoderRules | None:
    """The rules the command line asks for, or None when it asks for no decoding."""
    if not args.decode and not args.proto_path:
        return None
    return _checked_rules(_parsed(args.decode), args.proto_path, sparkplug)


def profile_decoder_rules(args: argparse.Namespace, sparkplug: SparkplugState | None = None) -> dict[str, DecoderRules]:
    """Per ``--profile``: the command line's rules first, then the ones the profile stores, with its
    ``.proto`` paths too (as the window decodes that broker). Profiles without rules are left out."""
    if not getattr(args, "profile", None):
        return {}
    from eventscope.core.profiles.store import ProfileError, ProfileStore

    try:
        store = ProfileStore.load()
        stored = {name: store.get(name) for name in args.profile}
    except ProfileError as exc:
        raise UsageError(str(exc)) from None
    out: dict[str, DecoderRules] = {}
    for name, profile in stored.items():
        if not profile.decoder_rules and not profile.proto_paths:
            continue
        rules = [*_parsed(args.decode), *profile.decoder_rules]
        out[name] = _checked_rules(rules, [*args.proto_path, *profile.proto_paths], sparkplug, f"profile {name}: ")
    return out


def _parsed(texts: list[str]) -> list[DecoderRule]:
    try:
        return [DecoderRule.parse(text) for text in texts]
    except DecoderRuleError as exc:
        raise UsageError(str(exc)) from None


def _checked_rules(rules: list[DecoderRule], proto_paths: list[str], sparkplug: SparkplugState | None,
                   context: str = "") -> DecoderRules:
    try:
        schemas = ProtoSchemas.from_paths(proto_paths) if proto_paths else None
        decoder_rules = DecoderRules(rules, schemas, sparkplug=sparkplug)
        decoder_rules.check()
    except (DecoderRuleError, ProtoSchemaError) as exc:
        raise UsageError(f"{context}{exc}") from None
    return decoder_rules


def decoded_one_line(decoded: DecodedPayload, limit: int = 1000) -> str:
    """A decode for one text line: the value as compact JSON (or the text), then the error or notes."""
    if decoded.value is not None:
        text = json.dumps(decoded.value, ensure_ascii=False, default=json_default)
    else:
        text = " ".join(decoded.text.split())
    text = text[:limit] + ("…" if len(text) > limit else "")
    remarks = [decoded.error] if decoded.error else list(decoded.notes)
    return escape_controls(text + "".join(f"  ({remark})" for remark in remarks))
