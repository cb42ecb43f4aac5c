"""Reading Prometheus text as a scraper does."""

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict:
    """Prometheus text as (name, labels) -> value."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
