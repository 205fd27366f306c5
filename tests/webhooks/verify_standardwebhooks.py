"""Verifies a captured Kluis webhook delivery with the Standard Webhooks reference library.

Usage: verify_standardwebhooks.py CAPTURE.json [--expect-fail]

CAPTURE.json holds {"secret": "whsec_...", "headers": {"webhook-id": ..., "webhook-timestamp": ...,
"webhook-signature": ...}, "body": "<the exact body as text>"}. The library checks the timestamp
against this machine's clock (five minutes either way), so verify a capture soon after it is made.

Exits 0 when the delivery verifies and copies of it with the body, the id or the timestamp
altered do not; with --expect-fail, exits 0 only when the delivery itself is refused. Any other
outcome exits 1 with a message saying what went wrong.
"""

import copy
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class BrokenCapture(Exception):
    """The library failed on the capture instead of accepting or refusing it."""


def refusal(webhook, body, headers):
    """None when the library accepts this delivery, else its reason for refusing it."""
    try:
        webhook.verify(body, headers)
    except WebhookVerificationError as refused:
        return str(refused) or "refused"
    except Exception as failed:  # a malformed header makes the library fail otherwise
        raise BrokenCapture(f"{type(failed).__name__}: {failed}") from failed
    return None


def tampered(capture):
    """Copies of the delivery, each with one signed part changed."""
    body = capture["body"]
    headers = capture["headers"]
    flipped = body[:-1] + ("X" if body[-1:] != "X" else "Y") if body else "X"
    other_id = copy.deepcopy(headers)
    other_id["webhook-id"] = headers["webhook-id"] + "x"
    other_time = copy.deepcopy(headers)
    other_time["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    return [
        ("the body changed", flipped, headers),
        ("the body with a space added", body + " ", headers),
        ("another webhook-id", body, other_id),
        ("another webhook-timestamp", body, other_time),
    ]


def main(argv):
    args = [a for a in argv[1:] if a != "--expect-fail"]
    expect_fail = "--expect-fail" in argv[1:]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        capture = json.load(f)
    for key in ("secret", "headers", "body"):
        if key not in capture:
            print(f"the capture has no {key!r}", file=sys.stderr)
            return 1
    try:
        return check(capture, expect_fail)
    except BrokenCapture as broken:
        print(f"standardwebhooks could not read the capture: {broken}", file=sys.stderr)
        return 1


def check(capture, expect_fail):
    webhook = Webhook(capture["secret"])
    body, headers = capture["body"], capture["headers"]
    refused = refusal(webhook, body, headers)
    if expect_fail:
        if refused is None:
            print("standardwebhooks accepted a delivery that should be refused", file=sys.stderr)
            return 1
        print(f"standardwebhooks refused the delivery, as expected ({refused})")
        return 0
    if refused is not None:
        print(f"standardwebhooks refused the delivery: {refused}", file=sys.stderr)
        return 1
    for what, bad_body, bad_headers in tampered(capture):
        if refusal(webhook, bad_body, bad_headers) is None:
            print(f"standardwebhooks accepted a copy with {what}", file=sys.stderr)
            return 1
    event = json.loads(body)
    print(f"standardwebhooks verified {headers['webhook-id']} ({event.get('type')}), "
          "and refused its tampered copies")
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv))
