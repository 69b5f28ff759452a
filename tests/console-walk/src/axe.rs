//! axe-core, the accessibility checker, injected into the page under test.
//!
//! Its source is a pinned release from the npm registry that
//! `scripts/infra.sh` fetched (`npm pack`) and checked against the
//! registry's sha512 integrity: the test reads `axe.min.js` from
//! `SCIM_TEST_AXE_JS`, by default [`default_path`], and never downloads
//! anything. WebDriver's "execute script" runs the source as a function
//! body through DevTools, which the page's Content-Security-Policy
//! (`script-src 'self'`) does not govern — so the console's policy stays as
//! strict as it is.

use std::fmt;

use fantoccini::Client;
use serde_json::{Value, json};

/// The pinned release (`axe-core.pin`, which scripts/infra.sh fetches).
const PIN: &str = include_str!("../axe-core.pin");

/// The pinned axe-core version.
pub fn version() -> &'static str {
    PIN.lines()
        .find_map(|line| line.strip_prefix("version="))
        .unwrap_or("(no version in axe-core.pin)")
}

/// Where scripts/infra.sh puts the pinned release's `axe.min.js`.
pub fn default_path() -> String {
    format!("/var/cache/scim-npm/axe-core-{}/axe.min.js", version())
}

/// axe-core's source, or `None` (the check is skipped, said here) when it
/// is missing and infrastructure is not required.
pub fn source() -> Option<String> {
    let path = std::env::var("SCIM_TEST_AXE_JS")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(default_path);
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                !test_support::require_infra(),
                "SCIM_TEST_REQUIRE_INFRA=1 but axe-core {} is not at {path} ({e}): run scripts/infra.sh",
                version()
            );
            eprintln!(
                "accessibility check skipped: no axe-core {} at {path} ({e}); scripts/infra.sh fetches it",
                version()
            );
            None
        }
    }
}

/// One rule axe-core found broken, and where.
#[derive(Debug)]
pub struct Violation {
    pub id: String,
    pub impact: String,
    pub help: String,
    /// The CSS selectors of the elements that break it.
    pub targets: Vec<String>,
}

impl Violation {
    /// What the acceptance counts: serious or critical.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "- {} ({}): {} — at {}",
            self.id,
            self.impact,
            self.help,
            self.targets.join(", ")
        )
    }
}

/// Every violation axe-core finds on the page the browser shows (injected
/// first when the page does not have it yet).
pub async fn run(client: &Client, source: &str) -> Vec<Violation> {
    let present = client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .expect("the page answers");
    if present != json!(true) {
        let injected = client
            .execute(
                &format!("{source}\n;return typeof window.axe === 'object';"),
                vec![],
            )
            .await
            .expect("axe-core injected");
        assert_eq!(injected, json!(true), "axe-core did not load in the page");
    }
    let answer = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ["violations"] })
                 .then(r => done({ violations: r.violations.map(v => ({
                     id: v.id, impact: v.impact || "", help: v.help,
                     targets: v.nodes.map(n => n.target.join(" "))
                 })) }))
                 .catch(e => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .expect("axe-core ran");
    if let Some(error) = answer.get("error") {
        panic!("axe-core failed: {error}");
    }
    answer["violations"]
        .as_array()
        .expect("axe-core's violations")
        .iter()
        .map(|v| Violation {
            id: text(&v["id"]),
            impact: text(&v["impact"]),
            help: text(&v["help"]),
            targets: v["targets"]
                .as_array()
                .map(|t| t.iter().map(text).collect())
                .unwrap_or_default(),
        })
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}
