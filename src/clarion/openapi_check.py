"""Compare the committed ``openapi.json`` with the app's document (``--write`` updates it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from clarion.app import openapi_document

DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--write" in argv:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT.name}")
        return 0
    if not DOCUMENT.exists() or DOCUMENT.read_text(encoding="utf-8") != text:
        print("openapi.json is out of date: run `make openapi` and commit it", file=sys.stderr)
        return 1
    print("openapi.json is current")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
