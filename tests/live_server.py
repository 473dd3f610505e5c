"""A live ``python -m sara_core serve`` for tests: the command's own engine and app, served by
uvicorn on a free loopback port in a thread, over a model the test already holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openai
import uvicorn

from sara_core.cli import build_parser
from sara_core.models.loading import LoadedModel
from sara_core.serve.app import build_app
from sara_core.serve.cli import build_engine
from sara_core.serve.engine import Engine

KEY = "test-key"


@dataclass
class Live:
    url: str  # the /v1 base URL
    engine: Engine

    def client(self, key: str | None = KEY, timeout: float = 120.0) -> openai.OpenAI:
        key = key or "none"
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=timeout)

    def wait_completed(self, n: int, timeout: float = 30.0) -> None:
        """Wait until the server has finished ``n`` answers in all."""
        until = time.monotonic() + timeout
        while self.engine.stats.completed < n:
            if time.monotonic() > until:
                raise TimeoutError(f"only {self.engine.stats.completed} of {n} answers finished")
            time.sleep(0.02)


@contextmanager
def serving(lm: LoadedModel, argv: Sequence[str] = (), api_key: str | None = KEY) -> Iterator[Live]:
    """Serve ``lm`` with the options ``argv`` of ``serve`` until the block ends."""
    args = build_parser().parse_args(["serve", *argv])
    engine = build_engine(args, lm)
    app: Any = build_app(engine, api_key)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-serve", daemon=True)
    thread.start()
    try:
        until = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > until:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Live(f"http://127.0.0.1:{port}/v1", engine)
    finally:
        server.should_exit = True
        thread.join(10)
        engine.scheduler.close(timeout=5)
        engine.close()
