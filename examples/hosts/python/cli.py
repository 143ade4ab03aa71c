"""Decides JSON Lines requests with a policy module; prints one JSON decision per line.

    python cli.py policy.wasm [requests.jsonl | -]      (stdin when no file or `-`)

Blank lines are skipped; a line that is not valid JSON is the decision deny with E0701.
Two modes for testing hosts against each other:
  --encode   print each request's encoding as hex (`null` when it is invalid before encoding)
  --raw      read hex-encoded bytes per line (a blank line is no bytes), pass them to
             `rbac_decide` as they are, and print what it returned (`1`, `0`, `-code`) or `"trap"`
"""

from __future__ import annotations

import json
import sys

from rbac_host import ModuleError, Policy, RequestError, encode_request, parse_json

USAGE = "usage: python cli.py [--encode | --raw] POLICY.wasm [REQUESTS.jsonl | -]"


def answer(policy: Policy, mode: str, line: bytes) -> str:
    """One output line for one input line in the chosen mode."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if mode == "raw":
        data = bytes.fromhex((text or "").strip())  # ValueError: not hex, the command fails
        try:
            return json.dumps(policy.decide_raw(data))
        except Exception:  # a trap
            return json.dumps("trap")
    if mode == "encode":
        try:
            return json.dumps(encode_request(parse_json(text if text is not None else "\0"), policy.meta)[0].hex())
        except RequestError:
            return "null"
    if text is None:
        decision = {
            "decision": "deny",
            "errors": [{"code": "E0701", "message": "malformed JSON request: the line is not UTF-8"}],
            "reasons": [],
        }
    else:
        decision = policy.decide_json(text)
    return json.dumps(decision, ensure_ascii=False, separators=(",", ":"))


def main(argv: list[str]) -> int:
    mode = "decide"
    args = []
    for a in argv:
        if a == "--encode":
            mode = "encode"
        elif a == "--raw":
            mode = "raw"
        elif a in ("-h", "--help"):
            print(USAGE)
            return 0
        else:
            args.append(a)
    if not 1 <= len(args) <= 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        policy = Policy.from_file(args[0])
    except Exception as e:
        code = f"[{e.code}]" if isinstance(e, ModuleError) else ""
        print(f"error{code}: cannot load `{args[0]}`: {e}", file=sys.stderr)
        return 2
    source = args[1] if len(args) == 2 else "-"
    try:
        stream = sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as e:
        print(f"error: cannot read `{source}`: {e}", file=sys.stderr)
        return 2
    out = sys.stdout.buffer
    with stream:
        for line in stream:
            line = line.rstrip(b"\n")
            # Blank lines (JSON whitespace only) are skipped; in raw mode they are empty inputs.
            if mode != "raw" and not line.strip(b" \t\r"):
                continue
            out.write(answer(policy, mode, line).encode("utf-8") + b"\n")
            if source == "-":
                out.flush()  # answer each request as it arrives
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
