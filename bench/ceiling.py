"""The framework ceiling: a bare FastAPI endpoint that reads the same Twilio form body and
answers empty TwiML, served exactly as ``samvad serve`` serves Samvad (uvicorn, same
options and worker count). Whatever Samvad does per turn comes on top of this.

Run: ``python -m bench.ceiling --port 8001 --workers 2``.
"""

from __future__ import annotations

import argparse

from fastapi import FastAPI, Request
from fastapi.responses import Response

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

app = FastAPI()


@app.post("/webhooks/twilio")
async def receive(request: Request) -> Response:
    form = await request.form()
    if not form.get("MessageSid"):
        return Response(status_code=400)
    return Response(EMPTY_TWIML, media_type="text/xml")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The same uvicorn.run options as `samvad serve` (samvad/cli.py).
    uvicorn.run("bench.ceiling:app", host="127.0.0.1", port=args.port, workers=args.workers,
                log_level="info", proxy_headers=True, forwarded_allow_ips="127.0.0.1")


if __name__ == "__main__":
    main()
