//! What `cargo run --release` gives a newcomer: the embedded binary started
//! in an empty folder with no configuration at all (only a free port) prints
//! a SCIM base URL, a token and an admin key that work, and keeps a new
//! key-encryption key (owner-readable only) beside its databases; a restart
//! keeps the data and that key (the profiles sealed before it still open: a
//! replay into an identity database lost meanwhile restores the profile),
//! prints the same credentials, and creates no second organization.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

struct Printed {
    scim_base_url: String,
    token: String,
    org_id: String,
    admin_key: Option<String>,
}

/// Starts the binary in `dir` with an empty environment (PATH and the port
/// only) and reads what it prints until the token line.
fn start(dir: &Path, port: u16) -> (Child, Printed) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-embedded"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCIM_HTTP__PORT", port.to_string())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Printed {
        scim_base_url: String::new(),
        token: String::new(),
        org_id: String::new(),
        admin_key: None,
    };
    let value = |line: &str| {
        line.split_once(':')
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let mut lines = stdout.lines();
    while let Some(Ok(line)) = lines.next() {
        if line.starts_with("SCIM base URL") {
            printed.scim_base_url = value(&line);
        } else if line.starts_with("Bearer token") {
            printed.token = value(&line);
        } else if line.starts_with("Organization") {
            printed.org_id = value(&line);
        } else if line.starts_with("Admin key") {
            printed.admin_key = Some(value(&line));
        } else if line.contains("listening") || line.contains("kept in") {
            break;
        }
        if !printed.org_id.is_empty() && printed.admin_key.is_some() {
            break;
        }
    }
    // Keep draining so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, printed)
}

fn stop(child: &mut Child) {
    test_support::process::terminate(child, Duration::from_secs(15));
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && response.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the embedded process was not ready within 30 s");
}

/// The profile identity keeps for SCIM user `scim_id` once its `field` is
/// `expected` (identity applies the journal in the background), or a panic
/// after 30 s with what it had.
async fn identity_profile(
    http: &reqwest::Client,
    port: u16,
    (org, admin_key): (&str, &str),
    scim_id: &str,
    (field, expected): (&str, &str),
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page: Value = http
            .get(format!(
                "http://127.0.0.1:{port}/admin/v1/organizations/{org}/accounts?limit=200"
            ))
            .bearer_auth(admin_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let profile = page["items"]
            .as_array()
            .and_then(|items| items.iter().find(|a| a["scim_user_id"] == scim_id))
            .map(|a| a["profile"].clone())
            .unwrap_or(Value::Null);
        if profile[field] == expected {
            return profile;
        }
        assert!(
            Instant::now() < deadline,
            "identity's profile of {scim_id}: {profile}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn first_start_prints_working_credentials_and_a_restart_keeps_them() {
    let dir = test_support::temp_dir("first-start");
    std::fs::create_dir_all(&dir).unwrap();
    let port = test_support::process::free_port();
    let http = reqwest::Client::new();

    let (mut first, printed) = start(&dir, port);
    assert_eq!(
        printed.scim_base_url,
        format!("http://127.0.0.1:{port}/scim/v2")
    );
    assert!(
        printed.token.starts_with("scim_"),
        "token {:?}",
        printed.token
    );
    let admin_key = printed
        .admin_key
        .clone()
        .expect("the generated admin key is printed");
    wait_ready(&http, port).await;

    let created = http
        .post(format!("{}/Users", printed.scim_base_url))
        .bearer_auth(&printed.token)
        .header("Content-Type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "newcomer@example.com",
                "active": true
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    let organization = http
        .get(format!(
            "http://127.0.0.1:{port}/admin/v1/organizations/{}",
            printed.org_id
        ))
        .bearer_auth(&admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(organization.status().as_u16(), 200);
    // The key is kept where scimctl started from this folder finds it.
    assert_eq!(
        std::fs::read_to_string(dir.join("data/admin-key"))
            .unwrap()
            .trim(),
        admin_key
    );
    // The key-encryption key: generated under the data folder, for its
    // owner only; identity opened the sealed profile with the data key it
    // wraps.
    let kek_file = dir.join("data/key-encryption.key");
    let kek = std::fs::read_to_string(&kek_file).expect("data/key-encryption.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let user_id = user["id"].as_str().unwrap().to_owned();
    let tenant = (printed.org_id.as_str(), admin_key.as_str());
    identity_profile(
        &http,
        port,
        tenant,
        &user_id,
        ("user_name", "newcomer@example.com"),
    )
    .await;
    stop(&mut first);
    // Identity loses its database: after the restart a replay of the journal
    // must open the user's sealed profile again.
    for file in ["identity.db", "identity.db-wal", "identity.db-shm"] {
        let _ = std::fs::remove_file(dir.join("data").join(file));
    }

    // Restart: same credentials, the user still there, no new organization,
    // the admin key not printed again (it is not new).
    let (mut second, again) = start(&dir, port);
    assert_eq!(again.token, printed.token);
    assert_eq!(again.org_id, printed.org_id);
    assert!(again.admin_key.is_none());
    wait_ready(&http, port).await;
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("http://127.0.0.1:{port}/admin/v1{path}"))
            .bearer_auth(&admin_key)
    };
    let journal: Value = admin(
        reqwest::Method::GET,
        &format!("/events?aggregate={user_id}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let events: Vec<Value> = journal["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["event"].clone())
        .collect();
    assert!(
        events[0]["payload"]["profile"]["sealed"].is_string(),
        "{journal}"
    );
    let replayed: Value = admin(reqwest::Method::POST, "/services/identity/replay")
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["counts"]["applied"], 1, "{replayed}");
    identity_profile(
        &http,
        port,
        tenant,
        &user_id,
        ("user_name", "newcomer@example.com"),
    )
    .await;
    let fetched = http
        .get(format!(
            "{}/Users/{}",
            printed.scim_base_url,
            user["id"].as_str().unwrap()
        ))
        .bearer_auth(&printed.token)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status().as_u16(), 200);
    // The same key-encryption key: the person's data key, made before the
    // restart, still unwraps — a change seals under it and identity opens it.
    assert_eq!(
        std::fs::read_to_string(dir.join("data/key-encryption.key")).unwrap(),
        kek
    );
    let renamed = http
        .patch(format!("{}/Users/{user_id}", printed.scim_base_url))
        .bearer_auth(&printed.token)
        .header("Content-Type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "displayName", "value": "New Comer"}]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status().as_u16(), 200);
    let profile =
        identity_profile(&http, port, tenant, &user_id, ("display_name", "New Comer")).await;
    assert_eq!(profile["user_name"], "newcomer@example.com");
    stop(&mut second);

    let gateway = Database::connect(test_support::sqlite_url(&dir.join("data"), "gateway.db"))
        .await
        .unwrap();
    let row = gateway
        .query_one_raw(Statement::from_string(
            gateway.get_database_backend(),
            "SELECT COUNT(*) AS n FROM organizations",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1);
    for file in ["gateway.db", "identity.db", "team.db", "licensing.db"] {
        assert!(dir.join("data").join(file).is_file(), "./data/{file}");
    }
}
