"""The dated price table (`prices.yaml`), read per region.

`load_prices()` gives the whole table; `table.region("eu-west-1")` the figures of one region: that
region's own block plus the prices that are the same everywhere (`every_region`). A figure a region
lacks is None, never another region's: the estimate then says "not priced for <region>" and names
the item. Every figure carries a source line (`source(key)`); `free`, `facts` and `assumptions` hold
the account's allowances, fixed counts and the usage the estimate assumes where a charge follows traffic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PRICES = Path(__file__).resolve().parent / "prices.yaml"
REQUIRED = ("source", "as_of", "hours_per_month", "regions")


@dataclass(frozen=True)
class PriceTable:
    data: dict[str, Any]

    @property
    def source(self) -> str:
        return self.data["source"]

    @property
    def as_of(self) -> str:
        return str(self.data["as_of"])

    @property
    def hours(self) -> float:
        return float(self.data["hours_per_month"])

    @property
    def regions(self) -> list[str]:
        return list(self.data["regions"])

    def monthly(self, hourly: float) -> float:
        return round(hourly * self.hours, 2)

    def free(self, key: str) -> float:
        return float(self.data.get("free", {}).get(key, 0))

    def fact(self, key: str) -> float:
        return float(self.data["facts"][key])

    def assumption(self, key: str) -> float:
        return float(self.data["assumptions"][key])

    def region(self, name: str) -> "RegionPrices":
        own = dict(self.data["regions"].get(name) or {})
        common = dict(self.data.get("every_region") or {})
        sources = {**common.pop("sources", {}), **own.pop("sources", {})}
        return RegionPrices(self, name, {**common, **own}, sources, priced=name in self.data["regions"])


@dataclass
class RegionPrices:
    """One region's figures. `rate(key, *path)` is a figure or None; what was asked for and missing
    is kept in `missing` (labels), for the "not priced for <region>" line."""
    table: PriceTable
    name: str
    data: dict[str, Any]
    sources: dict[str, str]
    priced: bool                       # the table has a block for this region at all
    missing: list[str] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.table.hours

    @property
    def as_of(self) -> str:
        return self.table.as_of

    def monthly(self, hourly: float) -> float:
        return self.table.monthly(hourly)

    def keys(self) -> list[str]:
        return list(self.data)

    def source(self, key: str) -> str:
        return self.sources.get(key, "")

    def rate(self, key: str, *path: str, label: str = "") -> float | None:
        value: Any = self.data.get(key)
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if label and label not in self.missing:
            self.missing.append(label)
        return None

    def not_priced(self, label: str) -> str:
        return f"not priced for {self.name}: {label} (no sourced figure in prices.yaml)"


@lru_cache(maxsize=4)
def load_prices(path: str | None = None) -> PriceTable:
    data = yaml.safe_load(Path(path or PRICES).read_text())
    for key in REQUIRED:
        if key not in data:
            raise ValueError(f"{path or PRICES} lacks {key!r}: a price table must say where and when it is from, "
                             "per region")
    return PriceTable(data)
