"""Runs the independent SCIM conformance suite scim2-tester against a gateway.

Usage: run_scim2_tester.py BASE_URL TOKEN
Prints one line per check and a summary; exits 1 when any check is an ERROR
(a violation of a MUST of RFC 7643/7644), 0 otherwise. Statuses other than
SUCCESS and ERROR are listed so that docs/conformance.md can explain them.

scim2-tester 0.5.2 does not exercise Bulk (RFC 7644 §3.7) or cursor paging
(RFC 9865), though the gateway advertises both: `advertised_features` checks
them here, read through scim2-models' own message models, and counts a
failure as an ERROR like the suite's.
"""

import collections
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import BulkResponse, Group, ListResponse, ServiceProviderConfig, User
from scim2_tester import Status, check_server

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK_URN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def check_bulk(http):
    """Two users and a group naming them by bulkId, the group first."""
    tag = "conformance-bulk"
    payload = {
        "schemas": [BULK_URN],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g",
             "data": {"schemas": [GROUP_URN], "displayName": f"{tag}-group",
                      "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1",
             "data": {"schemas": [USER_URN], "userName": f"{tag}-1@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "u2",
             "data": {"schemas": [USER_URN], "userName": f"{tag}-2@example.com"}},
        ],
    }
    answer = http.post("/Bulk", json=payload, headers={"Content-Type": "application/scim+json"})
    if answer.status_code != 200:
        return f"POST /Bulk answered {answer.status_code}: {answer.text[:300]}"
    response = BulkResponse[User | Group].model_validate(answer.json())
    statuses = sorted(str(op.status) for op in response.operations or [])
    if statuses != ["201", "201", "201"]:
        return f"operation statuses {statuses}, expected three 201"
    by_id = {op.bulk_id: op for op in response.operations}
    group_location = by_id["g"].location
    group = http.get(group_location).json()
    user_ids = {by_id[b].location.rstrip("/").rsplit("/", 1)[-1] for b in ("u1", "u2")}
    members = {m["value"] for m in group.get("members", [])}
    if members != user_ids:
        return f"the group's members {sorted(members)} are not the bulk's users {sorted(user_ids)}"
    for location in [group_location] + [by_id[b].location for b in ("u1", "u2")]:
        http.delete(location)
    return None


def check_cursor_walk(http):
    """A cursor walk sees every user exactly once, as index paging does."""
    created = []
    for i in range(5):
        answer = http.post("/Users", json={"schemas": [USER_URN], "userName": f"conformance-cursor-{i}@example.com"},
                           headers={"Content-Type": "application/scim+json"})
        if answer.status_code != 201:
            return f"creating a user answered {answer.status_code}"
        created.append(answer.json()["id"])
    try:
        everyone = {r["id"] for r in http.get("/Users", params={"count": 1000}).json().get("Resources", [])}
        seen, cursor, pages = [], "", 0
        while cursor is not None and pages < 100:
            page = http.get("/Users", params={"cursor": cursor, "count": 2})
            if page.status_code != 200:
                return f"cursor page answered {page.status_code}: {page.text[:300]}"
            listed = ListResponse[User].model_validate(page.json())
            seen += [r.id for r in listed.resources or []]
            cursor = listed.next_cursor
            pages += 1
        if sorted(seen) != sorted(everyone) or len(seen) != len(set(seen)):
            return f"the walk saw {len(seen)} users ({len(set(seen))} distinct), index paging {len(everyone)}"
        bad = http.get("/Users", params={"cursor": "not-a-cursor"})
        if bad.status_code != 400 or bad.json().get("scimType") != "invalidCursor":
            return f"an invalid cursor answered {bad.status_code} {bad.text[:200]}"
        return None
    finally:
        for user in created:
            http.delete(f"/Users/{user}")


def advertised_features(http):
    """(title, problem or None) for what the gateway advertises beyond the suite."""
    config = ServiceProviderConfig.model_validate(http.get("/ServiceProviderConfig").json())
    results = []
    bulk_on = bool(config.bulk and config.bulk.supported)
    results.append(("ServiceProviderConfig advertises bulk", None if bulk_on else "bulk.supported is not true"))
    if bulk_on:
        results.append(("Bulk with bulkId references", check_bulk(http)))
    pagination = getattr(config, "pagination", None)
    cursor_on = bool(pagination and pagination.cursor)
    results.append(("ServiceProviderConfig advertises cursor paging",
                    None if cursor_on else "pagination.cursor is not true"))
    if cursor_on:
        results.append(("cursor paging walk (RFC 9865)", check_cursor_walk(http)))
    return results


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
    for title, problem in advertised_features(http):
        counts["SUCCESS" if problem is None else "ERROR"] += 1
        marker = "ok " if problem is None else "ERROR"
        print(f"{marker:10} {title}" + (f" -- {problem}" if problem else ""))
    failed = counts.get("ERROR", 0)
    passed = sum(counts.values()) - failed
    summary = ", ".join(f"{name}={n}" for name, n in sorted(counts.items()))
    print(f"scim2-tester: {summary}")
    print(f"scim2-tester: {passed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
