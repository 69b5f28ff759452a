//! The connection's admin input: a default role must be a role of the access
//! catalogue (400 naming the valid roles); an organization's synchronized
//! workspace is fixed at creation, so another organization's workspace, or
//! any other one, is refused (409). Refused changes change nothing, and new
//! accounts keep landing in the organization's own workspace.

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::test::{call_service, init_service};
use provisioning_events::EventBody;
use scim_gateway::startup::{admin_state, configure_admin};
use serde_json::{Value, json};
use service_kit::admin_key::AdminKey;
use test_support::http::{Response, admin_request};
use uuid::Uuid;

use crate::backend_tests;
use crate::inputs::journal;
use crate::support::TestApp;

const ADMIN_KEY: &str = "connection-test-admin-key";

async fn admin(
    app: &TestApp,
    roles: &[&str],
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Response {
    let roles = roles.iter().map(|r| (*r).to_owned()).collect();
    let state = admin_state(&app.store, AdminKey::new(ADMIN_KEY), roles);
    let service = init_service(App::new().app_data(state).configure(configure_admin)).await;
    let request = admin_request(method, uri, Some(ADMIN_KEY), body.as_ref()).to_request();
    Response::read(call_service(&service, request).await).await
}

const CATALOGUE: &[&str] = &["owner", "admin", "member", "viewer"];

/// The default role and workspace of the last `user.provisioned` event.
async fn last_provisioned(app: &TestApp) -> (String, Uuid) {
    journal(app)
        .await
        .into_iter()
        .rev()
        .find_map(|e| match e.body {
            EventBody::UserProvisioned { default_role, .. } => Some((default_role, e.workspace_id)),
            _ => None,
        })
        .expect("a user.provisioned event")
}

backend_tests! {
    async fn a_default_role_outside_the_catalogue_is_refused(app: TestApp) {
        let org_uri = format!("/admin/v1/organizations/{}", app.org.0);
        let before = admin(&app, CATALOGUE, "GET", &org_uri, None).await;
        assert_eq!(before.status, StatusCode::OK, "{}", before.body);
        assert_eq!(before.body["default_role"], "member");

        let refused = admin(&app, CATALOGUE, "PUT", &format!("{org_uri}/connection"), Some(json!({"default_role": "superuser"}))).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        let detail = refused.body["detail"].as_str().expect("detail");
        assert!(detail.contains("owner, admin, member, viewer"), "{detail}");
        assert!(!detail.contains("superuser"), "{detail}");
        assert_eq!(admin(&app, CATALOGUE, "GET", &org_uri, None).await.body, before.body, "unchanged");
        app.create_user("first@example.com").await;
        assert_eq!(last_provisioned(&app).await.0, "member");

        let created = admin(&app, CATALOGUE, "POST", "/admin/v1/organizations", Some(json!({"name": "Other", "default_role": "superuser"}))).await;
        assert_eq!(created.status, StatusCode::BAD_REQUEST, "{}", created.body);

        // A role of the catalogue is taken, and new accounts get it.
        let changed = admin(&app, CATALOGUE, "PUT", &format!("{org_uri}/connection"), Some(json!({"default_role": "viewer"}))).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        app.create_user("second@example.com").await;
        assert_eq!(last_provisioned(&app).await.0, "viewer");

        // Another catalogue: its roles are the valid ones, and an
        // organization created without a role gets its first one when it has
        // no "member".
        let custom = admin(&app, &["editor", "reader"], "POST", "/admin/v1/organizations", Some(json!({"name": "Custom"}))).await;
        assert_eq!(custom.status, StatusCode::CREATED, "{}", custom.body);
        assert_eq!(custom.body["default_role"], "editor");
        let refused = admin(&app, &["editor", "reader"], "POST", "/admin/v1/organizations", Some(json!({"name": "Custom", "default_role": "viewer"}))).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.body["detail"].as_str().unwrap().contains("editor, reader"));
        // A role chosen before the catalogue changed: the connection test says so.
        let tested = admin(&app, &["editor", "reader"], "POST", &format!("{org_uri}/connection/test"), None).await;
        assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
        assert_eq!(tested.body["ok"], false);
        let role_check = tested.body["checks"].as_array().unwrap().iter().find(|c| c["check"] == "default_role").cloned().unwrap();
        assert_eq!(role_check["ok"], false, "{role_check}");
        let tested = admin(&app, CATALOGUE, "POST", &format!("{org_uri}/connection/test"), None).await;
        let role_check = tested.body["checks"].as_array().unwrap().iter().find(|c| c["check"] == "default_role").cloned().unwrap();
        assert_eq!(role_check["ok"], true, "{role_check}");
    }

    async fn an_organizations_workspace_is_its_own_and_fixed(app: TestApp) {
        let org_uri = format!("/admin/v1/organizations/{}", app.org.0);
        let before = admin(&app, CATALOGUE, "GET", &org_uri, None).await;
        let own: Uuid = before.body["workspace_id"].as_str().unwrap().parse().unwrap();
        let other = admin(&app, CATALOGUE, "POST", "/admin/v1/organizations", Some(json!({"name": "Neighbour"}))).await;
        assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
        let theirs: Uuid = other.body["workspace_id"].as_str().unwrap().parse().unwrap();
        assert_ne!(own, theirs);
        app.create_user("before@example.com").await;

        for workspace_id in [theirs, Uuid::now_v7()] {
            let refused = admin(&app, CATALOGUE, "PUT", &format!("{org_uri}/connection"),
                Some(json!({"workspace_id": workspace_id, "default_role": "admin"}))).await;
            assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
            let detail = refused.body["detail"].as_str().expect("detail");
            assert!(detail.contains("fixed") && detail.contains(&own.to_string()), "{detail}");
            assert_eq!(admin(&app, CATALOGUE, "GET", &org_uri, None).await.body, before.body, "nothing changed, the role neither");
        }
        app.create_user("after@example.com").await;
        assert_eq!(last_provisioned(&app).await, ("member".to_owned(), own));

        // Restating its own workspace is no change; renaming it is allowed.
        let same = admin(&app, CATALOGUE, "PUT", &format!("{org_uri}/connection"),
            Some(json!({"workspace_id": own, "workspace": "Privacy"}))).await;
        assert_eq!(same.status, StatusCode::OK, "{}", same.body);
        assert_eq!(same.body["workspace_id"], own.to_string());
        assert_eq!(same.body["workspace"], "Privacy");
    }

    async fn organizations_are_listed_page_by_page_in_creation_order(app: TestApp) {
        let mut created = vec![app.org.0.to_string()];
        for name in ["Second", "Third", "Fourth"] {
            let made = admin(&app, CATALOGUE, "POST", "/admin/v1/organizations", Some(json!({"name": name}))).await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
            created.push(made.body["org_id"].as_str().unwrap().to_owned());
        }
        let mut listed = Vec::new();
        let mut uri = "/admin/v1/organizations?limit=3".to_owned();
        let mut pages = 0;
        loop {
            let page = admin(&app, CATALOGUE, "GET", &uri, None).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let items = page.body["items"].as_array().unwrap();
            assert!(items.len() <= 3);
            listed.extend(items.iter().map(|o| o["org_id"].as_str().unwrap().to_owned()));
            pages += 1;
            match page.body["next_after"].as_str() {
                Some(after) => uri = format!("/admin/v1/organizations?limit=3&after={after}"),
                None => break,
            }
        }
        assert_eq!(listed, created);
        assert_eq!(pages, 2);
        let named = admin(&app, CATALOGUE, "GET", "/admin/v1/organizations?limit=1", None).await;
        assert_eq!(named.body["items"][0]["default_role"], "member");

        let refused = admin(&app, CATALOGUE, "GET", "/admin/v1/organizations?after=nope", None).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        let state = admin_state(&app.store, AdminKey::new(ADMIN_KEY), Vec::new());
        let service = init_service(App::new().app_data(state).configure(configure_admin)).await;
        let anonymous = admin_request("GET", "/admin/v1/organizations", None, None).to_request();
        assert_eq!(call_service(&service, anonymous).await.status(), StatusCode::UNAUTHORIZED);
    }
}
