"""Training progress in the job's log: boosting rounds, validation loss, time left.

:class:`RoundLog` is an XGBoost callback that only logs: every ``every`` seconds (and after
the first round) the round reached out of the maximum, the validation loss and the best so
far, the rate, and the time left: between the soonest early stopping can end training
(``early_stopping_rounds`` past the best round, if the loss stops improving) and the time to
the maximum number of rounds; after training a summary line. It never
changes the model: ``after_iteration`` always returns False (go on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import xgboost as xgb

from hepml.progress import EVERY_SECONDS, duration

__all__ = ["RoundLog"]

log = logging.getLogger(__name__)


class RoundLog(xgb.callback.TrainingCallback):
    """Log the progress of ``xgb.train`` (see the module docstring)."""

    def __init__(
        self,
        max_rounds: int,
        early_stopping_rounds: int | None,
        *,
        min_rounds: int = 1,
        every: float = EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        super().__init__()
        self.max_rounds, self.patience = max_rounds, early_stopping_rounds
        self.min_rounds = max(min_rounds, 1)
        self.every, self.clock, self.log = every, clock, logger
        self.start = self._last = clock()
        self.best: tuple[int, float] | None = None
        self.rounds = 0

    def before_training(self, model: Any) -> Any:
        self.start = self._last = self.clock()
        return model

    def _loss(self, evals_log: dict) -> tuple[str, float] | None:
        validation = evals_log.get("validation") or {}
        if not validation:
            return None
        metric = "logloss" if "logloss" in validation else next(iter(validation))
        return metric, float(validation[metric][-1])

    def rounds_left(self, epoch: int) -> tuple[int, int]:
        """(fewest, most) rounds that may follow round ``epoch`` (0-based): early stopping
        ends training ``early_stopping_rounds`` past the best round unless the loss improves
        again, never before ``min_rounds`` (until which the latest round counts as the best,
        as :class:`~hepml.train.curves.EarlyStopping` counts it); ``max_rounds`` ends it anyway."""
        most = max(self.max_rounds - epoch - 1, 0)
        if self.patience is None or self.best is None:
            return most, most
        best = max(self.best[0], self.min_rounds - 1)  # round min_rounds is best at least
        stop = best + self.patience  # the soonest round it can stop after
        return max(min(most, stop - epoch), 0), most

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        self.rounds = epoch + 1
        loss = self._loss(evals_log)
        if loss is not None and (self.best is None or loss[1] < self.best[1]):
            self.best = (epoch, loss[1])
        now = self.clock()
        if epoch == 0 or now - self._last >= self.every:
            self._last = now
            self.log.info(self.line(epoch, loss, now - self.start))
        return False

    def line(self, epoch: int, loss: tuple[str, float] | None, elapsed: float) -> str:
        """``round r of at most N: validation logloss x (best y at round b), rate, left``."""
        parts = []
        if loss is not None and self.best is not None:
            parts.append(
                f"validation {loss[0]} {loss[1]:.5f} (best {self.best[1]:.5f} at round "
                f"{self.best[0] + 1})"
            )
        if elapsed > 0:
            rate = (epoch + 1) / elapsed
            fewest, most = self.rounds_left(epoch)
            parts.append(f"{rate:.1f} rounds/s")
            if fewest == most:
                parts.append(f"{duration(most / rate)} left")
            else:
                parts.append(
                    f"{duration(fewest / rate)} to {duration(most / rate)} left "
                    "(early stopping decides)"
                )
        return f"round {epoch + 1} of at most {self.max_rounds}: {', '.join(parts)}"

    def after_training(self, model: Any) -> Any:
        best = (
            f"; best round {self.best[0] + 1}, validation loss {self.best[1]:.5f}"
            if self.best is not None
            else ""
        )
        self.log.info(
            "trained %d rounds in %s%s", self.rounds, duration(self.clock() - self.start), best
        )
        return model
