//! The console in a real browser (Debian's chromium, headless, driven
//! through chromium-driver over WebDriver): sign in → create an
//! organization → generate a token (copied with the copy button's script)
//! → provision a user over SCIM with it → "Test connection" all green →
//! the account appears → change its role → its seats → revoke → "Test
//! connection" names the problem. A screenshot of each page is saved under the test's target dir (`console-screenshots/`). Skipped
//! with a message when chromedriver is missing, unless
//! `SCIM_TEST_REQUIRE_INFRA=1` (`scripts/infra.sh` installs it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::json;

use crate::console::{ADMIN_KEY, Console};

/// chromedriver on a port of its own, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// chromedriver started, or `None` (the test is skipped) when it is not
/// installed and infrastructure is not required.
async fn driver() -> Option<Driver> {
    let port = free_port();
    let spawned = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(e) => {
            assert!(
                !test_support::require_infra(),
                "SCIM_TEST_REQUIRE_INFRA=1 but chromedriver cannot start ({e}): run scripts/infra.sh"
            );
            eprintln!("skipped: no chromedriver ({e}); apt-get install chromium chromium-driver");
            return None;
        }
    };
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port}");
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,800"],
        }),
    );
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots folder");
    dir
}

async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("saved");
}

async fn css(browser: &Client, selector: &str) -> fantoccini::elements::Element {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("{selector}: {e}"))
}

async fn text(browser: &Client) -> String {
    css(browser, "main")
        .await
        .text()
        .await
        .expect("the page's text")
}

#[actix_web::test]
async fn an_admin_walks_the_scim_connection_in_a_browser() {
    let Some(driver) = driver().await else {
        return;
    };
    let console = Console::start().await;
    let browser = browser(&driver).await;
    let base = &console.base;

    browser
        .goto(&format!("{base}/console/organizations"))
        .await
        .unwrap();
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/sign-in")
    );
    css(&browser, "#admin-key")
        .await
        .send_keys(ADMIN_KEY)
        .await
        .unwrap();
    screenshot(&browser, "01-sign-in").await;
    css(&browser, "form[action='/console/sign-in'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, "#org-name").await;
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/console/organizations")
    );
    screenshot(&browser, "02-organizations").await;

    css(&browser, "#org-name")
        .await
        .send_keys("Acme Corp")
        .await
        .unwrap();
    let seats = css(&browser, "#org-seats").await;
    seats.clear().await.unwrap();
    seats.send_keys("10").await.unwrap();
    css(&browser, "#org-role")
        .await
        .select_by_value("viewer")
        .await
        .unwrap();
    css(&browser, "form[action='/console/organizations'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, "#tenant-url").await;
    let page = text(&browser).await;
    assert!(page.contains("Acme Corp — SCIM connection"), "{page}");
    assert!(page.contains("0 used of 10"), "{page}");
    let tenant_url = css(&browser, "#tenant-url")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        tenant_url.as_deref(),
        Some(format!("{base}/scim/v2").as_str())
    );
    // The copy button's script runs under the Content-Security-Policy.
    let copy = css(&browser, "button[data-copy='tenant-url']").await;
    copy.click().await.unwrap();
    let label = copy.text().await.unwrap();
    assert_ne!(label, "Copy tenant URL", "the script answered the click");
    screenshot(&browser, "03-connection").await;

    css(&browser, "form[action$='/tokens'] button")
        .await
        .click()
        .await
        .unwrap();
    let token = css(&browser, "#new-token")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the token's value");
    assert!(token.starts_with("scim_"));
    screenshot(&browser, "04-token-shown-once").await;

    let created = console
        .http
        .post(format!("{base}/scim/v2/Users"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "walk@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);

    css(&browser, "form[action$='/test'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, ".checks").await;
    let page = text(&browser).await;
    assert!(page.contains("All checks passed."), "{page}");
    assert!(!page.contains(&token), "the value is gone from the page");
    screenshot(&browser, "05-test-passed").await;

    // The account appears on the accounts page (once identity applied the
    // provisioning: the page is reloaded until then) → change its role.
    css(&browser, "nav.tabs a[href$='/accounts']")
        .await
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !text(&browser).await.contains("walk@example.com") {
        assert!(Instant::now() < deadline, "the account never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
        browser.refresh().await.unwrap();
    }
    screenshot(&browser, "05a-accounts").await;
    css(&browser, "table a[href*='/accounts/']")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, "#role")
        .await
        .select_by_value("admin")
        .await
        .unwrap();
    css(&browser, "form[action$='/access'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, ".notice").await;
    let page = text(&browser).await;
    assert!(page.contains("Access saved."), "{page}");
    assert!(
        page.contains("viewer\tadmin\tconsole") || page.contains("viewer admin console"),
        "{page}"
    );
    screenshot(&browser, "05b-account-role-changed").await;
    css(&browser, "nav.tabs a[href$='/seats']")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, "meter").await;
    screenshot(&browser, "05c-seats").await;
    css(&browser, "nav.tabs a[aria-current='page']").await;
    let connection = css(&browser, "nav.tabs a:first-child").await;
    connection.click().await.unwrap();
    css(&browser, "#tenant-url").await;

    css(&browser, "form[action$='/revoke'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, ".notice").await;
    assert!(text(&browser).await.contains("Token revoked"));
    css(&browser, "form[action$='/test'] button")
        .await
        .click()
        .await
        .unwrap();
    css(&browser, ".checks").await;
    let page = text(&browser).await;
    assert!(page.contains("Some checks failed"), "{page}");
    assert!(page.contains("Failed: tokens"), "{page}");
    assert!(page.contains("no usable token"), "{page}");
    screenshot(&browser, "06-test-names-the-problem").await;

    // Narrow, as on a phone: the same page, nothing cut off sideways.
    browser.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(true),
        "no sideways scrolling at phone width"
    );
    screenshot(&browser, "07-phone-width").await;

    crate::console_browser_journal::journal_and_replay(&browser, base, async |name| {
        screenshot(&browser, name).await
    })
    .await;
    browser.close().await.unwrap();
    console.stop().await;
}
