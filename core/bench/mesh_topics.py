"""The private topics of one ``bench mesh`` run: where each pair's requests and replies go.

The template (``--topic-prefix``) names a namespace per broker with ``{region}`` (the broker's
region, or its name) and ``{run}`` (4 hex digits, new each run). The default,
``{region}/hello/eventscope-bench-{run}``, sits under ``REGION/hello/``, which the usual mesh
bridges (``topic +/hello/# both``) carry in both directions. Under it:

- ``<namespace of B>/request/<A>``: requests sent on broker A for the replier on broker B;
- ``<namespace of A>/reply/<B>``: B's replies, on their way back to A.

So a request names the broker that answers it, and its reply the broker that asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventscope.core.bench.topic_template import TemplateError, template_names
from eventscope.core.topics import TopicError, validate_filter, validate_topic

DEFAULT_TOPIC_PREFIX = "{region}/hello/eventscope-bench-{run}"
PLACEHOLDERS = ("region", "run")
_NOT_IN_A_LEVEL = str.maketrans({"/": "-", "+": "-", "#": "-"})


class MeshTopicError(ValueError):
    """A template that cannot make this run's topics; the message says why."""


def topic_level(name: str) -> str:
    """A broker's name or region as one topic level: no separators or wildcards, not a ``$`` topic."""
    level = name.strip().translate(_NOT_IN_A_LEVEL).lstrip("$")
    return level or "broker"


def check_template(template: str) -> str:
    """The template, if it names both placeholders and nothing else; raises ``MeshTopicError``."""
    try:
        names = template_names(template, PLACEHOLDERS, "--topic-prefix")
    except TemplateError as exc:
        raise MeshTopicError(str(exc)) from None
    missing = [name for name in PLACEHOLDERS if name not in names]
    if missing:
        raise MeshTopicError(f"--topic-prefix {template!r} needs {' and '.join('{' + n + '}' for n in missing)}: "
                             "{region} routes each request to its broker, {run} keeps the run's topics private "
                             f"(default {DEFAULT_TOPIC_PREFIX})")
    return template


@dataclass(frozen=True)
class MeshTopics:
    """This run's topics; ``regions`` maps each broker's name to its topic level."""

    template: str
    run: str
    regions: dict[str, str]

    def namespace(self, broker: str) -> str:
        return self.template.format(region=self.regions[broker], run=self.run)

    def request_topic(self, sender: str, answerer: str) -> str:
        return f"{self.namespace(answerer)}/request/{self.regions[sender]}"

    def reply_topic(self, sender: str, answerer: str) -> str:
        return f"{self.namespace(sender)}/reply/{self.regions[answerer]}"

    def requests_everywhere(self) -> str:
        """The observers' filter: every request of the run, whichever broker it is for."""
        levels = [("+" if "{region}" in level else level.format(run=self.run))
                  for level in self.template.split("/")]
        return "/".join(levels) + "/request/+"

    def check(self) -> None:
        """Every topic of the run is valid; raises ``MeshTopicError`` with the first bad one."""
        names = list(self.regions)
        try:
            for sender in names:
                for answerer in names:
                    validate_topic(self.request_topic(sender, answerer))
                    validate_topic(self.reply_topic(sender, answerer))
            validate_filter(self.requests_everywhere())
        except TopicError as exc:
            raise MeshTopicError(f"--topic-prefix {self.template!r}: {exc}") from None


def mesh_topics(template: str, run: str, brokers: dict[str, str]) -> MeshTopics:
    """The topics for ``brokers`` (name -> region, or "" for the name); raises ``MeshTopicError``."""
    check_template(template)
    regions = {name: topic_level(region or name) for name, region in brokers.items()}
    seen: dict[str, str] = {}
    for name, level in regions.items():
        if level in seen:
            raise MeshTopicError(f"{seen[level]} and {name} would share the topic level {level!r}: "
                                 "give each broker its own name or region")
        seen[level] = name
    topics = MeshTopics(template, run, regions)
    topics.check()
    return topics
