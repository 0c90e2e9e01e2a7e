"""A scrape of ``/metrics`` read with prometheus-client's own parser, and its samples looked up by name and labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """Every sample of one scrape, and the type of every family."""

    values: dict[tuple[str, frozenset[tuple[str, str]]], float]
    types: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        """Parse the text exposition format; raises ``ValueError`` on anything the parser rejects."""
        values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                assert key not in values, f"{sample.name}{sample.labels} appears twice"
                values[key] = sample.value
        return cls(values, types)

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 if there is none (a series not yet counted)."""
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def labelled(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample named ``name``."""
        return [dict(labels) for sample, labels in self.values if sample == name]

    def names(self) -> set[str]:
        """Every sample name."""
        return {name for name, _ in self.values}

    def since(self, before: Scrape, name: str, **labels: str) -> float:
        """How much the sample grew since ``before``."""
        return self.value(name, **labels) - before.value(name, **labels)
