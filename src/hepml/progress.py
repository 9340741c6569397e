"""Progress lines for long jobs: how far, how fast, how long still.

A job's log (``logs/<rule>/...``) is what ``tail -f`` shows while it runs: :class:`Progress`
writes a line at most every ``every`` seconds (and whenever told a step ended, e.g. a file was
read), giving the work done out of the total, the rate and the time left at that rate, and a
summary line at the end. Pure bookkeeping around a clock: no stage imports, no I/O but logging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Progress", "duration", "quantity"]

EVERY_SECONDS = 10.0


def quantity(n: float) -> str:
    """A count for a log line: 1,234,567 (thousands separated)."""
    return f"{n:,.0f}"


def duration(seconds: float) -> str:
    """A duration for a log line: 4.2 s, 3 min 20 s, 1 h 05 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Work of ``total`` units (None: unknown) done step by step, logged to ``logger``.

    ``advance(n)`` adds ``n`` units and logs when ``every`` seconds passed since the last
    line, or when ``force`` is set; ``summary()`` is the job's last line. ``clock`` returns
    seconds (``time.monotonic``; tests give their own).
    """

    def __init__(
        self,
        what: str,
        total: float | None,
        unit: str,
        logger: logging.Logger,
        *,
        every: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.unit, self.log = what, total, unit, logger
        self.every, self.clock = every, clock
        self.done = 0.0
        self.start = self._last = clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return self.clock() - self.start

    @property
    def rate(self) -> float:
        """Units per second so far (0 before any time passed)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self, note: str = "") -> str:
        """``what: note, done of total unit (p%), rate unit/s, about T left``."""
        parts = [note] if note else []
        if self.total:
            share = 100 * self.done / self.total
            parts.append(
                f"{quantity(self.done)} of {quantity(self.total)} {self.unit} ({share:.0f}%)"
            )
        else:
            parts.append(f"{quantity(self.done)} {self.unit}")
        rate = self.rate
        if rate > 0:
            parts.append(f"{quantity(rate)} {self.unit}/s")
            if self.total and self.total > self.done:
                parts.append(f"about {duration((self.total - self.done) / rate)} left")
        return f"{self.what}: {', '.join(parts)}"

    def advance(self, n: float, *, note: str = "", force: bool = False) -> None:
        """Count ``n`` more units; log a line if due (or ``force``)."""
        self.done += n
        now = self.clock()
        if force or now - self._last >= self.every:
            self._last = now
            self.log.info(self.line(note))

    def summary(self, result: str) -> str:
        """The last line: ``what: result in T (rate unit/s)``."""
        rate = self.rate
        speed = f" ({quantity(rate)} {self.unit}/s)" if rate > 0 else ""
        return f"{self.what}: {result} in {duration(self.elapsed)}{speed}"
