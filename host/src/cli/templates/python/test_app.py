"""Runs {{name}}.wasm (build it first: ./build.sh) on a throwaway duro
server: pushes it, starts the workflow, signals it and checks the result.

Needs ``duro`` on PATH, or its path in DURO_BIN. Run: python3 -m unittest
"""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
COMPONENT = os.path.join(HERE, "{{name}}.wasm")


class Server:
    """``duro serve`` on a fresh SQLite database and a free port."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log_path = os.path.join(self.dir.name, "duro.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [
                    os.environ.get("DURO_BIN", "duro"), "serve",
                    "--database", f"sqlite://{self.dir.name}/duro.db",
                    "--listen", "127.0.0.1:0",
                    "--no-compile-cache",
                    # CPython makes a large component: give its compilation time.
                    "--compile-timeout-ms", "300000", "--request-timeout-ms", "300000",
                ],
                stderr=log,
            )
        deadline = time.monotonic() + 60
        # The server logs the address it bound: `duro listening address=...`.
        while not (address := re.search(r"address=(\S+)", self.log())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log()
                self.stop()
                raise RuntimeError(f"duro serve did not start:\n{log}")
            time.sleep(0.1)
        self.url = f"http://{address.group(1)}"

    def call(self, method, path, body=None, content_type="application/json"):
        """The JSON answer to an API request; an error status raises."""
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, body, {"content-type": content_type}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=330) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read().decode()}") from None

    def log(self):
        """What the server has logged so far."""
        with open(self.log_path) as log:
            return log.read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.dir.cleanup()


class WorkflowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(COMPONENT):
            raise FileNotFoundError(f"{COMPONENT} is missing: build it first with ./build.sh")
        cls.server = Server()
        cls.addClassCleanup(cls.server.stop)
        with open(COMPONENT, "rb") as component:
            cls.server.call("POST", "/v1/components?name={{name}}", component.read(), "application/wasm")

    def start(self, id, input):
        self.server.call("POST", "/v1/workflows", {"component": "{{name}}", "input": input, "id": id})

    def result(self, id):
        result = self.server.call("GET", f"/v1/workflows/{id}/result?wait=60")
        self.assertEqual(result["status"], "completed", result)
        return result["output"]

    def test_a_greeting_before_the_timeout_wins(self):
        self.start("greeted", {"name": "Ada", "timeout_s": 3600})
        event = self.server.call("GET", "/v1/workflows/greeted/events/status?wait=60")
        self.assertEqual(event["value"], "waiting")
        self.server.call("POST", "/v1/workflows/greeted/signals/greet", "Hello")
        self.assertEqual(self.result("greeted"), {"message": "Hello, Ada!", "timed_out": False})

    def test_without_a_greeting_it_times_out(self):
        self.start("ignored", {"name": "Ada", "timeout_s": 1})
        self.assertEqual(self.result("ignored"), {"message": "No greeting for Ada", "timed_out": True})


if __name__ == "__main__":
    unittest.main()
