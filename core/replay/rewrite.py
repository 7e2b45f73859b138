"""Topic rewriting for a replay: ordered ``FROM=TO`` prefix rules; the first rule whose prefix matches wins."""

from __future__ import annotations

from dataclasses import dataclass

from eventscope.core.topics import TopicError, validate_topic


@dataclass(frozen=True, slots=True)
class RewriteRules:
    rules: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...]) -> RewriteRules:
        """``["us-east/=staging-us-east/"]``; raises ``ValueError`` with the rule at fault."""
        rules = []
        for text in texts:
            source, sep, target = text.partition("=")
            if not sep or not source:
                raise ValueError(f"--rewrite takes FROM=TO, a topic prefix and its replacement (got {text!r})")
            rules.append((source, target))
        return cls(tuple(rules))

    def apply(self, topic: str) -> str:
        """``topic`` with its prefix rewritten; raises ``TopicError`` if the result is no valid topic."""
        for source, target in self.rules:
            if topic.startswith(source):
                rewritten = target + topic[len(source):]
                try:
                    validate_topic(rewritten)
                except TopicError as exc:
                    raise TopicError(f"{topic!r} rewritten by {source}={target} is {rewritten!r}: {exc}") from None
                return rewritten
        return topic
