"""Loaded by every python of a tests/clock/ahead.sh run (PYTHONPATH).

libfaketime there moves the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC):
faking the monotonic clock upsets bitcoind (RPC hangs) and libmicrohttpd
(idle timeouts computed across a faked and an unfaked reading).  With the
monotonic clock left alone, libfaketime's clock_nanosleep(TIMER_ABSTIME)
wrapper fails with EINVAL, which is what Python's time.sleep() calls; sleep
through select() instead, which libfaketime passes through unchanged."""
import select
import time


def _sleep(secs):
    if secs < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], secs)


time.sleep = _sleep
