"""Runs the independent SCIM conformance suite scim2-tester against a gateway.

Usage: run_scim2_tester.py BASE_URL TOKEN
Prints one line per check and a summary; exits 1 when any check is an ERROR
(a violation of a MUST of RFC 7643/7644), 0 otherwise. Statuses other than
SUCCESS and ERROR are listed so that docs/conformance.md can explain them.
"""

import collections
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    base_url, token = sys.argv[1], sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    results = check_server(client)
    counts = collections.Counter()
    for result in results:
        counts[result.status.name] += 1
        marker = "ok " if result.status in (Status.SUCCESS, Status.COMPLIANT) else result.status.name
        where = f"[{result.resource_type}] " if result.resource_type else ""
        reason = f" -- {result.reason}" if result.reason and result.status != Status.SUCCESS else ""
        print(f"{marker:10} {where}{result.title}{reason}")
    failed = counts.get("ERROR", 0)
    passed = len(results) - failed
    summary = ", ".join(f"{name}={n}" for name, n in sorted(counts.items()))
    print(f"scim2-tester: {summary}")
    print(f"scim2-tester: {passed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
