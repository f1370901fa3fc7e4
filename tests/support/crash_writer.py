"""A result writer for the crash test; the parent kills it with SIGKILL.

Usage: ``python -m support.crash_writer URL PREFIX N_OBSERVATIONS``

It opens the store and prints ``ready``, then waits for a line on stdin, then
submits results in a loop, each with ``N_OBSERVATIONS`` observations in one
transaction. It prints a result's id (its "ack") only after ``submit_result`` has
returned, so every id the parent reads must be in the store, whenever the kill lands.
"""

from __future__ import annotations

import sys

from interphase.schema import Result
from interphase.store import Store
from support import factories


def nth_result(index: int, n_observations: int) -> Result:
    """The result the writer submits ``index``-th, under key ``PREFIX-index``."""
    return factories.result(factories.source_spec(), factories.design(index % 7),
                            n_observations=n_observations, seed=index)


def main(argv: list[str]) -> None:
    """Write until killed."""
    url, prefix, n_observations = argv[0], argv[1], int(argv[2])
    store = Store(url)
    store.get_source(factories.source_spec().name)  # connects before the kill window opens
    print("ready", flush=True)
    sys.stdin.readline()
    index = 0
    while True:
        # No campaign: validating a campaign's protocol would load PyBaMM, which is slow.
        stored = store.submit_result(nth_result(index, n_observations),
                                     idempotency_key=f"{prefix}-{index}")
        sys.stdout.write(stored.id + "\n")
        sys.stdout.flush()
        index += 1


if __name__ == "__main__":
    main(sys.argv[1:])
