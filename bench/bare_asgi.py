"""The transport's limit, for bench_serving.py: a bare ASGI app on the stack ``mlrelease serve``
runs (uvicorn, uvloop, httptools, the same connection limits), answering constant JSON.

    python bench/bare_asgi.py PORT [--parse]

With --parse it reads the body and parses it with orjson before answering: the floor of a
server that must look at the rows it gets.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson

ANSWER = b'{"predictions":[0.0]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


def app(parse: bool) -> Any:
    async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if parse and scope["method"] == "POST":
            orjson.loads(b"".join(chunks))
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})

    return bare


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--parse", action="store_true")
    args = ap.parse_args()

    import uvicorn

    from mlrelease.config import ServingConfig
    from mlrelease.serve.connections import limited_protocol
    from mlrelease.serve.runner import BACKLOG

    limits = ServingConfig().connections
    config = uvicorn.Config(
        app(args.parse),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http=limited_protocol(limits),
        timeout_keep_alive=limits.keep_alive_s,
        lifespan="off",
        access_log=False,
        server_header=False,
        backlog=BACKLOG,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
