//! Cursor paging (RFC 9865): walks forward and back through lists and
//! `/.search`, with filters and every kind of sort value; a walk while other
//! resources are created and deleted sees every resource that exists
//! throughout exactly once; cursors that are garbage, altered, of another
//! query or organization, or expired are 400 `invalidCursor` /
//! `expiredCursor`, never a 500.

use std::collections::{BTreeSet, HashMap};

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use provisioning_events::sealing::{KeyEncryptionKey, KeyRing};
use scim_gateway::domain::cursor::{CursorState, binding};
use scim_gateway::domain::models::{Direction, ResourceKind};
use scim_gateway::domain::ports::CursorSeal;
use scim_gateway::outbound::cursor_seal::KeyedCursorSeal;
use scim_protocol::messages::SearchRequest;
use serde_json::{Value, json};

use crate::support::{Backend, Response, TestApp, suite_settings};
use crate::{backend_tests, on_both_backends};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

fn ids(page: &Value) -> Vec<String> {
    page["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Spaces and quotes of a filter, for a query string.
fn encoded(text: &str) -> String {
    text.replace(' ', "%20").replace('"', "%22")
}

/// One list or search, paged by cursor: GET with `query`, or POST `body`.
struct Lister {
    path: String,
    query: String,
    body: Option<Value>,
}

impl Lister {
    fn get(path: &str, query: &str) -> Self {
        Self {
            path: path.to_owned(),
            query: query.to_owned(),
            body: None,
        }
    }

    fn post(path: &str, body: Value) -> Self {
        Self {
            path: path.to_owned(),
            query: String::new(),
            body: Some(body),
        }
    }

    async fn page_as(&self, app: &TestApp, cursor: &str, count: u64, token: &str) -> Response {
        match &self.body {
            None => {
                let query = if self.query.is_empty() {
                    String::new()
                } else {
                    format!("{}&", self.query)
                };
                let uri = format!("{}?{query}cursor={cursor}&count={count}", self.path);
                app.get_as(&uri, token).await
            }
            Some(body) => {
                let mut body = body.clone();
                body["cursor"] = json!(cursor);
                body["count"] = json!(count);
                app.with_body_as("POST", &self.path, &body, token).await
            }
        }
    }

    async fn page(&self, app: &TestApp, cursor: &str, count: u64) -> Response {
        self.page_as(app, cursor, count, &app.token).await
    }
}

/// A page as the walk checks it: 200, `itemsPerPage` true, no `startIndex`.
fn checked(page: Response) -> Value {
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["itemsPerPage"], ids(&page.body).len());
    assert!(page.body.get("startIndex").is_none(), "{}", page.body);
    page.body
}

fn cursor(page: &Value, name: &str) -> Option<String> {
    page.get(name)
        .map(|c| c.as_str().expect("a string").to_owned())
}

/// Every page from the first, following `nextCursor` until there is none.
async fn walk_forward(app: &TestApp, lister: &Lister, count: u64) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = String::new();
    loop {
        let page = checked(lister.page(app, &next, count).await);
        if pages.is_empty() {
            assert!(page.get("previousCursor").is_none(), "first page: {page}");
        }
        let more = cursor(&page, "nextCursor");
        pages.push(page);
        match more {
            Some(more) => next = more,
            None => return pages,
        }
        assert!(pages.len() < 200, "the walk does not end");
    }
}

/// From `last` back to the first page by `previousCursor`: the pages in
/// the order they come (last first).
async fn walk_back(app: &TestApp, lister: &Lister, last: &Value, count: u64) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut previous = cursor(last, "previousCursor");
    while let Some(at) = previous {
        let page = checked(lister.page(app, &at, count).await);
        assert!(
            cursor(&page, "nextCursor").is_some(),
            "a later page exists: {page}"
        );
        previous = cursor(&page, "previousCursor");
        pages.push(page);
        assert!(pages.len() < 200, "the walk does not end");
    }
    pages
}

fn all_ids(pages: &[Value]) -> Vec<String> {
    pages.iter().flat_map(ids).collect()
}

async fn create_user(app: &TestApp, body: Value) -> String {
    let mut body = body;
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    body["schemas"] = if body.get(enterprise).is_some() {
        json!([USER, enterprise])
    } else {
        json!([USER])
    };
    let created = app.post("/scim/v2/Users", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().expect("id").to_owned()
}

fn error_type(response: &Response) -> (StatusCode, String) {
    (
        response.status,
        response.body["scimType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

backend_tests! {
    async fn a_walk_goes_forward_and_back_over_every_user_once(app: TestApp) {
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(app.create_user(&format!("walker-{i}@example.com")).await);
        }
        let lister = Lister::get("/scim/v2/Users", "");
        let pages = walk_forward(&app, &lister, 3).await;
        assert_eq!(pages.len(), 3);
        for page in &pages {
            assert_eq!(page["totalResults"], 7);
        }
        assert_eq!(all_ids(&pages), created, "unsorted: creation (id) order");
        assert!(pages[1].get("previousCursor").is_some());
        assert!(pages[2].get("nextCursor").is_none(), "the last page has none");

        let back = walk_back(&app, &lister, &pages[2], 3).await;
        assert_eq!(back.len(), 2);
        assert_eq!(ids(&back[0]), ids(&pages[1]));
        assert_eq!(ids(&back[1]), ids(&pages[0]));
        assert!(back[1].get("previousCursor").is_none(), "back at the first page");
        // Forward again from a page reached backward.
        let again = checked(lister.page(&app, &cursor(&back[1], "nextCursor").unwrap(), 3).await);
        assert_eq!(ids(&again), ids(&pages[1]));

        // POST .search takes the cursor in its body.
        let searched = Lister::post("/scim/v2/Users/.search", json!({"schemas": [SEARCH]}));
        assert_eq!(all_ids(&walk_forward(&app, &searched, 2).await), created);
    }

    async fn a_walk_sees_every_user_that_exists_throughout_exactly_once(app: TestApp) {
        for sorted in [false, true] {
            let run = if sorted { "sorted" } else { "unsorted" };
            let mut initial = Vec::new();
            for i in 0..20 {
                let id = app.create_user(&format!("m-{run}-{i:02}@example.com")).await;
                initial.push(id);
            }
            let query = if sorted {
                format!("filter={}&sortBy=userName", encoded(&format!("userName co \"-{run}-\"")))
            } else {
                format!("filter={}", encoded(&format!("userName co \"-{run}-\"")))
            };
            let lister = Lister::get("/scim/v2/Users", &query);
            let mut deleted = BTreeSet::new();
            let mut deleted_unseen = BTreeSet::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            let mut next = String::new();
            let mut round = 0;
            loop {
                let page = checked(lister.page(&app, &next, 3).await);
                for id in ids(&page) {
                    *seen.entry(id).or_default() += 1;
                }
                let Some(more) = cursor(&page, "nextCursor") else { break };
                next = more;
                round += 1;
                // Writers between pages: users that sort before and after
                // the walk's position, one user not reached yet and one
                // already seen deleted.
                let unseen = initial.iter().rev().find(|id| !seen.contains_key(*id) && !deleted.contains(*id)).cloned();
                let old = initial.iter().find(|id| seen.contains_key(*id) && !deleted.contains(*id)).cloned();
                let mut doomed = Vec::new();
                deleted_unseen.extend(unseen.clone());
                doomed.extend(unseen);
                doomed.extend(old);
                let creates = ["a", "z"].map(|prefix| format!("{prefix}-{run}-{round}@example.com"));
                let paths: Vec<String> = doomed.iter().map(|id| format!("/scim/v2/Users/{id}")).collect();
                let deletes = paths.iter().map(|path| app.delete(path));
                let inserts = creates.iter().map(|name| app.create_user(name));
                let (deleted_now, _) = futures_util::join!(join_all(deletes), join_all(inserts));
                for response in deleted_now {
                    assert_eq!(response.status, StatusCode::NO_CONTENT);
                }
                deleted.extend(doomed);
                assert!(round < 100, "the walk does not end");
            }
            assert!(!deleted_unseen.is_empty() && deleted.len() > deleted_unseen.len());
            for (id, times) in &seen {
                assert_eq!(*times, 1, "{run}: {id} seen {times} times");
            }
            for id in initial.iter().filter(|id| !deleted.contains(*id)) {
                assert!(seen.contains_key(id), "{run}: {id} existed throughout and was missed");
            }
            for id in &deleted_unseen {
                assert!(!seen.contains_key(id), "{run}: {id} was listed after its deletion");
            }
        }
    }

    async fn a_walk_with_writers_running_alongside(app: TestApp) {
        let mut initial = Vec::new();
        for i in 0..30 {
            initial.push(app.create_user(&format!("m-{i:02}@example.com")).await);
        }
        // Every third user is deleted while the walk runs; users whose names
        // sort before and after every initial one are created meanwhile.
        let doomed: Vec<String> = initial.iter().step_by(3).cloned().collect();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let writer = async {
            let mut writes = 0;
            // From the end of the order: ahead of the walk.
            for (i, id) in doomed.iter().rev().enumerate() {
                let deleted = app.delete(&format!("/scim/v2/Users/{id}")).await;
                assert_eq!(deleted.status, StatusCode::NO_CONTENT);
                let prefix = if i % 2 == 0 { "a" } else { "z" };
                app.create_user(&format!("{prefix}-{i:02}@example.com")).await;
                writes += 2;
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
            writes
        };
        let lister = Lister::get("/scim/v2/Users", "sortBy=userName");
        let walker = async {
            let mut seen: Vec<String> = Vec::new();
            let mut next = String::new();
            loop {
                let page = checked(lister.page(&app, &next, 4).await);
                seen.extend(ids(&page));
                match cursor(&page, "nextCursor") {
                    Some(more) => next = more,
                    None => break,
                }
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            seen
        };
        let (writes, seen) = futures_util::join!(writer, walker);
        assert!(writes > 0);
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no user listed twice");
        for id in initial.iter().filter(|id| !doomed.contains(id)) {
            assert!(unique.contains(id), "{id} existed throughout and was missed");
        }
    }

    async fn filtered_and_sorted_walks_follow_the_index_order(app: TestApp) {
        // Ties (case-insensitive), missing values, booleans, instants, ids.
        let people = [
            (Some("Beta"), true, Some("x9")),
            (Some("alpha"), false, None),
            (Some("Beta"), true, Some("X1")),
            (None, false, Some("x1")),
            (Some("gamma"), true, None),
            (None, true, Some("x5")),
            (Some("Alpha"), false, Some("x5")),
            (Some("beta"), true, None),
            (None, false, None),
        ];
        let mut in_filter = Vec::new();
        for (i, (display, active, external)) in people.iter().enumerate() {
            let mut body = json!({"userName": format!("s-{i}@example.com"), "active": active});
            if let Some(display) = display {
                body["displayName"] = json!(display);
                // Read from the search document, not a column.
                body["title"] = json!(display);
            }
            if let Some(external) = external {
                body["externalId"] = json!(external);
                body["emails"] = json!([{"value": format!("{external}@example.com")}]);
                body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
                    json!({"employeeNumber": external});
            }
            in_filter.push(create_user(&app, body).await);
        }
        // Outside the filter.
        app.create_user("outside-1@example.com").await;
        app.create_user("outside-2@example.com").await;
        let filter = format!("filter={}", encoded("userName sw \"s-\""));
        for (sort_by, order) in [
            ("displayName", "ascending"),
            ("displayName", "descending"),
            ("active", "ascending"),
            ("active", "descending"),
            ("externalId", "ascending"),
            ("meta.created", "descending"),
            ("meta.lastModified", "ascending"),
            ("id", "descending"),
            ("title", "ascending"),
            ("title", "descending"),
            ("emails", "ascending"),
            ("emails.value", "descending"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
                "ascending",
            ),
        ] {
            let query = format!("{filter}&sortBy={sort_by}&sortOrder={order}");
            let reference = app.get(&format!("/scim/v2/Users?{query}&count=50")).await;
            assert_eq!(reference.status, StatusCode::OK, "{}", reference.body);
            let expected = ids(&reference.body);
            assert_eq!(expected.len(), people.len());
            let lister = Lister::get("/scim/v2/Users", &query);
            let pages = walk_forward(&app, &lister, 2).await;
            assert_eq!(all_ids(&pages), expected, "{sort_by} {order}");
            assert!(pages.iter().all(|p| p["totalResults"] == people.len()));
            let mut back: Vec<String> = walk_back(&app, &lister, pages.last().unwrap(), 2)
                .await
                .iter()
                .rev()
                .flat_map(ids)
                .collect();
            back.extend(ids(pages.last().unwrap()));
            assert_eq!(back, expected, "{sort_by} {order}, walked back");
        }
        // Missing values come last in either order.
        for order in ["ascending", "descending"] {
            let query = format!("{filter}&sortBy=displayName&sortOrder={order}");
            let walked = all_ids(&walk_forward(&app, &Lister::get("/scim/v2/Users", &query), 4).await);
            let missing: BTreeSet<&String> = [3, 5, 8].iter().map(|&i| &in_filter[i]).collect();
            let tail: BTreeSet<&String> = walked[walked.len() - 3..].iter().collect();
            assert_eq!(tail, missing, "{order}");
        }
    }

    async fn root_search_walks_users_then_groups(app: TestApp) {
        let ann = app.create_user("ann@example.com").await;
        let bob = app.create_user("bob@example.com").await;
        let cid = app.create_user("cid@example.com").await;
        let eng = app.create_group("Eng", &[&ann]).await;
        let ops = app.create_group("Ops", &[]).await;
        let everything = vec![ann.clone(), bob.clone(), cid.clone(), eng.clone(), ops.clone()];
        let lister = Lister::post("/scim/v2/.search", json!({"schemas": [SEARCH], "attributes": ["id"]}));
        for count in [1, 2, 3, 5, 10] {
            let pages = walk_forward(&app, &lister, count).await;
            assert_eq!(all_ids(&pages), everything, "count {count}");
            assert!(pages.iter().all(|p| p["totalResults"] == 5));
            let mut back: Vec<String> = walk_back(&app, &lister, pages.last().unwrap(), count)
                .await
                .iter()
                .rev()
                .flat_map(ids)
                .collect();
            back.extend(ids(pages.last().unwrap()));
            assert_eq!(back, everything, "count {count}, back");
        }
        // Sorted by an attribute both kinds have; a filter only groups answer.
        let by_name = Lister::post("/scim/v2/.search", json!({"schemas": [SEARCH], "sortBy": "displayName", "filter": "displayName pr"}));
        let walked = all_ids(&walk_forward(&app, &by_name, 1).await);
        assert_eq!(walked, [eng.clone(), ops]);
        let members = Lister::post("/scim/v2/.search", json!({"schemas": [SEARCH], "filter": format!("members eq \"{ann}\"")}));
        assert_eq!(all_ids(&walk_forward(&app, &members, 1).await), [eng]);
    }

    async fn long_and_non_ascii_sort_values_travel_in_the_cursor(app: TestApp) {
        for (i, letter) in ["ä", "b", "Ä", "ß"].iter().enumerate() {
            app.create_user(&format!("{}-{i}@example.com", letter.repeat(1500))).await;
        }
        let lister = Lister::get("/scim/v2/Users", "sortBy=userName");
        let reference = ids(&app.get("/scim/v2/Users?sortBy=userName&count=50").await.body);
        let pages = walk_forward(&app, &lister, 1).await;
        assert_eq!(pages.len(), 4);
        assert_eq!(all_ids(&pages), reference);
        let back = walk_back(&app, &lister, &pages[3], 1).await;
        assert_eq!(back.iter().rev().flat_map(ids).collect::<Vec<_>>(), reference[..3]);
    }

    async fn count_zero_and_count_above_the_maximum(app: TestApp) {
        let mut created = Vec::new();
        for i in 0..3 {
            created.push(app.create_user(&format!("zero-{i}@example.com")).await);
        }
        let lister = Lister::get("/scim/v2/Users", "");
        let only_total = checked(lister.page(&app, "", 0).await);
        assert_eq!(only_total["totalResults"], 3);
        assert_eq!(only_total["Resources"], json!([]));
        assert!(only_total.get("previousCursor").is_none());
        let from_start = cursor(&only_total, "nextCursor").expect("resources follow");
        assert_eq!(ids(&checked(lister.page(&app, &from_start, 2).await)), created[..2]);
        let negative = checked(app.get("/scim/v2/Users?cursor=&count=-4").await);
        assert_eq!(negative["Resources"], json!([]), "a negative count is 0");

        let empty = checked(Lister::get("/scim/v2/Groups", "").page(&app, "", 0).await);
        assert_eq!(empty["totalResults"], 0);
        assert!(empty.get("nextCursor").is_none());

        for i in 3..55 {
            created.push(app.create_user(&format!("zero-{i}@example.com")).await);
        }
        let capped = checked(lister.page(&app, "", 1000).await);
        assert_eq!(capped["itemsPerPage"], 50, "maxPageSize");
        let rest = checked(lister.page(&app, &cursor(&capped, "nextCursor").unwrap(), 1000).await);
        assert_eq!(ids(&rest), created[50..]);
        // Without count: defaultPageSize (capped by maxPageSize here).
        let default = checked(app.get("/scim/v2/Users?cursor").await);
        assert_eq!(default["itemsPerPage"], 50);

        let config = app.get("/scim/v2/ServiceProviderConfig").await;
        assert_eq!(
            config.body["pagination"],
            json!({"cursor": true, "index": true, "defaultPaginationMethod": "index",
                   "defaultPageSize": 50, "maxPageSize": 50, "cursorTimeout": 3600})
        );
    }

    async fn cursors_that_are_not_ours_for_this_query_are_refused(app: TestApp) {
        for i in 0..4 {
            app.create_user(&format!("refused-{i}@example.com")).await;
        }
        let first = checked(app.get("/scim/v2/Users?cursor&count=2").await);
        let good = cursor(&first, "nextCursor").unwrap();
        assert_eq!(app.get(&format!("/scim/v2/Users?cursor={good}&count=2")).await.status, StatusCode::OK);

        let invalid = (StatusCode::BAD_REQUEST, "invalidCursor".to_owned());
        let mut tampered = good.clone().into_bytes();
        let middle = tampered.len() / 2;
        tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let long = "A".repeat(5000);
        for (label, uri) in [
            ("garbage", "/scim/v2/Users?cursor=zzz".to_owned()),
            ("not unreserved", "/scim/v2/Users?cursor=%25%20!".to_owned()),
            ("very long", format!("/scim/v2/Users?cursor={long}")),
            ("tampered", format!("/scim/v2/Users?cursor={tampered}")),
            ("truncated", format!("/scim/v2/Users?cursor={}", &good[..good.len() - 2])),
            ("another filter", format!("/scim/v2/Users?cursor={good}&filter=userName%20pr")),
            ("another sort", format!("/scim/v2/Users?cursor={good}&sortBy=userName")),
            ("another endpoint", format!("/scim/v2/Groups?cursor={good}")),
        ] {
            let refused = app.get(&uri).await;
            assert_eq!(error_type(&refused), invalid, "{label}: {}", refused.body);
            assert!(!refused.body["detail"].as_str().unwrap().contains("refused-"), "{label}");
        }
        let other_org = app.new_organization("Other").await;
        let elsewhere = app.get_as(&format!("/scim/v2/Users?cursor={good}"), &other_org).await;
        assert_eq!(error_type(&elsewhere), invalid, "another organization");
        let searched = app
            .post("/scim/v2/.search", &json!({"schemas": [SEARCH], "cursor": good}))
            .await;
        assert_eq!(error_type(&searched), invalid, "/.search across kinds");
        let both = app.get(&format!("/scim/v2/Users?cursor={good}&startIndex=1")).await;
        assert_eq!(error_type(&both), (StatusCode::BAD_REQUEST, "invalidValue".to_owned()));
        let wrong_type = app.post("/scim/v2/Users/.search", &json!({"schemas": [SEARCH], "cursor": 7})).await;
        assert_eq!(error_type(&wrong_type), (StatusCode::BAD_REQUEST, "invalidValue".to_owned()));
    }
}

/// A cursor issued `age_ms` ago, sealed as the gateway seals them (the test
/// holds the key-encryption key it gave the gateway).
fn cursor_issued_ago(kek: &KeyEncryptionKey, app: &TestApp, age_ms: i64) -> String {
    let seal = KeyedCursorSeal::new(&KeyRing::new(kek.clone(), Vec::new()));
    let state = CursorState {
        direction: Direction::Forward,
        issued_at_ms: chrono::Utc::now().timestamp_millis() - age_ms,
        position: None,
    };
    let binding = binding(&[ResourceKind::User], &SearchRequest::default());
    seal.seal(app.org, &binding, &state.encode()).unwrap()
}

async fn an_expired_cursor_is_refused(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let kek = KeyEncryptionKey::generate().unwrap();
    let mut settings = suite_settings(url);
    settings.keys.key_encryption_key = Some(scim_gateway::config::Secret::new(kek.to_base64()));
    settings.scim.cursor_timeout_seconds = 600;
    let app = TestApp::spawn(&settings, "Test org").await;
    app.create_user("expiring@example.com").await;

    let fresh = cursor_issued_ago(&kek, &app, 599_000);
    let page = checked(app.get(&format!("/scim/v2/Users?cursor={fresh}")).await);
    assert_eq!(page["totalResults"], 1);
    let old = cursor_issued_ago(&kek, &app, 601_000);
    let refused = app.get(&format!("/scim/v2/Users?cursor={old}")).await;
    assert_eq!(
        error_type(&refused),
        (StatusCode::BAD_REQUEST, "expiredCursor".to_owned()),
        "{}",
        refused.body
    );
    let config = app.get("/scim/v2/ServiceProviderConfig").await;
    assert_eq!(config.body["pagination"]["cursorTimeout"], 600);
}

/// A page ends early by size; `nextCursor` goes on after its last resource.
async fn pages_cut_by_size_go_on_after_their_last_resource(backend: Backend) {
    let Some(url) = backend.fresh_database("gateway.db").await else {
        return;
    };
    let mut settings = suite_settings(url);
    settings.scim.max_page_bytes = 6_000;
    let app = TestApp::spawn(&settings, "Test org").await;
    let filler = "x".repeat(500);
    let mut created = Vec::new();
    for i in 0..10 {
        let mut body = json!({"userName": format!("large-{i}@example.com"), "title": filler, "nickName": filler});
        // Half of them without a displayName, which sorts last.
        if i % 2 == 0 {
            body["displayName"] = json!(filler);
        }
        created.push(create_user(&app, body).await);
    }
    let (named, unnamed): (Vec<_>, Vec<_>) = created
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let by_name: Vec<String> = named.into_iter().chain(unnamed).map(|(_, id)| id).collect();
    for (lister, expected) in [
        (Lister::get("/scim/v2/Users", ""), &created),
        (
            Lister::post("/scim/v2/.search", json!({"schemas": [SEARCH]})),
            &created,
        ),
        (
            Lister::get("/scim/v2/Users", "sortBy=displayName"),
            &by_name,
        ),
    ] {
        let pages = walk_forward(&app, &lister, 50).await;
        assert!(pages.len() >= 3, "cut by size: {} pages", pages.len());
        assert!(
            pages
                .iter()
                .all(|p| ids(p).len() < 10 && p["totalResults"] == 10)
        );
        assert_eq!(&all_ids(&pages), expected);
        let mut back: Vec<String> = walk_back(&app, &lister, pages.last().unwrap(), 50)
            .await
            .iter()
            .rev()
            .flat_map(ids)
            .collect();
        back.extend(ids(pages.last().unwrap()));
        assert_eq!(&back, expected, "walked back");
    }
}

on_both_backends!(
    an_expired_cursor_is_refused,
    pages_cut_by_size_go_on_after_their_last_resource,
);
