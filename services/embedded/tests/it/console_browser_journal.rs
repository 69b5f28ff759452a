//! The browser walk's last steps (issue 25), run at the end of
//! `console_browser`'s walk: from the provisioned person's account to its
//! events in the journal → one event with its delivery status per service
//! → the person's events replayed to identity, counted (already applied).
//! Screenshots `08-journal`, `09-event`, `10-replayed`.

use std::time::Duration;

use fantoccini::{Client, Locator};

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

async fn click(browser: &Client, selector: &str) {
    css(browser, selector).await.click().await.unwrap();
}

/// Starts on any page of the walk's organization, with its one person
/// provisioned and applied by identity; `shot` saves a screenshot by name.
pub async fn journal_and_replay(browser: &Client, base: &str, shot: impl AsyncFn(&'static str)) {
    browser.set_window_size(1280, 800).await.unwrap();
    let here = browser.current_url().await.unwrap();
    assert!(here.as_str().starts_with(base), "{here}");

    // The person's account → "This person's events".
    click(browser, "nav.tabs a[href$='/accounts']").await;
    click(browser, "table a[href*='/accounts/']").await;
    click(browser, "a[href*='/journal?person=']").await;
    css(browser, "#replay-service").await;
    let page = text(browser).await;
    assert!(page.contains("One person's events"), "{page}");
    assert!(page.contains("user.provisioned"), "{page}");
    assert!(
        !page.contains("walk@example.com"),
        "no personal value: {page}"
    );
    shot("08-journal").await;

    // Its first event: applied by identity (the account was on its page).
    click(browser, "table td a[href*='/journal/']").await;
    css(browser, "table.deliveries").await;
    let page = text(browser).await;
    assert!(page.contains("user.provisioned"), "{page}");
    assert!(page.contains("Sealed under the person's key"), "{page}");
    let identity = page
        .lines()
        .find(|l| l.starts_with("identity"))
        .unwrap_or_default();
    assert!(identity.contains("Applied at"), "{page}");
    assert!(
        !page.contains("walk@example.com"),
        "no personal value: {page}"
    );
    shot("09-event").await;

    // Back to the person's events → replay them to identity.
    browser.back().await.unwrap();
    css(browser, "#replay-service")
        .await
        .select_by_value("identity")
        .await
        .unwrap();
    click(browser, "form[action$='/journal/replay'] button").await;
    css(browser, "ul.outcomes").await;
    let page = text(browser).await;
    assert!(page.contains("Replayed to identity"), "{page}");
    assert!(page.contains("1 event of SCIM user"), "{page}");
    assert!(page.contains("1 already applied (skipped)"), "{page}");
    shot("10-replayed").await;
}
