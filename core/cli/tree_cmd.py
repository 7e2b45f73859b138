"""``eventscope tree``: subscribe for a while and print the topic tree (JSON or indented text)."""

from __future__ import annotations

import argparse
import json
import sys

from eventscope.core.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_connection_args,
    add_topic_arg,
    error,
    parse_duration,
    watch,
)
from eventscope.core.models.topic_tree import TopicNode, TopicTree
from eventscope.core.payload_text import escape_controls, preview
from eventscope.core.topics import TopicError, validate_filter

PREVIEW_CHARS = 60


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("tree", help="print the topic tree",
                                   description="Subscribe, collect messages for a few seconds, and print the topic tree.")
    add_connection_args(parser)
    add_topic_arg(parser, "MQTT subscription filter (repeatable; default #)", subscribes=True, repeatable=True,
                  defaults=("#",))
    parser.add_argument("-W", "--seconds", type=parse_duration, default=3.0, metavar="DURATION",
                        help="how long to collect, e.g. 3 or 1m (default 3s)")
    parser.add_argument("--format", choices=("json", "text"), default="text",
                        help="json: nested objects; text: one indented line per topic level (default)")
    parser.set_defaults(run=run)


def _node_fields(node: TopicNode) -> dict:
    return {
        "name": node.name,
        "topic": node.topic,
        "count": node.count,
        "subtree_count": node.subtree_count,
        "retained": node.retained,
        "preview": preview(node.last.payload, PREVIEW_CHARS) if node.last is not None else "",
    }


def tree_json_text(root: TopicNode) -> str:
    """The subtree as nested JSON objects, written without recursion (``json.dumps`` recurses per level)."""
    parts: list[str] = []
    stack: list[TopicNode | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # a closing bracket or a separator, queued in order
            parts.append(item)
            continue
        fields = json.dumps(_node_fields(item), ensure_ascii=False)
        parts.append(fields[:-1] + ', "children": [')
        stack.append("]}")
        children = item.live_children()
        for index in range(len(children) - 1, -1, -1):
            stack.append(children[index])
            if index:
                stack.append(", ")
    return "".join(parts)


def tree_to_text(root: TopicNode) -> str:
    """One indented line per node, depth first, walked without recursion."""
    lines: list[str] = []
    stack = [(child, 0) for child in reversed(root.live_children())]
    while stack:
        node, depth = stack.pop()
        flags = " [retained]" if node.retained else ""
        value = f" = {preview(node.last.payload, PREVIEW_CHARS)}" if node.last is not None else ""
        name = escape_controls(node.name) or "(empty)"
        lines.append(f"{'  ' * depth}{name} ({node.count}/{node.subtree_count}){flags}{value}")
        stack.extend((child, depth + 1) for child in reversed(node.live_children()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        for topic_filter in args.topics:
            validate_filter(topic_filter)
    except TopicError as exc:
        error(str(exc))
        return EXIT_USAGE
    # Imported here, not at start-up: the launcher builds every command's parser, whichever one runs.
    from eventscope.core.connections.local import LocalConnector
    from eventscope.core.workspace.workspace import Workspace

    # One tree over every broker, from the merged records: the workspace's own tree would give each broker
    # its own root and add Sparkplug metric nodes, which this command's output never had.
    workspace = Workspace(connector=LocalConnector(args.connect_timeout), keep_tree=False, keep_records=True)
    tree = TopicTree()
    try:
        for summary in watch(args, workspace, args.topics, seconds=args.seconds or 0.001):
            tree.apply(summary.records)
    except UsageError:
        raise  # exit 2 with the reason, from main()
    except Exception as exc:  # unreachable broker, or a refused subscription
        error(str(exc))
        return EXIT_FAILURE
    if args.format == "json":
        print(tree_json_text(tree.root))
    else:
        print(tree_to_text(tree.root))
    sys.stdout.flush()
    return EXIT_OK
