"""`python -m connectors.sandbox --port 8100 [--state FILE] [--seed N]`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys

from connectors.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.sandbox",
        description="Serve every vendor sandbox (/hubspot, /zendesk, /jira) and /_sandbox/.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--state", help="JSON file to load at start and save changes to")
    parser.add_argument(
        "--seed", type=int, help="seed realistic data at start (unless --state exists)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = SandboxServer(host=args.host, port=args.port, state_file=args.state, seed=args.seed)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    vendors = ", ".join(f"/{kind}" for kind in server.app.slots) or "none"
    print(f"sandbox on {server.url} serving {vendors}; admin at /_sandbox/", flush=True)  # noqa: T201
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
