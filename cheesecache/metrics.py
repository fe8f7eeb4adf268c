# -*- test-case-name: tests.test_metrics -*-
"""
Metrics as plain values, and their Prometheus text exposition (format
0.0.4).  Components keep plain counters and histograms; a scrape gathers
them into L{Family} values and renders them.
"""

from __future__ import annotations

import bisect
import math
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import attrs

Labels = Tuple[Tuple[str, str], ...]

#: Upstream latency buckets, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@attrs.define
class Histogram:
    """
    Observations counted into cumulative buckets.
    """

    buckets: Tuple[float, ...] = LATENCY_BUCKETS
    counts: List[int] = attrs.field(init=False)
    total: float = 0.0
    count: int = 0

    def __attrs_post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> List[Tuple[str, int]]:
        """
        C{(le, count)} pairs, as the exposition format wants them.
        """
        out, running = [], 0
        for bound, n in zip(self.buckets, self.counts):
            running += n
            out.append((repr(float(bound)), running))
        out.append(("+Inf", self.count))
        return out


@attrs.define
class CounterVec:
    """
    A counter with labels.
    """

    values: Dict[Labels, float] = attrs.field(factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount


@attrs.frozen
class Family:
    """
    One metric family: its samples, by labels.

    @ivar kind: C{counter}, C{gauge} or C{histogram}.
    @ivar samples: for counters and gauges, C{labels -> value}; for
        histograms, C{labels -> Histogram}.
    """

    name: str
    kind: str
    help: str
    samples: Mapping[Labels, object]


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Iterable[Tuple[str, str]]) -> str:
    pairs = [f'{k}="{_escape(v)}"' for k, v in labels]
    return "{" + ",".join(pairs) + "}" if pairs else ""


def render(families: Sequence[Family]) -> bytes:
    """
    The Prometheus text exposition of C{families}.
    """
    lines: List[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in sorted(family.samples.items()):
            if family.kind == "histogram":
                assert isinstance(value, Histogram)
                for le, count in value.cumulative():
                    lines.append(
                        f"{family.name}_bucket{_labels((*labels, ('le', le)))} {count}"
                    )
                lines.append(f"{family.name}_sum{_labels(labels)} {_number(value.total)}")
                lines.append(f"{family.name}_count{_labels(labels)} {value.count}")
            else:
                lines.append(f"{family.name}{_labels(labels)} {_number(float(value))}")  # type: ignore[arg-type]
    return ("\n".join(lines) + "\n").encode("utf-8")


def counter(name: str, help: str, samples: Mapping[Labels, float]) -> Family:
    return Family(name, "counter", help, samples)


def gauge(name: str, help: str, samples: Mapping[Labels, float]) -> Family:
    return Family(name, "gauge", help, samples)


def one(value: float, **labels: str) -> Dict[Labels, float]:
    """
    A single sample.
    """
    return {tuple(sorted(labels.items())): value}
