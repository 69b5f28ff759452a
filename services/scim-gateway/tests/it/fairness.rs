//! Fairness between organizations (issue 22): over its in-flight limit or
//! its request rate an organization gets 429 with a SCIM error and an
//! integer `Retry-After`, while another organization is served; an
//! organization's own limits set through the admin API apply to its next
//! request and show, with the 429 counts, in `GET /admin/v1/limits`.
//! No timing: a request "in flight" is a permit the test holds, and rates are
//! slow enough that no token comes back during a test.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::App;
use actix_web::http::StatusCode;
use actix_web::test::{call_service, init_service};
use scim_gateway::domain::limits::Permit;
use scim_gateway::domain::models::OrgId;
use scim_gateway::domain::ports::LimitStore;
use scim_gateway::startup::{admin_state, configure_admin, configure_app};
use serde_json::{Value, json};
use service_kit::admin_key::AdminKey;
use test_support::http::{Response, admin_request, scim_request};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, suite_settings};

const ADMIN_KEY: &str = "fairness-test-admin-key";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// A gateway with the given default limits, or None when `backend` is not
/// available here.
async fn spawn(backend: Backend, max_in_flight: u32, rate: f64, burst: u32) -> Option<TestApp> {
    let url = backend.fresh_database("gateway.db").await?;
    let mut settings = suite_settings(url);
    settings.limits.max_in_flight = max_in_flight;
    settings.limits.rate_per_second = rate;
    settings.limits.burst = burst;
    Some(TestApp::spawn(&settings, "Organization A").await)
}

/// A request of `org` held in flight until the permit is dropped.
fn in_flight(app: &TestApp, org: OrgId) -> Permit {
    let limiter = app.api.fairness.limiter();
    limiter
        .admit(org, &limiter.defaults(), Instant::now())
        .expect("admitted")
}

async fn admin(app: &TestApp, method: &str, uri: &str, body: Option<Value>) -> Response {
    let state = admin_state(&app.store, AdminKey::new(ADMIN_KEY), Vec::new());
    let service = init_service(
        App::new()
            .app_data(app.api.clone())
            .app_data(state)
            .configure(configure_admin)
            .configure(configure_app),
    )
    .await;
    let request = admin_request(method, uri, Some(ADMIN_KEY), body.as_ref()).to_request();
    Response::read(call_service(&service, request).await).await
}

async fn get_users(app: &TestApp, token: &str) -> Response {
    app.send(scim_request("GET", "/Users", token, None)).await
}

/// A 429 as the contract says: SCIM error body, integer `Retry-After` ≥ 1.
fn assert_throttled(response: &Response) -> u64 {
    assert_eq!(
        response.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        response.body
    );
    assert_eq!(
        response.header("content-type").as_deref(),
        Some("application/scim+json")
    );
    assert_eq!(response.body["schemas"], json!([ERROR]));
    assert_eq!(response.body["status"], json!("429"));
    assert!(
        response.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let retry_after = response.header("retry-after").expect("Retry-After");
    let seconds: u64 = retry_after.parse().expect("an integer number of seconds");
    assert!(seconds >= 1, "{seconds}");
    seconds
}

async fn over_the_in_flight_limit_a_request_gets_429_and_another_organization_does_not(
    backend: Backend,
) {
    let Some(app) = spawn(backend, 2, 0.0, 1).await else {
        return;
    };
    let other = app.new_organization("Organization B").await;
    let held = (in_flight(&app, app.org), in_flight(&app, app.org));

    let refused = get_users(&app, &app.token).await;
    assert_eq!(assert_throttled(&refused), 1);
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("in progress")),
        "{}",
        refused.body
    );
    let created = app
        .post(
            "/scim/v2/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "refused@example.com"}),
        )
        .await;
    assert_throttled(&created);

    let served = get_users(&app, &other).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);

    drop(held);
    let served = get_users(&app, &app.token).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    assert_eq!(
        served.body["totalResults"],
        json!(0),
        "the refused create wrote nothing"
    );
    let usage = app.api.fairness.limiter().usage_of(app.org);
    assert_eq!(
        (usage.refused_in_flight, usage.in_flight),
        (2, 0),
        "{usage:?}"
    );
}

async fn over_the_rate_a_request_gets_429_with_the_wait_and_another_organization_does_not(
    backend: Backend,
) {
    // One request every 100 s after a burst of 2: nothing comes back in a test.
    let Some(app) = spawn(backend, 0, 0.01, 2).await else {
        return;
    };
    let other = app.new_organization("Organization B").await;
    for _ in 0..2 {
        let served = get_users(&app, &app.token).await;
        assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    }
    let refused = get_users(&app, &app.token).await;
    let wait = assert_throttled(&refused);
    assert!((90..=100).contains(&wait), "{wait}");

    for _ in 0..2 {
        let served = get_users(&app, &other).await;
        assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    }
    assert_throttled(&get_users(&app, &other).await);
    assert_eq!(app.api.fairness.limiter().usage_of(app.org).refused_rate, 1);
}

async fn an_override_through_the_admin_api_applies_to_the_next_request_and_shows_in_status(
    backend: Backend,
) {
    // No limits by default.
    let Some(app) = spawn(backend, 0, 0.0, 1).await else {
        return;
    };
    let uri = format!("/admin/v1/organizations/{}/limits", app.org);
    let _held = in_flight(&app, app.org);
    let served = get_users(&app, &app.token).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);

    let set = admin(
        &app,
        "PUT",
        &uri,
        Some(json!({"max_in_flight": 1, "burst": 5})),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        set.body["limits"],
        json!({"max_in_flight": 1, "rate_per_second": 0.0, "burst": 5})
    );
    assert_eq!(
        set.body["override"],
        json!({"max_in_flight": 1, "rate_per_second": null, "burst": 5})
    );
    assert_eq!(set.body["defaults"]["max_in_flight"], json!(0));
    let stored = app.store.limit_override(app.org).await.expect("read");
    assert_eq!(stored.and_then(|o| o.max_in_flight), Some(1));

    // The held request is the one allowed in flight.
    assert_throttled(&get_users(&app, &app.token).await);

    let status = admin(&app, "GET", "/admin/v1/limits", None).await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    assert_eq!(status.body["throttled"], json!(1));
    let orgs = status.body["organizations"]
        .as_array()
        .expect("organizations");
    let ours = orgs
        .iter()
        .find(|o| o["org_id"] == json!(app.org.0))
        .expect("the organization is listed");
    assert_eq!(ours["limits"]["max_in_flight"], json!(1));
    assert_eq!(ours["usage"]["in_flight"], json!(1));
    assert_eq!(ours["usage"]["throttled"]["in_flight"], json!(1));

    // `null` puts one field back to the default; the others stay.
    let reset_one = admin(&app, "PUT", &uri, Some(json!({"max_in_flight": null}))).await;
    assert_eq!(
        reset_one.body["override"],
        json!({"max_in_flight": null, "rate_per_second": null, "burst": 5})
    );
    let served = get_users(&app, &app.token).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);

    let reset = admin(&app, "DELETE", &uri, None).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    assert_eq!(
        reset.body["override"],
        json!({"max_in_flight": null, "rate_per_second": null, "burst": null})
    );
    assert_eq!(app.store.limit_override(app.org).await.expect("read"), None);
    let shown = admin(&app, "GET", &uri, None).await;
    assert_eq!(shown.body["usage"]["throttled"]["total"], json!(1));
}

async fn bad_limits_are_refused_and_change_nothing(backend: Backend) {
    let Some(app) = spawn(backend, 0, 0.0, 1).await else {
        return;
    };
    let uri = format!("/admin/v1/organizations/{}/limits", app.org);
    for body in [
        json!({"max_in_flight": -1}),
        json!({"max_in_flight": 1.5}),
        json!({"rate_per_second": "fast"}),
        json!({"rate_per_second": -2}),
        json!({"burst": 0}),
        json!({"burst": 1, "speed": 3}),
        json!([1, 2]),
    ] {
        let refused = admin(&app, "PUT", &uri, Some(body.clone())).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert!(
            !refused.body["detail"]
                .as_str()
                .unwrap_or("")
                .contains("speed"),
            "the detail does not echo the client's text"
        );
    }
    assert_eq!(app.store.limit_override(app.org).await.expect("read"), None);
    let unknown = format!("/admin/v1/organizations/{}/limits", uuid::Uuid::now_v7());
    let missing = admin(&app, "PUT", &unknown, Some(json!({"burst": 3}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let missing = admin(&app, "GET", &unknown, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let state = admin_state(&app.store, AdminKey::new(ADMIN_KEY), Vec::new());
    let service = init_service(
        App::new()
            .app_data(app.api.clone())
            .app_data(state)
            .configure(configure_admin),
    )
    .await;
    let request = admin_request("GET", &uri, Some("wrong-key"), None).to_request();
    let refused = Response::read(call_service(&service, request).await).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
}

/// The fields recorded on spans after they were created, in order.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<(String, String)>>>);

impl Visit for Recorded {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .lock()
            .unwrap()
            .push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorded {
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: Context<'_, S>,
    ) {
        values.record(&mut self.clone());
    }
}

impl Recorded {
    fn take(&self, name: &str) -> Vec<String> {
        let mut all = self.0.lock().unwrap();
        let values = all
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect();
        all.clear();
        values
    }
}

async fn the_request_span_names_the_organization_and_whether_it_was_throttled(backend: Backend) {
    let Some(app) = spawn(backend, 1, 0.0, 1).await else {
        return;
    };
    let recorded = Recorded::default();
    let _subscriber =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(recorded.clone()));
    let service = init_service(
        App::new()
            .app_data(app.api.clone())
            .wrap(actix_web::middleware::from_fn(
                scim_gateway::inbound::http::request_span,
            ))
            .configure(configure_app),
    )
    .await;
    let get = || scim_request("GET", "/Users", &app.token, None).to_request();

    let held = in_flight(&app, app.org);
    let refused = Response::read(call_service(&service, get()).await).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(recorded.take("throttled"), ["true"]);
    drop(held);

    let served = Response::read(call_service(&service, get()).await).await;
    assert_eq!(served.status, StatusCode::OK);
    let org = app.org.to_string();
    let fields = recorded.0.lock().unwrap().clone();
    let value = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(value("org.id"), [org.as_str()]);
    assert_eq!(value("org.in_flight"), ["1"]);
    assert_eq!(value("throttled"), ["false"]);
}

on_both_backends!(
    the_request_span_names_the_organization_and_whether_it_was_throttled,
    over_the_in_flight_limit_a_request_gets_429_and_another_organization_does_not,
    over_the_rate_a_request_gets_429_with_the_wait_and_another_organization_does_not,
    an_override_through_the_admin_api_applies_to_the_next_request_and_shows_in_status,
    bad_limits_are_refused_and_change_nothing,
);
