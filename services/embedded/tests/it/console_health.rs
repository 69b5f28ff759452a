//! The console's health page and the seats page's usage chart on a real
//! embedded process (docs/console.md), and licensing's usage endpoint they
//! read (docs/licensing.md): every part ready with the journal's lag; a
//! service that does not answer shown so by a console with the distributed
//! deployment's four addresses; a licensing service of its own (PostgreSQL
//! and RabbitMQ) with its consumer, queue depths, seat server and relay,
//! then stopped; the chart drawn from the points a burst of creates and a
//! disable left; the endpoint's periods, refusals and tenant scoping.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{ADMIN_KEY, Console};
use crate::console_pages::{organization_with_token, scim, until};
use crate::support::user;

#[actix_web::test]
async fn the_health_page_shows_every_part_ready_and_the_journal_lag() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let cookie = Some(browser.cookie.as_str());

    // The page's top navigation links it.
    let list = console.get("/console/organizations", cookie).await;
    assert!(
        list.body.contains("href=\"/console/health\""),
        "{}",
        list.body
    );

    // Once the journal is published, the page says every part is ready
    // and nothing waits. The embedded process answers for all four
    // services on one address: one report, its parts named.
    let readyz = until(&console, "/readyz", "the journal published", |r| {
        r["journal"]["unpublished"] == 0
    })
    .await;
    // Its one relay publishes: no lease to share, but held.
    assert_eq!(readyz["journal"]["relay_held"], true, "{readyz}");
    let relay = "This process's relay holds the journal's lease.";
    let page = console.get("/console/health", cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for said in [
        "Every service is ready.",
        "The embedded process (gateway, identity, team, licensing)",
        "<strong>Ready.</strong>",
        "Database: answers.",
        "Journal: every entry is published to the services.",
        relay,
    ] {
        assert!(page.body.contains(said), "{said}: {}", page.body);
    }
    assert_eq!(page.body.matches("class=\"health\"").count(), 1);
    assert!(!page.body.contains("Not answering"), "{}", page.body);

    // Signed out, the page is not shown.
    let anonymous = console.get("/console/health", None).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    console.stop().await;
}

#[actix_web::test]
async fn a_console_with_four_addresses_asks_each_and_names_the_one_not_answering() {
    let console = Console::start().await;
    // The distributed deployment's console: a service per address. Team's
    // address answers nothing (a port bound and closed again).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let (standalone, stop) = standalone_console(
        &console,
        [
            console.base.clone(),
            format!("{}/", console.base),
            nowhere,
            console.base.clone(),
        ],
    )
    .await;
    let browser = standalone.sign_in().await;
    let page = standalone
        .get("/console/health", Some(&browser.cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for said in [
        "Not every service is ready",
        // The three on the embedded process's address, asked once (a
        // trailing slash is the same address).
        "The embedded process (gateway, identity, licensing)",
        "Team</h2>",
        "<strong>Not answering: </strong>no answer (the connection failed).",
    ] {
        assert!(page.body.contains(said), "{said}: {}", page.body);
    }
    assert_eq!(page.body.matches("class=\"health\"").count(), 2);

    let _ = stop.send(());
    standalone.stop().await;
    console.stop().await;
}

/// Licensing's usage history of `org`, as an operator's script reads it.
async fn usage_points(console: &Console, org: &str) -> Vec<Value> {
    let answer = console
        .admin(
            Method::GET,
            &format!("/admin/v1/organizations/{org}/subscription/usage"),
            None,
        )
        .await;
    assert_eq!(answer["resolution"], "hour", "{answer}");
    answer["points"].as_array().cloned().unwrap_or_default()
}

#[actix_web::test]
async fn the_seats_page_draws_the_usage_that_creates_and_a_disable_left() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let cookie = Some(browser.cookie.as_str());
    let (org_page, token) = organization_with_token(&console, &browser).await;
    let org = org_page.rsplit('/').next().unwrap().to_owned();

    // Before any user: the quota set at creation is the only point, and the
    // page draws it.
    let points = usage_points(&console, &org).await;
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(
        (&points[0]["last"], &points[0]["peak"], &points[0]["quota"]),
        (&json!(0), &json!(0), &json!(5))
    );

    // A burst of three creates, then one disabled.
    let mut ids = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let email = format!("{name}@example.com");
        let created = scim(
            &console,
            &token,
            "/Users",
            user(&email, name, "Lee", &email),
        )
        .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    until(
        &console,
        &format!("/admin/v1/organizations/{org}/subscription"),
        "three seats confirmed",
        |u| u["seats"]["confirmed"] == 3,
    )
    .await;
    let disabled = console
        .http
        .patch(format!("{}/scim/v2/Users/{}", console.base, ids[0]))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": false}}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    until(
        &console,
        &format!("/admin/v1/organizations/{org}/subscription"),
        "the disabled user's seat released",
        |u| u["seats"]["used"] == 2,
    )
    .await;

    // One point an hour: the creates' peak, the release's last value (two
    // points when the hour turned meanwhile; the last one ends at 2).
    let points = usage_points(&console, &org).await;
    assert!((1..=2).contains(&points.len()), "{points:?}");
    let peak = points.iter().map(|p| p["peak"].as_u64().unwrap()).max();
    assert_eq!(peak, Some(3), "{points:?}");
    assert_eq!(points.last().unwrap()["last"], 2, "{points:?}");
    assert!(points.iter().all(|p| p["quota"] == 5), "{points:?}");

    // The page: the chart, described in words, with axes, the quota line and
    // the table for screen readers.
    let page = console.get(&format!("{org_page}/seats"), cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for drawn in [
        "role=\"img\"",
        "aria-labelledby=\"chart-title chart-desc\"",
        "<title id=\"chart-title\">Seats used over the last 30 days, with the quota</title>",
        "at most 3 at once",
        "2 at the end, against a quota of 5.",
        "class=\"used\"",
        "class=\"quota\"",
        ">quota 5</text>",
        ">Seats</text>",
        ">Day (UTC)</text>",
        "<caption>Seats used per day (UTC)",
    ] {
        assert!(page.body.contains(drawn), "{drawn}: {}", page.body);
    }
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        page.body.contains(&format!(
            "<tr><th scope=\"row\">{today}</th><td>3</td><td>2</td><td>5</td></tr>"
        )) || points.len() == 2,
        "{}",
        page.body
    );
    assert!(!page.body.contains("nothing to draw"));
    console.stop().await;
}

#[actix_web::test]
async fn the_usage_endpoint_refuses_bad_periods_and_keeps_organizations_apart() {
    let console = Console::start().await;
    let org = |name: &'static str| {
        let console = &console;
        async move {
            let created = console
                .admin(
                    Method::POST,
                    "/admin/v1/organizations",
                    Some(json!({"name": name})),
                )
                .await;
            created["org_id"].as_str().unwrap().to_owned()
        }
    };
    let (a, b) = (org("A").await, org("B").await);
    console
        .admin(
            Method::PUT,
            &format!("/admin/v1/organizations/{a}/subscription"),
            Some(json!({"seat_quota": 9})),
        )
        .await;
    let points = usage_points(&console, &a).await;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["quota"], 9);
    assert!(
        usage_points(&console, &b).await.is_empty(),
        "b has no point of a"
    );

    // A period given, in or out of the point's hour.
    let now = chrono::Utc::now();
    let at =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let url = |query: String| {
        format!(
            "{}/admin/v1/organizations/{a}/subscription/usage?{query}",
            console.base
        )
    };
    let get = |query: String| {
        let http = console.http.clone();
        let url = url(query);
        async move {
            let answer = http.get(url).bearer_auth(ADMIN_KEY).send().await.unwrap();
            let status = answer.status();
            (status, answer.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = get(format!(
        "since={}&until={}",
        at(now - chrono::Duration::days(2)),
        at(now + chrono::Duration::hours(1))
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["points"].as_array().unwrap().len(), 1);
    let (_, body) = get(format!(
        "since={}&until={}",
        at(now - chrono::Duration::days(3)),
        at(now - chrono::Duration::days(2))
    ))
    .await;
    assert_eq!(body["points"], json!([]));

    // Refused with words: not an instant, an empty period, one too long, an
    // unknown parameter; without the admin key; not an organization id.
    for (query, says) in [
        (
            "since=yesterday".to_owned(),
            "since must be an RFC 3339 instant",
        ),
        (
            format!(
                "since={}&until={}",
                at(now),
                at(now - chrono::Duration::hours(1))
            ),
            "since must be before until",
        ),
        (
            format!("since={}", at(now - chrono::Duration::days(500))),
            "longer than 400 days",
        ),
        ("from=2026-01-01T00:00:00Z".to_owned(), "invalid query"),
    ] {
        let (status, body) = get(query.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains(says),
            "{query}: {body}"
        );
    }
    let anonymous = console.http.get(url(String::new())).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let not_an_org = console
        .http
        .get(format!(
            "{}/admin/v1/organizations/not-an-id/subscription/usage",
            console.base
        ))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(not_an_org.status(), StatusCode::NOT_FOUND);
    console.stop().await;
}

/// A standalone console (the distributed deployment's `console` service)
/// with the gateway's, identity's, team's and licensing's addresses: the
/// helpers pointed at it, and what stops it.
async fn standalone_console(
    console: &Console,
    [gateway, identity, team, licensing]: [String; 4],
) -> (Console, tokio::sync::oneshot::Sender<()>) {
    let mut settings = console::config::Settings::from_sources(false).unwrap();
    settings.http.host = "127.0.0.1".to_owned();
    settings.http.port = 0;
    settings.admin_key = Some(scim_gateway::config::Secret::new(ADMIN_KEY));
    settings.console.gateway_url = gateway;
    settings.console.identity_url = identity;
    settings.console.team_url = team;
    settings.console.licensing_url = licensing;
    let serving = console::startup::serve(&settings).unwrap();
    let base = format!("http://127.0.0.1:{}", serving.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serving.run_until(async move {
        let _ = stopped.await;
    }));
    (console.other(base), stop)
}

#[actix_web::test]
async fn a_licensing_service_of_its_own_shows_its_parts_and_queue_depths() {
    let Some(amqp_url) = test_support::amqp_url() else {
        return;
    };
    let Some(database) = test_support::postgres_database().await else {
        return;
    };
    let broker = test_support::broker::TestBroker::new(&amqp_url);
    let gateway_queue = broker.topology("scim-gateway", &["subscription.*"]);
    broker.declare(&[&gateway_queue]).await;
    let seat_queue = format!("licensing.seats.test.{}", broker.suffix);
    let events_queue = format!("licensing-{}", broker.suffix);

    // Licensing as its own process runs it: its /readyz reports its
    // database, events consumer (with the queue's depths), seat server and
    // outbox relay.
    let port = test_support::process::free_port();
    let mut settings = licensing::config::Settings::from_sources(false).unwrap();
    settings.common.database.url = scim_gateway::config::Secret::new(database);
    settings.common.database.max_connections = 4;
    settings.common.amqp.url = scim_gateway::config::Secret::new(amqp_url.clone());
    settings.common.amqp.exchange = broker.exchanges.events.clone();
    settings.common.amqp.queue = events_queue.clone();
    settings.common.http.host = "127.0.0.1".to_owned();
    settings.common.http.port = port;
    settings.seats.queue = seat_queue.clone();
    settings.admin_key = Some(scim_gateway::config::Secret::new(ADMIN_KEY));
    // No gateway answers this test's journal queue.
    settings.common.catch_up.enabled = false;
    let (stop_licensing, licensing_stopped) = tokio::sync::oneshot::channel::<()>();
    let licensing = tokio::spawn(licensing::startup::run_until(settings, async move {
        let _ = licensing_stopped.await;
    }));

    let console = Console::start().await;
    let base = console.base.clone();
    let (standalone, stop_console) = standalone_console(
        &console,
        [
            base.clone(),
            base.clone(),
            base,
            format!("http://127.0.0.1:{port}"),
        ],
    )
    .await;
    let browser = standalone.sign_in().await;
    let cookie = Some(browser.cookie.as_str());

    // Until licensing is ready and its consumer has sampled its queue.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let page = loop {
        let page = standalone.get("/console/health", cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        if page.body.contains("Every service is ready.") && page.body.contains("Queue depths") {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "{}", page.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for said in [
        "The embedded process (gateway, identity, team)".to_owned(),
        "Licensing</h2>".to_owned(),
        format!("Events consumer (queue {events_queue}): consuming."),
        format!("Request server (queue {seat_queue}): answering."),
        "Outbox relay: running, publishing.".to_owned(),
        format!(
            "<tr><th scope=\"row\">{events_queue}</th><td>0</td><td>0</td><td>0</td><td>1</td></tr>"
        ),
    ] {
        assert!(page.body.contains(&said), "{said}: {}", page.body);
    }
    assert_eq!(page.body.matches("Database: answers.").count(), 2);

    // Licensing stopped: "not answering", the page still served.
    let _ = stop_licensing.send(());
    let _ = licensing.await;
    let page = standalone.get("/console/health", cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains("<strong>Not answering: </strong>no answer (the connection failed)."),
        "{}",
        page.body
    );
    assert!(page.body.contains("Not every service is ready"));

    let _ = stop_console.send(());
    standalone.stop().await;
    console.stop().await;
}
