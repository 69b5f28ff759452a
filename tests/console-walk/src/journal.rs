//! The walk's last steps: from the provisioned person's account to their
//! events in the journal → one event with its delivery status at each
//! service → the person's events replayed to identity (already applied,
//! so counted and skipped) → the services' dead letters (none) → the
//! services' health (every one ready).

use crate::Walked;
use crate::walk::{USER_NAME, Walk};

impl Walk<'_> {
    /// Starts on any page of the walk's organization, its person
    /// provisioned and applied by identity.
    pub async fn journal_and_replay(&mut self, walked: &Walked) {
        let b = self.browser;
        b.click("nav.tabs a[href$='/accounts']").await;
        b.click("table a[href*='/accounts/']").await;
        b.click("a[href*='/journal?person=']").await;
        b.css("#replay-service").await;
        let page = b.text().await;
        assert!(page.contains("One person's events"), "{page}");
        assert!(page.contains("user.provisioned"), "{page}");
        assert!(page.contains(&walked.user_id), "{page}");
        assert!(!page.contains(USER_NAME), "no personal value: {page}");
        self.page("08-journal", true).await;

        // Its first event: applied by identity (the account was on its page).
        b.click("table td a[href*='/journal/']").await;
        b.css("table.deliveries").await;
        let page = b.text().await;
        assert!(page.contains("user.provisioned"), "{page}");
        assert!(page.contains("Sealed under the person's key"), "{page}");
        let identity = page
            .lines()
            .find(|l| l.starts_with("identity"))
            .unwrap_or_default();
        assert!(identity.contains("Applied at"), "{page}");
        assert!(!page.contains(USER_NAME), "no personal value: {page}");
        self.page("09-event", true).await;

        // Back to the person's events → replay them to identity.
        b.client().back().await.unwrap();
        b.css("#replay-service")
            .await
            .select_by_value("identity")
            .await
            .unwrap();
        b.click("form[action$='/journal/replay'] button").await;
        b.css("ul.outcomes").await;
        let page = b.text().await;
        assert!(page.contains("Replayed to identity"), "{page}");
        assert!(page.contains("1 event of SCIM user"), "{page}");
        assert!(page.contains("1 already applied (skipped)"), "{page}");
        self.page("10-replayed", false).await;

        b.click("a[href='/console/dead-letters']").await;
        b.css("main h1").await;
        let page = b.text().await;
        assert!(page.contains("No dead letters."), "{page}");
        self.page("11-dead-letters", true).await;

        b.click("a[href='/console/health']").await;
        self.reload_until("Every service is ready.", "every service ready")
            .await;
        let page = b.text().await;
        assert!(page.contains("Database: answers."), "{page}");
        self.page("12-health", true).await;
    }
}
