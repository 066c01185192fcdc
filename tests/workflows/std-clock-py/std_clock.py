"""Reads Python's own clocks and randomness (no duro call) before a durable
wait, publishes them as event ``observed`` and returns them after signal
``go``: a test kills the host during the wait and checks that the replay
read the same values. CPython reads ``wasi:clocks`` and seeds ``random``
from ``wasi:random``, which the host journals."""

import os
import random
import time

import duro_sdk as duro


@duro.workflow
def run(input):
    observed = {
        "time_ns": time.time_ns(),
        "monotonic_ns": time.monotonic_ns(),
        "random": random.random(),
        "urandom": os.urandom(8).hex(),
    }
    duro.set_event("observed", observed)
    duro.receive("go")
    return observed
