"""Bench topic templates: ``{i}`` is the client's index, ``{region}`` one of the regions given.

Each client goes round robin over the regions, message by message, starting at region ``i mod
len(regions)``, so every region gets traffic whatever the number of clients.
"""

from __future__ import annotations

import string

from eventscope.core.topics import TopicError, validate_filter, validate_topic

PLACEHOLDERS = ("i", "region")


class TemplateError(ValueError):
    """A template that cannot make valid topics; the message says why."""


def template_names(template: str, allowed: tuple[str, ...], label: str) -> set[str]:
    """The placeholders ``template`` names; raises ``TemplateError`` for a malformed one or one not ``allowed``."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise TemplateError(f"{label} {template!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    unknown = names - set(allowed)
    if unknown:
        raise TemplateError(f"{label} {template!r}: unknown placeholder "
                            f"{', '.join('{' + n + '}' for n in sorted(unknown))} "
                            f"(use {' and '.join('{' + n + '}' for n in allowed)})")
    return names


def placeholders(template: str) -> set[str]:
    return template_names(template, PLACEHOLDERS, "topic template")


def client_topics(template: str, clients: int, regions: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The topics of each client (its region round robin), every one checked as a topic to publish to."""
    names = placeholders(template)
    if "region" in names and not regions:
        raise TemplateError(f"topic template {template!r} uses {{region}}: give --regions, e.g. --regions us,eu")
    if regions and "region" not in names:
        raise TemplateError(f"--regions needs {{region}} in the topic template, e.g. bench/{{region}}/{{i}} "
                            f"(the template is {template!r})")
    result = []
    for index in range(clients):
        if "region" in names:
            topics = tuple(template.format(i=index, region=region) for region in regions)
        else:
            topics = (template.format(i=index, region=""),)
        for topic in topics:
            try:
                validate_topic(topic)
            except TopicError as exc:
                raise TemplateError(f"topic {topic!r} (from {template!r}): {exc}") from None
        result.append(topics)
    return result


def subscription_filter(template: str) -> str:
    """A filter matching every topic of the template: each level with a placeholder becomes ``+``."""
    placeholders(template)
    levels = ["+" if "{" in level.replace("{{", "") else level.replace("{{", "{").replace("}}", "}")
              for level in template.split("/")]
    topic_filter = "/".join(levels)
    try:
        return validate_filter(topic_filter)
    except TopicError as exc:
        raise TemplateError(f"filter {topic_filter!r} (from {template!r}): {exc}") from None
