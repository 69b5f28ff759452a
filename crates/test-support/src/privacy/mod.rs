//! The privacy scenario of issue 21, shared by the embedded process's test
//! (`services/embedded/tests/it/privacy.rs`) and the distributed one
//! (`tests/system/tests/privacy.rs`): a person whose every personal value
//! carries a marker is provisioned, renamed, put in a group, disabled,
//! re-enabled and deleted; a second person's rename becomes a dead letter
//! before they are deleted. Afterwards neither marker may be in any row of
//! any database, any admin answer or any log line; rebuild, diff and replay
//! still work; the group's team lists exactly the group's members.
//!
//! The platform under test is reached through [`Platform`] (HTTP, `scimctl`,
//! its databases and logs), so both tests run the same steps.

mod run;
mod stores;

use std::collections::BTreeSet;
use std::future::Future;
use std::process::Output;

use serde_json::{Value, json};

use run::Run;
pub use stores::rows_containing;

/// The consuming services, by the name their admin routes use.
pub const CONSUMERS: [&str; 3] = ["identity", "team", "licensing"];

/// What the scenario needs of a running platform.
pub trait Platform {
    /// One HTTP request; `url` absolute, `bearer` the SCIM token or the
    /// admin key. Status and JSON body (null when not JSON).
    fn http(
        &self,
        method: &str,
        url: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> impl Future<Output = (u16, Value)>;
    /// The base URL (`http://host:port`) of `service`: `gateway`,
    /// `identity`, `team` or `licensing`.
    fn url(&self, service: &str) -> String;
    fn admin_key(&self) -> &str;
    /// `scimctl` with the platform's URLs and admin key.
    fn scimctl(&self, args: &[&str]) -> impl Future<Output = Output>;
    /// A new, empty database of the platform's kind, for `scimctl rebuild`.
    fn fresh_database(&self) -> impl Future<Output = String>;
    /// The live database of `service` (`gateway`, `identity`, `team`,
    /// `licensing`).
    fn database(&self, service: &str) -> String;
    /// Everything every process of the platform logged so far.
    fn logs(&self) -> String;
}

/// A marker: lowercase letters and digits only, so it is found whether a
/// store keeps a value as sent or lowercased, and no encoding escapes it.
pub fn new_marker() -> String {
    format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..14])
}

/// A user whose every personal value carries `marker`.
pub fn person(marker: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "userName": format!("{marker}.user@example.com"),
        "externalId": format!("ext-{marker}"),
        "name": {
            "givenName": format!("{marker}given"),
            "familyName": format!("{marker}family"),
            "middleName": format!("{marker}middle"),
            "formatted": format!("{marker}given {marker}middle {marker}family")
        },
        "displayName": format!("{marker} display"),
        "nickName": format!("{marker}nick"),
        "title": format!("{marker} title"),
        "emails": [
            {"value": format!("{marker}.work@example.com"), "type": "work", "primary": true},
            {"value": format!("{marker}.home@example.org"), "type": "home"}
        ],
        "phoneNumbers": [{"value": format!("+1 555 {marker}"), "type": "work"}],
        "addresses": [{
            "type": "work",
            "streetAddress": format!("1 {marker} street"),
            "locality": format!("{marker}town"),
            "postalCode": format!("{marker}zip"),
            "country": "US"
        }],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": format!("{marker}emp"),
            "department": format!("{marker}dept"),
            "manager": {"value": format!("{marker}mgr"), "displayName": format!("{marker} manager")}
        }
    })
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// The rename: new userName, names, displayName, e-mail, still marked.
pub fn rename(marker: &str) -> Value {
    patch(json!([
        {"op": "replace", "path": "userName", "value": format!("{marker}.renamed@example.com")},
        {"op": "replace", "path": "name.familyName", "value": format!("{marker}newfamily")},
        {"op": "replace", "path": "displayName", "value": format!("{marker} renamed")},
        {"op": "replace", "path": "emails[type eq \"work\"].value", "value": format!("{marker}.new@example.com")}
    ]))
}

pub fn set_active(active: bool) -> Value {
    patch(json!([{"op": "replace", "path": "active", "value": active}]))
}

/// The organization the scenario runs in, made with `scimctl org create`.
pub struct Org {
    pub id: String,
    pub token: String,
}

/// What the scenario did, for the checks that follow it.
pub struct Outcome {
    pub org: Org,
    /// The markers of the deleted person and of the poisoned one.
    pub markers: Vec<String>,
    /// The databases `scimctl rebuild` made.
    pub rebuilt: Vec<String>,
    /// Every admin answer read during the scenario.
    pub answers: Vec<String>,
}

/// The scenario and every check that does not need the platform stopped.
pub async fn forget_a_person(platform: &impl Platform) -> Outcome {
    let created = stdout_json(
        &platform
            .scimctl(&["org", "create", "--name", "Privacy", "--seats", "20"])
            .await,
    );
    let org = Org {
        id: created["org_id"].as_str().expect("org_id").to_owned(),
        token: created["token"].as_str().expect("token").to_owned(),
    };
    let run = Run {
        platform,
        org: &org,
        answers: std::cell::RefCell::new(Vec::new()),
        recording: std::cell::Cell::new(false),
    };
    let others = [
        run.create(&json!({"userName": "ana.other@example.com", "active": true}))
            .await,
        run.create(&json!({"userName": "ben.other@example.com", "active": true}))
            .await,
    ];
    run.settle().await;

    // The person, looked up by userName first as Entra and Okta do.
    let marker = new_marker();
    let person_id = run.create(&person(&marker)).await;
    let filter = format!("userName eq \"{marker}.user@example.com\"");
    let (status, found) = run
        .scim("GET", &format!("/Users?filter={}", encode(&filter)), None)
        .await;
    assert_eq!(
        (status, found["totalResults"].clone()),
        (200, json!(1)),
        "{found}"
    );
    run.settle().await;
    // The event log shows the live person's profile sealed.
    let events = run
        .admin(
            "gateway",
            "GET",
            &format!("/events?aggregate={person_id}"),
            None,
        )
        .await;
    assert!(!events.to_string().contains(&marker), "{events}");
    assert!(
        events["items"][0]["event"]["payload"]["profile"]["sealed"].is_string(),
        "{events}"
    );
    // The marker reached the SCIM view and identity (so the scans below can
    // find it: they do, here).
    for service in ["gateway", "identity"] {
        let rows = rows_containing(&platform.database(service), &[&marker]).await;
        assert!(
            !rows.is_empty(),
            "the scan finds no marker in {service} before the delete"
        );
    }
    let (status, body) = run
        .scim(
            "PATCH",
            &format!("/Users/{person_id}"),
            Some(rename(&marker)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, group) = run
        .scim(
            "POST",
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Privacy group",
                "members": [{"value": others[0]}, {"value": others[1]}, {"value": person_id}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let group_id = group["id"].as_str().expect("group id").to_owned();
    run.settle().await;
    for active in [false, true] {
        let (status, body) = run
            .scim(
                "PATCH",
                &format!("/Users/{person_id}"),
                Some(set_active(active)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        run.settle().await;
    }
    let accounts = run.accounts(&person_id).await;
    let renamed = format!("{marker}.renamed@example.com");
    assert!(
        accounts
            .iter()
            .any(|a| a["status"] == "active" && a["profile"]["user_name"] == renamed.as_str()),
        "identity opened the re-enabled person's profile: {accounts:?}"
    );
    let (status, body) = run
        .scim("DELETE", &format!("/Users/{person_id}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    // From here on, no admin answer may show the person (before, identity's
    // accounts did, as they should).
    run.answers.borrow_mut().clear();
    run.recording.set(true);
    run.settle().await;

    let poisoned = new_marker();
    let poisoned_id = run.poison_then_delete(&poisoned).await;
    let markers = vec![marker.clone(), poisoned.clone()];

    // The team of the former group lists exactly the group's members.
    let (status, group) = run.scim("GET", &format!("/Groups/{group_id}"), None).await;
    assert_eq!(status, 200, "{group}");
    let group_members: BTreeSet<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(group_members, others.iter().cloned().collect(), "{group}");
    let team = run.team_of(&group_id).await;
    let team_id = team["id"].as_str().expect("team id");
    let detail = run
        .admin(
            "team",
            "GET",
            &format!("/organizations/{}/teams/{team_id}", org.id),
            None,
        )
        .await;
    let members = run
        .admin(
            "team",
            "GET",
            &format!(
                "/organizations/{}/teams/{team_id}/members?limit=100",
                org.id
            ),
            None,
        )
        .await;
    let team_members: BTreeSet<String> = members["items"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["scim_user_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(team_members, group_members, "{members}");
    assert_eq!(
        detail["member_count"],
        json!(group_members.len()),
        "{detail}"
    );

    // The event log shows the deleted person's profiles as erased.
    for id in [&person_id, &poisoned_id] {
        let events = run
            .admin(
                "gateway",
                "GET",
                &format!("/events?aggregate={id}&limit=1000"),
                None,
            )
            .await;
        let items = events["items"].as_array().expect("events");
        assert!(items.len() >= 2, "{events}");
        for item in items {
            let event_id = item["event"]["id"].as_str().expect("event id");
            let shown = run
                .admin("gateway", "GET", &format!("/events/{event_id}"), None)
                .await;
            if let Some(profile) = shown["event"]["payload"].get("profile") {
                assert_eq!(profile, &json!({"erased": true}), "{shown}");
            }
        }
    }

    // A replay of the person's events to identity changes nothing.
    let before = run.accounts(&person_id).await;
    let replayed = stdout_json(
        &platform
            .scimctl(&["replay", "--service", "identity", "--aggregate", &person_id])
            .await,
    );
    assert_eq!(replayed["problems"], json!([]), "{replayed}");
    assert!(replayed["counts"].get("applied").is_none(), "{replayed}");
    assert_eq!(run.accounts(&person_id).await, before);
    assert!(
        before
            .last()
            .is_some_and(|a| a["status"] == "deleted" && a["profile"].is_null()),
        "{before:?}"
    );

    // Rebuilt from the journal into fresh databases: no difference.
    let mut rebuilt = Vec::new();
    for service in CONSUMERS {
        let fresh = platform.fresh_database().await;
        let summary = stdout_json(
            &platform
                .scimctl(&["rebuild", service, "--into", &fresh, "--org", &org.id])
                .await,
        );
        assert_eq!(summary["problems"], json!([]), "{service}: {summary}");
        let diff = platform
            .scimctl(&[
                "diff",
                service,
                "--against",
                &fresh,
                "--live",
                &platform.database(service),
                "--org",
                &org.id,
            ])
            .await;
        assert!(
            diff.status.success(),
            "{service} differs after the rebuild: {}{}",
            String::from_utf8_lossy(&diff.stdout),
            String::from_utf8_lossy(&diff.stderr)
        );
        rebuilt.push(fresh);
    }

    run.read_everything(&[&person_id, &poisoned_id], team_id)
        .await;
    let answers = run.answers.into_inner();
    let outcome = Outcome {
        org,
        markers,
        rebuilt,
        answers,
    };
    check_stores(platform, &outcome).await;
    outcome
}

impl Outcome {
    /// Panics when `text` (from `what`) holds a marker.
    pub fn assert_clean(&self, what: &str, text: &str) {
        let lower = text.to_ascii_lowercase();
        for marker in &self.markers {
            if let Some(at) = lower.find(marker.as_str()) {
                let start = floor_char(text, at.saturating_sub(200));
                let end = floor_char(text, (at + 200).min(text.len()));
                panic!("{what} holds the marker {marker}: …{}…", &text[start..end]);
            }
        }
    }
}

fn floor_char(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// No marker in any row of any live or rebuilt database, in any admin
/// answer, in any log line.
pub async fn check_stores(platform: &impl Platform, outcome: &Outcome) {
    let markers: Vec<&str> = outcome.markers.iter().map(String::as_str).collect();
    let live =
        ["gateway", "identity", "team", "licensing"].map(|s| (s.to_owned(), platform.database(s)));
    let rebuilt = outcome
        .rebuilt
        .iter()
        .map(|url| ("rebuilt".to_owned(), url.clone()));
    for (what, url) in live.into_iter().chain(rebuilt) {
        let rows = rows_containing(&url, &markers).await;
        assert!(
            rows.is_empty(),
            "a marker in the {what} database: {rows:#?}"
        );
    }
    for answer in &outcome.answers {
        outcome.assert_clean("an admin answer", answer);
    }
    for line in platform.logs().lines() {
        outcome.assert_clean("a log line", line);
    }
}

/// `scimctl`'s stdout as JSON, once it succeeded.
pub fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "scimctl failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "scimctl's output is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A query-string value, percent-encoded.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The last warnings and errors of the logs.
fn tail(logs: &str) -> String {
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| ["WARN", "ERROR"].iter().any(|level| l.contains(level)))
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
