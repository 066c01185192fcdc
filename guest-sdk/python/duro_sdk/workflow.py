"""Registering the workflow's entry point."""

import json
import sys
import traceback
from typing import Any, Callable, TypeVar

import wit_world
from componentize_py_types import Err

from .waits import Cancelled

Run = TypeVar("Run", bound=Callable[[Any], Any])


def workflow(run: Run) -> Run:
    """Registers ``run(input) -> output`` as the workflow's entry point.

    ``input`` is the workflow's input decoded from JSON (a ``dict`` for a
    JSON object) and the return value is its output, encoded as JSON. An
    exception fails the workflow with ``str(exception)`` as its error (its
    traceback goes to the workflow's log); an uncaught :class:`Cancelled`
    ends it with error ``cancelled``. ``run`` is called again from the
    start on every replay.

    componentize-py looks for a class ``WitWorld`` in the module it builds:
    this decorator defines it in the module where ``run`` is defined, so
    that module is the one to name when building.
    """

    class WitWorld(wit_world.WitWorld):
        def run(self, input: str) -> str:
            try:
                value = json.loads(input)
            except ValueError as error:
                raise Err(f"the input is not JSON: {error}") from None
            try:
                output = run(value)
            except Cancelled as error:
                raise Err(str(error)) from None
            except Exception as error:
                traceback.print_exc()
                raise Err(str(error) or type(error).__name__) from None
            try:
                return json.dumps(output, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise Err(f"the output is not JSON serializable: {error}") from None

    sys.modules[run.__module__].WitWorld = WitWorld
    return run
