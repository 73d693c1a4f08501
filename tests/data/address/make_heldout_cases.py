"""Writes ``city_heldout_cases.jsonl`` from the hand-written ``city_heldout_cases.txt``.

Run ``python3 tests/data/address/make_heldout_cases.py`` after editing the text file (stdlib
only). The held-out set is scored, never tuned on. The conversion and its checks are the
development set's (``make_city_cases.py``); at least 12 cases per district but 罗湖区.
"""

from __future__ import annotations

from make_city_cases import HERE, convert


def main() -> None:
    """Convert the held-out set."""
    convert(HERE / "city_heldout_cases.txt", HERE / "city_heldout_cases.jsonl",
            "make_heldout_cases.py from city_heldout_cases.txt (hand-labelled, held out)",
            12)


if __name__ == "__main__":
    main()
