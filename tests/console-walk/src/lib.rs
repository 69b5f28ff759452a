//! The console's walk in a real browser, one place for both suites: the
//! embedded process's (`services/embedded/tests/it/console_browser.rs`) and
//! the distributed services' (`tests/system/tests/console_walk.rs`) run the
//! same [`walk`] against a [`WalkTarget`]. Headless chromium through
//! chromedriver (`browser.rs`); axe-core checks every page the walk reaches
//! (`axe.rs`); the steps are in `walk.rs` and `journal.rs`.
//!
//! Skipped with a message where there is no chromedriver, and the
//! accessibility check where there is no axe-core, unless
//! `SCIM_TEST_REQUIRE_INFRA=1` (`scripts/infra.sh` installs both).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod axe;
pub mod browser;
mod journal;
pub mod walk;

pub use browser::Browser;
pub use walk::Walk;

/// The system the walk runs against.
pub struct WalkTarget {
    /// Where `/console` is served: `http://127.0.0.1:PORT`.
    pub console_url: String,
    /// The SCIM base URL (`…/scim/v2`) the walk provisions through; the
    /// console must show it as the tenant URL.
    pub scim_url: String,
    /// What signing in takes.
    pub admin_key: String,
}

/// What the walk made, for the steps that follow it.
pub struct Walked {
    pub org_id: String,
    /// Revoked by the end of the walk.
    pub token: String,
    /// The provisioned user's SCIM id and userName.
    pub user_id: String,
    pub user_name: String,
}

/// The whole walk, each page screenshot and checked by axe-core, then
/// again at phone width.
pub async fn walk(browser: &Browser, target: &WalkTarget) -> Walked {
    let mut walk = Walk::new(browser, target);
    let walked = walk.connection_and_account().await;
    // Further steps go here, each a function of `&mut walk` and `&walked`
    // calling `walk.page(…)` on every page it reaches.
    walk.journal_and_replay(&walked).await;
    walk.at_phone_width().await;
    walked
}
