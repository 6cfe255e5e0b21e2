"""Age bands from a birthdate: under 13 may not sign up, 13 to 17 are teens, 18 and over adults.
The band is computed on every read, so a teen becomes an adult on their birthday."""

from __future__ import annotations

from datetime import UTC, date, datetime

from accounts.models import AgeBand

MINIMUM_AGE = 13
ADULT_AGE = 18


def today() -> date:
    return datetime.now(UTC).date()


def age_on(birthdate: date, on: date) -> int:
    return on.year - birthdate.year - ((on.month, on.day) < (birthdate.month, birthdate.day))


def age_band(birthdate: date, on: date | None = None) -> AgeBand:
    return AgeBand.ADULT if age_on(birthdate, on or today()) >= ADULT_AGE else AgeBand.TEEN
