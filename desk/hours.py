"""Agents' working hours: whether someone is there now, and when they are back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class WorkingHours:
    start: time | None  # None: always staffed
    end: time | None
    days: frozenset[int]  # ISO weekdays, Monday = 1
    zone: ZoneInfo

    @classmethod
    def parse(cls, hours: str, days: str = "1,2,3,4,5,6,7", zone: str = "Asia/Shanghai") -> WorkingHours:
        """`hours` like "09:00-21:00" ("" = always); `days` like "1,2,3,4,5"."""
        day_set = frozenset(int(d) for d in days.split(",") if d.strip())
        if not day_set or not day_set <= set(range(1, 8)):
            raise ValueError(f"working days must be ISO weekdays 1-7, got {days!r}")
        if not hours.strip():
            return cls(None, None, day_set, ZoneInfo(zone))
        try:
            first, last = (time.fromisoformat(part.strip()) for part in hours.split("-"))
        except ValueError as exc:
            raise ValueError(f"working hours must look like 09:00-21:00, got {hours!r}") from exc
        if first == last:
            raise ValueError(f"working hours start and end at the same time: {hours!r}")
        return cls(first, last, day_set, ZoneInfo(zone))

    def is_open(self, when: datetime | None = None) -> bool:
        now = (when or datetime.now(self.zone)).astimezone(self.zone)
        if now.isoweekday() not in self.days:
            return False
        if self.start is None or self.end is None:
            return True
        t = now.time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # a night shift across midnight

    def next_open(self, when: datetime | None = None) -> datetime:
        """The next moment agents are in (now, when they are in now)."""
        now = (when or datetime.now(self.zone)).astimezone(self.zone)
        if self.is_open(now):
            return now
        start = self.start or time(0, 0)
        for offset in range(8):
            day = (now + timedelta(days=offset)).date()
            candidate = datetime.combine(day, start, self.zone)
            if candidate > now and candidate.isoweekday() in self.days:
                return candidate
        return now  # unreachable with at least one working day
