"""Verifies one delivery with the official `standardwebhooks` package.

argv[1] is the endpoint secret; stdin is JSON {"headers": {...}, "body": "..."}. Prints the
verified payload's type, or exits 1 with the verifier's error.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

delivery = json.load(sys.stdin)
try:
    payload = Webhook(sys.argv[1]).verify(delivery["body"], delivery["headers"])
except Exception as e:  # the verifier's own error types
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
print(payload["type"])
