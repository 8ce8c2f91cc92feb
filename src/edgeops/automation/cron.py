"""Cron schedules (minute hour day-of-month month day-of-week) evaluated in a time zone.

Fire times are wall-clock times in the zone: `0 3 * * *` in Europe/Berlin fires at 03:00 local
time in summer and in winter. A local time that occurs twice when clocks go back fires once (the
first), one skipped when clocks go forward fires at the shifted instant zoneinfo gives it."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from edgeops.errors import InvalidInput

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
SEARCH_DAYS = 5 * 366  # far enough for `0 0 29 2 *`


@dataclass(frozen=True)
class Cron:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month, in_week = day.day in self.days, (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # cron: both restricted means either may match
            return in_month and in_week
        return in_month or in_week


def _field(text: str, name: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if body == "*":
                start, end = low, high
            elif "-" in body:
                first, last = body.split("-", 1)
                start, end = int(first), int(last)
            else:
                start = end = int(body)
                end = high if step_text else end
        except ValueError:
            raise InvalidInput(f"cron {name}: {part!r} is not a number, range or */step") from None
        if step < 1 or not low <= start <= end <= high:
            raise InvalidInput(f"cron {name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def parse(expression: str) -> Cron:
    """`*/15 * * * *`, `0 3 * * 1-5`, `30 6 1,15 * *`; names of days and months are not read."""
    parts = expression.split()
    if len(parts) != 5:
        raise InvalidInput(
            f"cron {expression!r}: expected 5 fields (minute hour day month "
            "weekday), e.g. '0 3 * * *'"
        )
    fields = [_field(text, *spec) for text, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in fields[4])
    return Cron(
        minutes=tuple(sorted(fields[0])),
        hours=tuple(sorted(fields[1])),
        days=frozenset(fields[2]),
        months=frozenset(fields[3]),
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _instants(schedule: Cron, day: date, zone: ZoneInfo) -> list[datetime]:
    """The day's fire times as UTC instants, in order."""
    return [
        datetime.combine(day, time(hour, minute), zone).astimezone(UTC)
        for hour in schedule.hours
        for minute in schedule.minutes
    ]


def latest_between(
    expression: str, zone_name: str, after: datetime, until: datetime
) -> datetime | None:
    """The newest fire time in (after, until], or None: a scheduler that was down for a while
    fires once for what it missed, not once per missed tick."""
    schedule, zone = parse(expression), ZoneInfo(zone_name)
    day = until.astimezone(zone).date()
    first = max(after.astimezone(zone).date(), day - timedelta(days=SEARCH_DAYS)) - timedelta(1)
    while day >= first:
        if schedule.day_matches(day):
            for instant in reversed(_instants(schedule, day, zone)):
                if after < instant <= until:
                    return instant
        day -= timedelta(days=1)
    return None


def next_after(expression: str, zone_name: str, moment: datetime) -> datetime | None:
    """The first fire time after `moment` (for display)."""
    schedule, zone = parse(expression), ZoneInfo(zone_name)
    day = moment.astimezone(zone).date() - timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if schedule.day_matches(day):
            for instant in _instants(schedule, day, zone):
                if instant > moment:
                    return instant
        day += timedelta(days=1)
    return None
