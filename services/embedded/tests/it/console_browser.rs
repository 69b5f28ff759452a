//! The console in a real browser on the embedded process: the walk of
//! `tests/console-walk` (sign in → organization → token → a user and a
//! group over SCIM → "Test connection" → the account's role → seats →
//! teams → revoke → the test names the problem → every page at phone
//! width), each page checked by axe-core. Screenshots go to the test's
//! target dir (`console-screenshots/`). Skipped with a message when
//! chromedriver is missing, unless `SCIM_TEST_REQUIRE_INFRA=1`.

use std::path::PathBuf;

use console_walk::{Browser, WalkTarget};

use crate::console::{ADMIN_KEY, Console};

#[actix_web::test]
async fn an_admin_walks_the_scim_connection_in_a_browser() {
    let screenshots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let Some(browser) = Browser::start(&screenshots).await else {
        return;
    };
    let console = Console::start().await;
    let target = WalkTarget {
        console_url: console.base.clone(),
        scim_url: format!("{}/scim/v2", console.base),
        admin_key: ADMIN_KEY.to_owned(),
    };
    console_walk::walk(&browser, &target).await;
    browser.close().await;
    console.stop().await;
}
