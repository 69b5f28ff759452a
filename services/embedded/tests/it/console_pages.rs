//! The console's accounts, teams and seats pages (docs/console.md) on a
//! real embedded process: what was provisioned over SCIM is listed and
//! found, an account's role is changed by a form that is refused without
//! the session's token and applied with it, and the history shows it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{Browser, Console, field_value, occurrences};
use crate::support::user;

/// Waits for the platform's consumers to apply what SCIM sent: `probe`
/// reads the admin API until `done` says so.
pub(crate) async fn until(
    console: &Console,
    path: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = console.admin(Method::GET, path, None).await;
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: {answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An organization made through the console, and a SCIM token for it.
pub(crate) async fn organization_with_token(
    console: &Console,
    browser: &Browser,
) -> (String, String) {
    let created = console
        .post(
            "/console/organizations",
            Some(&browser.cookie),
            &[
                ("csrf", &browser.csrf),
                ("name", "Pages Inc"),
                ("seats", "5"),
                ("default_role", "member"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let org_page = created.location().split('?').next().unwrap().to_owned();
    let issued = console
        .post(
            &format!("{org_page}/tokens"),
            Some(&browser.cookie),
            &[("csrf", &browser.csrf)],
        )
        .await;
    let token = field_value(&issued.body, "id=\"new-token\"").expect("a token");
    (org_page, token)
}

pub(crate) async fn scim(console: &Console, token: &str, path: &str, body: Value) -> Value {
    let answer = console
        .http
        .post(format!("{}/scim/v2{path}", console.base))
        .bearer_auth(token)
        .header("content-type", "application/scim+json")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    answer.json().await.unwrap()
}

#[actix_web::test]
async fn provisioned_accounts_teams_and_seats_show_and_a_role_changes_with_its_history() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let cookie = Some(browser.cookie.as_str());
    let (org_page, token) = organization_with_token(&console, &browser).await;
    let org = org_page.rsplit('/').next().unwrap().to_owned();

    // Before anything is provisioned: the empty states.
    let empty = console.get(&format!("{org_page}/accounts"), cookie).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert!(empty.body.contains("No accounts yet"), "{}", empty.body);
    let empty = console.get(&format!("{org_page}/teams"), cookie).await;
    assert!(empty.body.contains("No teams yet"), "{}", empty.body);

    // The organization's page links to its other pages.
    let connection = console.get(&org_page, cookie).await;
    for page in ["accounts", "teams", "seats"] {
        assert!(
            connection
                .body
                .contains(&format!("href=\"{org_page}/{page}\"")),
            "{page}"
        );
    }

    let ann = scim(
        &console,
        &token,
        "/Users",
        user("ann.lee@example.com", "Ann", "Lee", "ann.lee@example.com"),
    )
    .await;
    let ann_scim = ann["id"].as_str().unwrap().to_owned();
    scim(
        &console,
        &token,
        "/Users",
        user("bo.ek@example.com", "Bo", "Ek", "bo.ek@example.com"),
    )
    .await;
    scim(
        &console,
        &token,
        "/Groups",
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "R&D <core>",
            "members": [{"value": ann_scim}]
        }),
    )
    .await;
    let accounts = until(
        &console,
        &format!("/admin/v1/organizations/{org}/accounts"),
        "both accounts in identity",
        |a| a["items"].as_array().is_some_and(|i| i.len() == 2),
    )
    .await;
    let teams = until(
        &console,
        &format!("/admin/v1/organizations/{org}/teams"),
        "the team in team",
        |t| t["items"].as_array().is_some_and(|i| i.len() == 1),
    )
    .await;
    let team_id = teams["items"][0]["id"].as_str().unwrap().to_owned();
    until(
        &console,
        &format!("/admin/v1/organizations/{org}/teams/{team_id}/members"),
        "Ann in the team",
        |m| m["items"].as_array().is_some_and(|i| i.len() == 1),
    )
    .await;
    let ann_account = accounts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["scim_user_id"] == ann_scim.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The accounts page lists both; a search finds one; filters say when
    // nothing matches; an unknown status is refused in words.
    let list = console.get(&format!("{org_page}/accounts"), cookie).await;
    assert_eq!(list.status, StatusCode::OK);
    for text in [
        "Ann Lee",
        "ann.lee@example.com",
        "Bo Ek",
        "bo.ek@example.com",
    ] {
        assert!(list.body.contains(text), "{text}: {}", list.body);
    }
    let found = console
        .get(&format!("{org_page}/accounts?q=ANN&status=active"), cookie)
        .await;
    assert!(found.body.contains("Ann Lee"), "{}", found.body);
    assert!(!found.body.contains("Bo Ek"));
    assert!(found.body.contains("value=\"ANN\""), "the search is kept");
    let by_mail = console
        .get(&format!("{org_page}/accounts?q=bo.ek%40example"), cookie)
        .await;
    assert!(by_mail.body.contains("Bo Ek") && !by_mail.body.contains("Ann Lee"));
    let none = console
        .get(&format!("{org_page}/accounts?status=deleted"), cookie)
        .await;
    assert!(none.body.contains("No account matches."), "{}", none.body);
    let refused = console
        .get(&format!("{org_page}/accounts?status=sleeping"), cookie)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("Choose the status among"));
    let hers = console
        .get(&format!("{org_page}/accounts?person={ann_scim}"), cookie)
        .await;
    assert!(
        hers.body.contains("One person&#39;s accounts")
            || hers.body.contains("One person's accounts")
    );
    assert!(hers.body.contains("Ann Lee") && !hers.body.contains("Bo Ek"));

    // One account: the form changes its role and permissions, only with
    // the session's token, and the history shows the change.
    let account_page = format!("{org_page}/accounts/{ann_account}");
    let page = console.get(&account_page, cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<option value=\"member\" selected"));
    assert!(page.body.contains("No change since it was provisioned."));
    assert!(page.body.contains(&format!("accounts?person={ann_scim}")));
    let account_api = format!("/admin/v1/organizations/{org}/accounts/{ann_account}");
    for csrf in [None, Some("not-the-token")] {
        let mut form = vec![("role", "admin"), ("permissions", "risks.manage")];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        let answer = console
            .post(&format!("{account_page}/access"), cookie, &form)
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert_eq!(
            console.admin(Method::GET, &account_api, None).await["role"],
            "member",
            "unchanged: {csrf:?}"
        );
    }
    let unknown = console
        .post(
            &format!("{account_page}/access"),
            cookie,
            &[("csrf", &browser.csrf), ("role", "emperor")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.body.contains("Choose the role among"),
        "{}",
        unknown.body
    );
    let changed = console
        .post(
            &format!("{account_page}/access"),
            cookie,
            &[
                ("csrf", &browser.csrf),
                ("role", "admin"),
                ("permissions", "risks.manage"),
                ("permissions", "reports.view"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(
        console.admin(Method::GET, &account_api, None).await["role"],
        "admin"
    );
    let page = console.get(changed.location(), cookie).await;
    assert!(page.body.contains("Access saved."));
    assert!(page.body.contains("<option value=\"admin\" selected"));
    assert!(
        page.body.contains("value=\"risks.manage\" checked"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<td>member</td><td>admin + reports.view, risks.manage</td><td>console</td>"),
        "{}",
        page.body
    );

    // Teams and their members, the name escaped.
    let teams_page = console.get(&format!("{org_page}/teams"), cookie).await;
    assert!(
        teams_page.body.contains("R&amp;D &lt;core&gt;"),
        "{}",
        teams_page.body
    );
    assert!(!teams_page.body.contains("R&D <core>"));
    let team_page = console
        .get(&format!("{org_page}/teams/{team_id}"), cookie)
        .await;
    assert_eq!(team_page.status, StatusCode::OK);
    assert!(team_page.body.contains(&ann_scim), "{}", team_page.body);
    assert_eq!(occurrences(&team_page.body, "<tr><td><code>"), 1);

    // Seats against the quota, as licensing counts them.
    let usage = until(
        &console,
        &format!("/admin/v1/organizations/{org}/subscription"),
        "both seats counted",
        |u| u["seats"]["used"] == 2,
    )
    .await;
    assert_eq!(usage["seats"]["quota"], 5);
    let seats = console.get(&format!("{org_page}/seats"), cookie).await;
    assert_eq!(seats.status, StatusCode::OK);
    assert!(seats.body.contains("2 used of 5."), "{}", seats.body);
    assert!(seats.body.contains("<meter"));
    console.stop().await;
}

#[actix_web::test]
async fn teams_and_members_are_listed_a_page_at_a_time() {
    let console = Console::start().await;
    let browser = console.sign_in().await;
    let cookie = Some(browser.cookie.as_str());
    let (org_page, token) = organization_with_token(&console, &browser).await;
    let org = org_page.rsplit('/').next().unwrap().to_owned();
    for n in 0..52 {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": format!("Team {n:02}"),
        });
        scim(&console, &token, "/Groups", body).await;
    }
    until(
        &console,
        &format!("/admin/v1/organizations/{org}/teams?limit=500"),
        "every team in team",
        |t| t["items"].as_array().is_some_and(|i| i.len() == 52),
    )
    .await;
    let first = console.get(&format!("{org_page}/teams"), cookie).await;
    assert_eq!(occurrences(&first.body, "<tr><td><a href="), 50);
    let next_at = first.body.find("/teams?after=").expect("a next page");
    let next: String = first.body[next_at..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let second = console.get(&format!("{org_page}{next}"), cookie).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(occurrences(&second.body, "<tr><td><a href="), 2);
    assert!(!second.body.contains("rel=\"next\""));
    assert!(second.body.contains("First page"));
    console.stop().await;
}
