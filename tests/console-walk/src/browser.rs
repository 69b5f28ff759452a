//! Headless chromium driven through chromedriver over WebDriver: started on
//! a port of its own, skipped with a message where it is not installed
//! (unless `SCIM_TEST_REQUIRE_INFRA=1`), and what the walk does with it —
//! wait for an element, read the page, save a screenshot, run axe-core.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::axe;

/// The window's size at a desk (the 1280×800) and on a phone.
pub const DESK: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

/// chromedriver on a port of its own, in a process group of its own with
/// the chromium it starts: the group is killed when dropped, so a walk that
/// panics leaves no browser running.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
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
        .process_group(0)
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

/// A browser session, its chromedriver, axe-core's source (`None`: the
/// accessibility check is skipped, said once at start) and where its
/// screenshots go.
pub struct Browser {
    client: Client,
    axe: Option<String>,
    screenshots: PathBuf,
    // Last: dropped (killed) after the session it serves.
    _driver: Driver,
}

impl Browser {
    /// A headless chromium at 1280×800 saving screenshots into
    /// `screenshots`, or `None` when there is no chromedriver (see
    /// [`driver`]). Start it before the system under test: a skipped walk
    /// then starts nothing.
    pub async fn start(screenshots: &Path) -> Option<Browser> {
        let driver = driver().await?;
        let axe = axe::source();
        std::fs::create_dir_all(screenshots).expect("the screenshots folder");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage",
                         format!("--window-size={},{}", DESK.0, DESK.1)],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a browser session");
        Some(Browser {
            client,
            axe,
            screenshots: screenshots.to_owned(),
            _driver: driver,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    /// The path of the page the browser shows.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        url.path().to_owned()
    }

    /// The address of the page the browser shows.
    pub async fn url(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        url.to_string()
    }

    /// The element `selector` finds, waited for (10 s at most).
    pub async fn css(&self, selector: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
    }

    pub async fn click(&self, selector: &str) {
        self.css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    pub async fn type_into(&self, selector: &str, text: &str) {
        let field = self.css(selector).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
    }

    /// The text of the page's `main`.
    pub async fn text(&self) -> String {
        self.css("main")
            .await
            .text()
            .await
            .expect("the page's text")
    }

    /// What `script` returns once it returns text (10 s at most).
    pub async fn answer(&self, script: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .unwrap_or_else(|e| panic!("{script}: {e}"));
            if let Some(text) = value.as_str() {
                return text.to_owned();
            }
            assert!(Instant::now() < deadline, "{script} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn set_size(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window resized");
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).expect("saved");
    }

    /// What the walk does on every page it reaches: a screenshot named
    /// `name`, and axe-core's check, failing on any serious or critical
    /// violation (each listed with its rule, impact and elements).
    pub async fn checked(&self, name: &str) {
        self.screenshot(name).await;
        let Some(source) = &self.axe else {
            return;
        };
        let violations = axe::run(&self.client, source).await;
        for minor in violations.iter().filter(|v| !v.is_serious()) {
            eprintln!("{name}: axe-core (not failing): {minor}");
        }
        let serious: Vec<String> = violations
            .iter()
            .filter(|v| v.is_serious())
            .map(ToString::to_string)
            .collect();
        assert!(
            serious.is_empty(),
            "{name} ({}): axe-core found serious or critical violations:\n{}",
            self.path().await,
            serious.join("\n")
        );
    }

    /// Whether the page is no wider than the window (nothing to scroll to
    /// sideways).
    pub async fn fits_the_width(&self) -> bool {
        let fits = self
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .expect("the page's width");
        fits == json!(true)
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
