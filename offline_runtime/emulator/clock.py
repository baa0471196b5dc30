"""The emulator's clock: real time plus an offset that waiting can skip ahead.

AWS waits a lot on behalf of an application: an SQS message becomes visible again after its
visibility timeout, a failed asynchronous invocation is retried after a minute, EventBridge backs
off between attempts. Offline, none of that should cost wall time. Everything in the emulator that
waits uses this clock, and when the only work left is waiting, the dispatcher advances the clock
to the next due moment instead of sleeping (``Dispatcher.wait_idle``). Tests can advance it too.
"""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as the emulated services see it."""
        return time.time() + self._offset

    def now_millis(self) -> float:
        return self.now() * 1000.0

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> None:
        """Move the emulated time forward (never back: AWS time does not go back)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def advance_to(self, moment: float) -> None:
        with self._lock:
            ahead = moment - (time.time() + self._offset)
            if ahead > 0:
                self._offset += ahead
