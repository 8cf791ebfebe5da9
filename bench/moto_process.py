"""The moto server, in a process of its own: `python -m bench.moto_process` prints its endpoint
and serves until its stdin closes. It is tests/support/moto_server.py's server (moto made fit
for the layer's transactions), so the bench and the tests run against the same DynamoDB.

Not a thread of the bench: moto would then take the bench's GIL while it finishes a request,
and the handler time measured outside DynamoDB would include moto's own work.
"""

import logging
import sys


def main() -> None:
    from tests.support import moto_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server, endpoint = moto_server.start()
    print(endpoint, flush=True)
    sys.stdin.read()  # until the bench closes our stdin, or exits
    server.stop()


if __name__ == "__main__":
    main()
