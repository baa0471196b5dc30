"""Where every piece of asynchronous work runs: deliveries, retries, pollers, schedules.

AWS runs a lot on its own: EventBridge delivers to targets, Lambda retries asynchronous
invocations, pollers read queues and streams. Offline each of those is a task submitted here.

- ``workers=1`` (the default) runs one task at a time, in submission order: deterministic.
- ``workers=N`` runs up to N tasks at once in threads, the way AWS runs independent deliveries
  concurrently, so races between invocations show (two deliveries of one event, two publishes).
- A task may carry a ``lane``: tasks of one lane never overlap and keep their order, whatever the
  worker count (a DynamoDB stream shard is delivered in order; so is one SQS FIFO group).
- A task may be due later, in emulated time (a retry after a minute, a message that becomes
  visible again). :meth:`wait_idle` advances the clock to the next due task when nothing else
  is left to do, so waiting costs no wall time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from offline_runtime.emulator.clock import Clock

Task = Callable[[], None]


@dataclass(order=True)
class _Scheduled:
    due: float
    seq: int
    task: Task = field(compare=False)
    lane: str | None = field(compare=False, default=None)
    name: str = field(compare=False, default="")


class Dispatcher:
    def __init__(self, clock: Clock, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.clock = clock
        self.workers = workers
        self.errors: list[str] = []  # bugs in the emulator's own tasks, never swallowed silently
        self.paused = False  # accept work but run nothing (`invoke` runs only the named function)
        self._heap: list[_Scheduled] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._running = 0
        self._busy_lanes: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.completed = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"offline-dispatcher-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()  # what is still queued dies with the offline account
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=30)
        self._threads.clear()

    # -- submitting ---------------------------------------------------------------------
    def submit(self, task: Task, *, delay: float = 0.0, lane: str | None = None, name: str = "") -> None:
        """Run ``task`` once it is due (``delay`` seconds of emulated time from now)."""
        item = _Scheduled(self.clock.now() + max(0.0, delay), next(self._seq), task, lane, name)
        with self._cond:
            heapq.heappush(self._heap, item)
            self._cond.notify_all()

    # -- state ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._running

    @property
    def idle(self) -> bool:
        return self.pending == 0

    def next_due(self) -> float | None:
        with self._cond:
            return self._heap[0].due if self._heap and self._running == 0 else None

    def wait_idle(self, timeout_s: float, extra_busy: Callable[[], bool] = lambda: False) -> None:
        """Until nothing is queued or running (and ``extra_busy`` says so twice in a row).

        When the only work left is due in the future, the clock jumps to it: a retry "one minute
        later" runs now, as if the minute had passed."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            with self._cond:
                runnable = self._runnable_locked()
                due = self._heap[0].due if self._heap else None
                running = self._running
            busy_elsewhere = extra_busy()
            if (
                running == 0
                and runnable is None
                and due is not None
                and not busy_elsewhere
                and not self.paused
            ):
                self.clock.advance_to(due)  # only waiting is left: skip to when it is due
                with self._cond:
                    self._cond.notify_all()
                quiet = 0
                continue
            if running == 0 and due is None and not busy_elsewhere:
                quiet += 1
                if quiet >= 2:
                    return
            elif self.paused and running == 0 and not busy_elsewhere:
                return  # paused: queued work stays queued by design
            else:
                quiet = 0
            time.sleep(0.02)
        raise TimeoutError(f"offline AWS still busy after {timeout_s}s: {self.describe()}")

    def describe(self) -> str:
        with self._cond:
            names = [f"{i.name or 'task'}@+{i.due - self.clock.now():.1f}s" for i in sorted(self._heap)[:5]]
            return f"{self._running} running, {len(self._heap)} queued {names}"

    # -- workers --------------------------------------------------------------------------
    def _runnable_locked(self) -> _Scheduled | None:
        if not self._heap:
            return None
        now = self.clock.now()
        top = self._heap[0]
        if top.due > now:
            return None
        if top.lane is None or top.lane not in self._busy_lanes:
            return top
        for item in sorted(self._heap):  # the head's lane is busy: the next free lane's task
            if item.due > now:
                return None
            if item.lane is None or item.lane not in self._busy_lanes:
                return item
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                item = None
                while not self._stopping:
                    item = None if self.paused else self._runnable_locked()
                    if item is not None:
                        break
                    self._cond.wait(timeout=0.05)
                if self._stopping:
                    return
                assert item is not None
                if self._heap[0] is item:
                    heapq.heappop(self._heap)
                else:
                    self._heap.remove(item)
                    heapq.heapify(self._heap)
                self._running += 1
                if item.lane is not None:
                    self._busy_lanes.add(item.lane)
            try:
                item.task()
            except Exception:  # an emulator bug must not kill the worker; it is recorded and shown
                self.errors.append(f"{item.name}: {traceback.format_exc()}")
                traceback.print_exc()
            finally:
                with self._cond:
                    self._running -= 1
                    self.completed += 1
                    if item.lane is not None:
                        self._busy_lanes.discard(item.lane)
                    self._cond.notify_all()
