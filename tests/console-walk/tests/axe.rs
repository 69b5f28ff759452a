//! The accessibility check itself: axe-core injected into a page whose
//! Content-Security-Policy allows no script of ours finds a critical
//! violation where there is one, and nothing serious on a clean page.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use console_walk::{Browser, axe};

/// A page as `data:` URL, under the console's own script policy.
fn page(body: &str) -> String {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; script-src 'self'\">\
         <title>axe check</title></head><body><main><h1>Check</h1>{body}</main></body></html>"
    );
    let encoded: String = html
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("data:text/html;charset=utf-8,{encoded}")
}

#[tokio::test]
async fn axe_core_finds_a_violation_under_the_page_s_policy_and_none_on_a_clean_page() {
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("axe-check");
    let Some(browser) = Browser::start(&screenshots).await else {
        return;
    };
    let Some(source) = axe::source() else {
        browser.close().await;
        return;
    };

    browser
        .goto(&page(
            "<form><input type=\"text\" name=\"q\"></form><img src=\"x.png\">\
             <script>document.body.dataset.inline = \"ran\";</script>",
        ))
        .await;
    let inline = browser
        .client()
        .execute("return document.body.dataset.inline || null;", vec![])
        .await
        .unwrap();
    assert!(
        inline.is_null(),
        "the policy is in force: no inline script ran"
    );
    let found = axe::run(browser.client(), &source).await;
    let serious: Vec<(&str, &str)> = found
        .iter()
        .filter(|v| v.is_serious())
        .map(|v| (v.id.as_str(), v.impact.as_str()))
        .collect();
    assert!(serious.contains(&("image-alt", "critical")), "{found:?}");
    assert!(serious.contains(&("label", "critical")), "{found:?}");
    let image = found.iter().find(|v| v.id == "image-alt").unwrap();
    assert_eq!(image.targets, vec!["img".to_owned()]);

    browser
        .goto(&page(
            "<form><label for=\"q\">Search</label><input id=\"q\" type=\"text\" name=\"q\"></form>\
             <img src=\"x.png\" alt=\"A chart\">",
        ))
        .await;
    let found = axe::run(browser.client(), &source).await;
    assert!(found.iter().all(|v| !v.is_serious()), "{found:?}");
    browser.close().await;
}
