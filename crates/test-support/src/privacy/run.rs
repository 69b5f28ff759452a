//! The scenario's steps against a [`Platform`]: requests, waiting until
//! every consumer caught up, the poisoned person, the admin answers read.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stores::forget_in_identity;
use super::{CONSUMERS, Org, Platform, person, rename, stdout_json, tail};

pub(super) struct Run<'a, P> {
    pub(super) platform: &'a P,
    pub(super) org: &'a Org,
    /// The admin answers read since `recording` was set.
    pub(super) answers: std::cell::RefCell<Vec<String>>,
    pub(super) recording: std::cell::Cell<bool>,
}

impl<P: Platform> Run<'_, P> {
    pub(super) async fn scim(&self, method: &str, uri: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/scim/v2{uri}", self.platform.url("gateway"));
        self.platform
            .http(method, &url, &self.org.token, body)
            .await
    }

    /// An admin request (`path` below `/admin/v1`), kept for the marker
    /// check; panics unless 200.
    pub(super) async fn admin(
        &self,
        service: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let url = format!("{}/admin/v1{path}", self.platform.url(service));
        let (status, answer) = self
            .platform
            .http(method, &url, self.platform.admin_key(), body)
            .await;
        assert_eq!(status, 200, "{method} {path}: {answer}");
        if self.recording.get() {
            self.answers.borrow_mut().push(answer.to_string());
        }
        answer
    }

    pub(super) async fn create(&self, user: &Value) -> String {
        let mut user = user.clone();
        if user.get("schemas").is_none() {
            user["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User"]);
        }
        let (status, body) = self.scim("POST", "/Users", Some(user)).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("user id").to_owned()
    }

    /// The organization's journal, whole.
    pub(super) async fn journal(&self) -> Vec<Value> {
        let path = format!("/events?org={}&limit=1000", self.org.id);
        let page = self.admin("gateway", "GET", &path, None).await;
        assert!(
            page["next_after_seq"].is_null(),
            "more than one page: {page}"
        );
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["event"].clone())
            .collect()
    }

    pub(super) fn dead_path(service: &str) -> String {
        format!("/services/{service}/dead-letters")
    }

    pub(super) async fn dead_letters(&self, service: &str) -> Vec<String> {
        let listed = self
            .admin(service, "GET", &Self::dead_path(service), None)
            .await;
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|l| l["event_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits until every consumer has applied every event of the journal,
    /// or set it aside as a dead letter.
    pub(super) async fn settle(&self) {
        self.settle_but(&[]).await;
    }

    /// [`Self::settle`], but for the events identity lost on purpose.
    pub(super) async fn settle_but(&self, lost_by_identity: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events = self.journal().await;
            let mut pending = Vec::new();
            for service in CONSUMERS {
                let path = format!("/services/{service}/replay");
                let body = json!({"events": events, "dry_run": true});
                let answer = self.admin(service, "POST", &path, Some(body)).await;
                let dead = self.dead_letters(service).await;
                pending.extend(
                    answer["outcomes"]
                        .as_array()
                        .expect("outcomes")
                        .iter()
                        .filter(|o| o["outcome"] == "would_apply")
                        .filter_map(|o| o["event_id"].as_str())
                        .filter(|id| !dead.iter().any(|d| d == id))
                        .filter(|id| service != "identity" || !lost_by_identity.contains(id))
                        .map(|id| format!("{service}: {id}")),
                );
            }
            if pending.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not applied within 60 s: {pending:?}\nwarnings and errors:\n{}",
                tail(&self.platform.logs())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn accounts(&self, scim_user_id: &str) -> Vec<Value> {
        let path = format!("/organizations/{}/accounts?limit=500", self.org.id);
        let page = self.admin("identity", "GET", &path, None).await;
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|a| a["scim_user_id"] == scim_user_id)
            .cloned()
            .collect()
    }

    pub(super) async fn team_of(&self, group_id: &str) -> Value {
        let path = format!("/organizations/{}/teams?limit=100", self.org.id);
        let teams = self.admin("team", "GET", &path, None).await;
        teams["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|t| t["group_id"] == group_id)
            .cloned()
            .unwrap_or_else(|| panic!("no team for the group: {teams}"))
    }

    /// A person identity lost (a restore from an old backup would do it) is
    /// renamed: the rename can never apply and becomes identity's dead
    /// letter; then the person is deleted. Their dead letter shows erased,
    /// and a requeue reports it so and does not keep failing.
    pub(super) async fn poison_then_delete(&self, marker: &str) -> String {
        let id = self.create(&person(marker)).await;
        self.settle().await;
        forget_in_identity(&self.platform.database("identity"), &id).await;
        let (status, body) = self
            .scim("PATCH", &format!("/Users/{id}"), Some(rename(marker)))
            .await;
        assert_eq!(status, 200, "{body}");
        let path = format!("/events?aggregate={id}&limit=1000");
        let entries = self.admin("gateway", "GET", &path, None).await;
        let of_person = entries["items"].as_array().expect("items");
        let provisioned_seq = of_person[0]["seq"].as_i64().expect("seq");
        let provisioned = of_person[0]["event"]["id"].as_str().expect("id").to_owned();
        let poison = of_person.last().expect("the rename")["event"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.dead_letters("identity").await.contains(&poison) {
            assert!(
                Instant::now() < deadline,
                "the rename is not a dead letter:\n{}",
                tail(&self.platform.logs())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let letter = format!("{}/{poison}", Self::dead_path("identity"));
        let sealed = self.admin("identity", "GET", &letter, None).await;
        assert!(
            sealed["event"]["payload"]["profile"]["sealed"].is_string(),
            "{sealed}"
        );
        let (status, body) = self.scim("DELETE", &format!("/Users/{id}"), None).await;
        assert_eq!(status, 204, "{body}");
        self.settle_but(&[&provisioned]).await;
        let erased = self.admin("identity", "GET", &letter, None).await;
        assert_eq!(
            erased["event"]["payload"]["profile"],
            json!({"erased": true}),
            "{erased}"
        );

        // The cause fixed (the person's first event replayed: it opens as
        // erased), the requeue reports the letter erased instead of failing.
        let fixed = stdout_json(
            &self
                .platform
                .scimctl(&[
                    "replay",
                    "--service",
                    "identity",
                    "--aggregate",
                    &id,
                    "--until-seq",
                    &provisioned_seq.to_string(),
                ])
                .await,
        );
        assert_eq!(fixed["problems"], json!([]), "{fixed}");
        let requeue = format!("{}/requeue", Self::dead_path("identity"));
        let requeued = self
            .admin("identity", "POST", &requeue, Some(json!({})))
            .await;
        assert!(
            requeued["erased"]
                .as_array()
                .is_some_and(|e| e.contains(&json!(poison))),
            "{requeued}"
        );
        assert!(
            !requeued["still_failing"].to_string().contains(&poison),
            "{requeued}"
        );
        assert!(!self.dead_letters("identity").await.contains(&poison));
        // Whatever came behind it is applied once its turn comes.
        let rest = stdout_json(
            &self
                .platform
                .scimctl(&["replay", "--service", "identity", "--aggregate", &id])
                .await,
        );
        assert_eq!(rest["problems"], json!([]), "{rest}");
        let again = self
            .admin("identity", "POST", &requeue, Some(json!({})))
            .await;
        assert_eq!(again["still_failing"], json!([]), "{again}");
        assert_eq!(self.dead_letters("identity").await, Vec::<String>::new());
        let accounts = self.accounts(&id).await;
        assert!(
            accounts
                .last()
                .is_some_and(|a| a["status"] == "deleted" && a["profile"].is_null()),
            "{accounts:?}"
        );
        id
    }

    /// Reads every admin answer that could show a person: the journal,
    /// accounts and their access history, teams, seats, dead letters.
    pub(super) async fn read_everything(&self, persons: &[&str], team_id: &str) {
        let org = &self.org.id;
        for event in self.journal().await {
            let id = event["id"].as_str().expect("event id");
            self.admin("gateway", "GET", &format!("/events/{id}"), None)
                .await;
        }
        for person in persons {
            self.admin(
                "gateway",
                "GET",
                &format!("/events?aggregate={person}&limit=1000"),
                None,
            )
            .await;
            for account in self.accounts(person).await {
                let id = account["id"].as_str().expect("account id");
                self.admin(
                    "identity",
                    "GET",
                    &format!("/organizations/{org}/accounts/{id}"),
                    None,
                )
                .await;
                self.admin(
                    "identity",
                    "GET",
                    &format!("/organizations/{org}/accounts/{id}/access-changes"),
                    None,
                )
                .await;
            }
        }
        self.admin(
            "team",
            "GET",
            &format!("/organizations/{org}/teams/{team_id}/members?limit=100"),
            None,
        )
        .await;
        self.admin(
            "licensing",
            "GET",
            &format!("/organizations/{org}/usage"),
            None,
        )
        .await;
        self.admin(
            "licensing",
            "GET",
            &format!("/organizations/{org}/subscription"),
            None,
        )
        .await;
        for service in CONSUMERS {
            self.dead_letters(service).await;
        }
    }
}
