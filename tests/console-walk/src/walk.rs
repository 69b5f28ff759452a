//! The walk's steps, as an admin takes them: sign in (a wrong key
//! refused first) → an address naming no organization → create an
//! organization → generate a token (copied with the copy button's script)
//! → provision a user over SCIM with it → "Test connection" all green → the
//! account appears → change its role → its seats → its team and member → revoke →
//! "Test connection" names the problem → (`journal.rs`) the person's events
//! → one event's delivery → replayed to identity → the dead letters; then
//! every page again at phone width. Each page reached is screenshot and
//! checked by axe-core.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::browser::{Browser, DESK, PHONE};
use crate::{WalkTarget, Walked};

/// The user the walk provisions over SCIM.
pub const USER_NAME: &str = "walk@example.com";
/// The group it provisions, with that user as its member.
pub const TEAM: &str = "Walkers";

/// A walk in progress: the browser, the system it walks, and the pages it
/// reached by a plain link (what the phone-width pass visits again).
pub struct Walk<'a> {
    pub browser: &'a Browser,
    pub target: &'a WalkTarget,
    pages: Vec<(String, String)>,
}

impl<'a> Walk<'a> {
    pub fn new(browser: &'a Browser, target: &'a WalkTarget) -> Self {
        Walk {
            browser,
            target,
            pages: Vec::new(),
        }
    }

    /// The page shown now, checked (screenshot, axe-core) under `name`; a
    /// page a link reaches (not a form's answer) is also visited again at
    /// phone width.
    pub async fn page(&mut self, name: &str, linkable: bool) {
        self.browser.checked(name).await;
        if linkable {
            let url = self.browser.url().await;
            self.pages.push((name.to_owned(), url));
        }
    }

    /// Sign in → create an organization → its SCIM connection page; the
    /// organization's id.
    pub async fn sign_in_and_create_an_organization(&mut self) -> String {
        let (b, target) = (self.browser, self.target);
        b.goto(&format!("{}/console/organizations", target.console_url))
            .await;
        assert!(b.path().await.ends_with("/console/sign-in"));
        b.css("#admin-key").await;
        self.page("01-sign-in", true).await;
        // A wrong key first: the refusal, in words, is a page too.
        b.type_into("#admin-key", "not-the-admin-key").await;
        b.click("form[action='/console/sign-in'] button").await;
        b.css("[role='alert']").await;
        let page = b.text().await;
        assert!(page.contains("That is not the admin key."), "{page}");
        self.page("01a-sign-in-refused", false).await;
        b.type_into("#admin-key", &target.admin_key).await;
        b.click("form[action='/console/sign-in'] button").await;
        b.css("#org-name").await;
        assert!(b.path().await.ends_with("/console/organizations"));
        self.page("02-organizations", true).await;
        // An address that names no organization: the error page.
        b.goto(&format!(
            "{}/console/organizations/00000000-0000-7000-8000-000000000000",
            target.console_url
        ))
        .await;
        b.css("[role='alert']").await;
        let page = b.text().await;
        assert!(page.contains("Not found"), "{page}");
        self.page("02a-not-found", true).await;
        b.goto(&format!("{}/console/organizations", target.console_url))
            .await;
        b.css("#org-name").await;

        b.type_into("#org-name", "Acme Corp").await;
        b.type_into("#org-seats", "10").await;
        b.css("#org-role")
            .await
            .select_by_value("viewer")
            .await
            .unwrap();
        b.click("form[action='/console/organizations'] button")
            .await;
        b.css("#tenant-url").await;
        let page = b.text().await;
        assert!(page.contains("Acme Corp — SCIM connection"), "{page}");
        assert!(page.contains("0 used of 10"), "{page}");
        let path = b.path().await;
        let org = path
            .rsplit('/')
            .next()
            .unwrap_or_else(|| panic!("an organization's id in {path}"))
            .to_owned();
        let tenant_url = b.css("#tenant-url").await.prop("value").await.unwrap();
        assert_eq!(tenant_url.as_deref(), Some(target.scim_url.as_str()));
        // The copy button's script runs under the Content-Security-Policy:
        // its answer to a real click (a new label, put back 2 s later) is
        // caught by an observer, whenever the clipboard's promise settles.
        b.client()
            .execute(
                r#"const button = document.querySelector("button[data-copy='tenant-url']");
                   window.copyAnswer = null;
                   new MutationObserver((_, observer) => {
                     observer.disconnect();
                     window.copyAnswer = button.textContent;
                   }).observe(button, { childList: true, characterData: true, subtree: true });"#,
                vec![],
            )
            .await
            .unwrap();
        b.click("button[data-copy='tenant-url']").await;
        let answer = b.answer("return window.copyAnswer;").await;
        assert_ne!(answer, "Copy tenant URL", "the script answered the click");
        self.page("03-connection", true).await;
        org
    }

    /// Generate a token (shown once) → provision a user over SCIM with it
    /// → "Test connection" all green; the token and the user's SCIM id.
    pub async fn generate_a_token_and_provision(&mut self) -> (String, String) {
        let b = self.browser;
        b.click("form[action$='/tokens'] button").await;
        let token = b
            .css("#new-token")
            .await
            .prop("value")
            .await
            .unwrap()
            .expect("the token's value");
        assert!(token.starts_with("scim_"));
        self.page("04-token-shown-once", false).await;

        let created = reqwest::Client::new()
            .post(format!("{}/Users", self.target.scim_url))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": USER_NAME}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let user: serde_json::Value = created.json().await.unwrap();
        let user_id = user["id"].as_str().expect("the user's id").to_owned();
        let group = reqwest::Client::new()
            .post(format!("{}/Groups", self.target.scim_url))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .json(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": TEAM, "members": [{"value": user_id}]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(group.status(), StatusCode::CREATED);

        b.click("form[action$='/test'] button").await;
        b.css(".checks").await;
        let page = b.text().await;
        assert!(page.contains("All checks passed."), "{page}");
        assert!(!page.contains(&token), "the value is gone from the page");
        self.page("05-test-passed", false).await;
        (token, user_id)
    }

    /// The account appears on the accounts page (once identity applied the
    /// provisioning: the page is reloaded until then) → change its role
    /// (the history shows it) → the seats → the teams.
    pub async fn change_the_account_s_role(&mut self, user_id: &str) {
        let b = self.browser;
        b.click("nav.tabs a[href$='/accounts']").await;
        self.reload_until(USER_NAME, "the account").await;
        self.page("05a-accounts", true).await;
        b.click("table a[href*='/accounts/']").await;
        b.css("#role").await;
        self.page("05a-account", true).await;
        b.css("#role").await.select_by_value("admin").await.unwrap();
        b.click("form[action$='/access'] button").await;
        b.css(".notice").await;
        let page = b.text().await;
        assert!(page.contains("Access saved."), "{page}");
        assert!(
            page.contains("viewer\tadmin\tconsole") || page.contains("viewer admin console"),
            "{page}"
        );
        self.page("05b-account-role-changed", false).await;
        b.click("nav.tabs a[href$='/seats']").await;
        b.css("meter").await;
        self.page("05c-seats", true).await;
        b.click("nav.tabs a[href$='/teams']").await;
        self.reload_until(TEAM, "the team").await;
        self.page("05d-teams", true).await;
        b.click("table a[href*='/teams/']").await;
        self.reload_until(user_id, "the team's member").await;
        self.page("05e-team", true).await;
    }

    /// The page reloaded until its text has `text` (a consumer applied an
    /// event), for 60 s at most.
    pub(crate) async fn reload_until(&self, text: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.browser.text().await.contains(text) {
            assert!(Instant::now() < deadline, "{what} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.browser.client().refresh().await.unwrap();
        }
    }

    /// Revoke the token → "Test connection" names the problem.
    pub async fn revoke_and_test_again(&mut self) {
        let b = self.browser;
        b.click("nav.tabs a:first-child").await;
        b.css("#tenant-url").await;
        b.click("form[action$='/revoke'] button").await;
        b.css(".notice").await;
        assert!(b.text().await.contains("Token revoked"));
        self.page("05f-token-revoked", false).await;
        b.click("form[action$='/test'] button").await;
        b.css(".checks").await;
        let page = b.text().await;
        assert!(page.contains("Some checks failed"), "{page}");
        assert!(page.contains("Failed: tokens"), "{page}");
        assert!(page.contains("no usable token"), "{page}");
        self.page("06-test-names-the-problem", false).await;
    }

    /// Narrow, as on a phone: the page shown now and every page a link
    /// reached again, none scrolling sideways, each checked by axe-core.
    pub async fn at_phone_width(&mut self) {
        let b = self.browser;
        b.set_size(PHONE).await;
        assert!(
            b.fits_the_width().await,
            "no sideways scrolling at phone width"
        );
        b.checked("07-phone-width").await;
        for (name, url) in std::mem::take(&mut self.pages) {
            b.goto(&url).await;
            b.css("main").await;
            assert!(
                b.fits_the_width().await,
                "{name} ({url}) scrolls sideways at phone width"
            );
            b.checked(&format!("{name}-phone")).await;
        }
        b.set_size(DESK).await;
    }

    /// The whole walk up to the steps that follow it (see [`crate::walk`]).
    pub async fn connection_and_account(&mut self) -> Walked {
        let org_id = self.sign_in_and_create_an_organization().await;
        let (token, user_id) = self.generate_a_token_and_provision().await;
        self.change_the_account_s_role(&user_id).await;
        self.revoke_and_test_again().await;
        Walked {
            org_id,
            token,
            user_id,
            user_name: USER_NAME.to_owned(),
        }
    }
}
