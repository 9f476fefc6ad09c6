"""The local target's front door: a TCP proxy from the public port to the active instance.

Run as ``python -m mlrelease.deploy.proxy BACKEND_FILE HOST PORT``. Each new connection goes to
the port written in BACKEND_FILE (re-read when the file changes), so a switch is one atomic
rename: connections already open finish on the old instance, new ones reach the new instance,
and no connection is refused in between. It forwards bytes and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path


class Backend:
    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.port = 0

    def current(self) -> int:
        st = os.stat(self.path)
        stamp = (st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            self.port = int(self.path.read_text().strip())
            self._stamp = stamp
        return self.port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(backend: Backend, host: str, port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", backend.current())
        except (OSError, ValueError):
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))

    server = await asyncio.start_server(handle, host, port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    backend_file, host, port = argv
    asyncio.run(_serve(Backend(Path(backend_file)), host, int(port)))


if __name__ == "__main__":
    main(sys.argv[1:])
