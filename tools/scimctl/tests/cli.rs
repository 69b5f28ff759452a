//! `scimctl` against the embedded platform served on a real port: create an
//! organization whose token provisions at once, list and revoke tokens, set
//! seats, report status; an organization's request limits set, shown and
//! reset, its 429s counted in status; a wrong admin key or a default role
//! outside the access catalogue is one clear line and exit 1; the
//! event table's instants are milliseconds; a rebuild into a database that
//! does not exist says so once; profiles are printed sealed or erased, and
//! identity's rebuild opens them with the gateway's key table, leaving no
//! write-ahead log beside the rebuilt file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::Output;

use actix_web::{App, HttpServer};
use scim_embedded::{EmbeddedSettings, Platform, SeatsVia};
use scim_gateway::config::{Secret, Settings};
use serde_json::{Value, json};

const KEY: &str = "cli-test-admin-key";

async fn serve() -> u16 {
    serve_platform().await.0
}

/// The platform served on a port (no background tasks: the test relays the
/// journal itself) and its folder (databases, key-encryption key).
async fn serve_platform() -> (u16, Platform, std::path::PathBuf) {
    let dir = test_support::temp_dir("scimctl");
    let mut gateway = Settings::from_sources(None, false).unwrap();
    gateway.database.url = Secret::new(test_support::sqlite_url(&dir, "gateway.db"));
    gateway.bootstrap.data_dir = dir.display().to_string();
    let mut settings = EmbeddedSettings::defaults(gateway);
    settings.identity_database_url = test_support::sqlite_url(&dir, "identity.db");
    settings.team_database_url = test_support::sqlite_url(&dir, "team.db");
    settings.licensing_database_url = test_support::sqlite_url(&dir, "licensing.db");
    let platform = Platform::build(&settings, KEY, SeatsVia::InProcess)
        .await
        .unwrap();
    let configure = platform.configure();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    actix_web::rt::spawn(server);
    (port, platform, dir)
}

async fn scimctl(port: u16, key: &str, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_scimctl"));
    command
        .args([
            "--gateway",
            &format!("http://127.0.0.1:{port}"),
            "--admin-key",
            key,
        ])
        .args(args)
        .env_remove("SCIM_ADMIN_KEY")
        .env_remove("SCIM_GATEWAY_URL")
        .env_remove("SCIM_IDENTITY_URL")
        .env_remove("SCIM_TEAM_URL")
        .env_remove("SCIM_LICENSING_URL");
    actix_web::rt::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "scimctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[actix_web::test]
async fn an_organization_from_the_cli_provisions_at_once() {
    let port = serve().await;
    let created = json_of(
        &scimctl(
            port,
            KEY,
            &[
                "org",
                "create",
                "--name",
                "Acme",
                "--seats",
                "1",
                "--workspace",
                "Privacy",
                "--default-role",
                "viewer",
            ],
        )
        .await,
    );
    for field in ["org_id", "workspace_id", "token"] {
        assert!(created[field].is_string(), "{field} missing: {created}");
    }
    let org = created["org_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();

    let http = reqwest::Client::new();
    let users = format!("http://127.0.0.1:{port}/scim/v2/Users");
    let provision = |user_name: &'static str| {
        let (http, users, token) = (http.clone(), users.clone(), token.clone());
        async move {
            http.post(&users)
                .bearer_auth(&token)
                .header("Content-Type", "application/scim+json")
                .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(provision("first@acme.test").await, 201);
    assert_eq!(provision("second@acme.test").await, 403, "one seat");
    let raised = json_of(&scimctl(port, KEY, &["seats", "set", &org, "2"]).await);
    assert_eq!(raised["seat_quota"], 2);
    assert_eq!(provision("second@acme.test").await, 201);

    let rotated = json_of(
        &scimctl(
            port,
            KEY,
            &[
                "token",
                "rotate",
                &org,
                created["token_id"].as_str().unwrap(),
                "--overlap-seconds",
                "3600",
            ],
        )
        .await,
    );
    assert!(rotated["token"].is_string() && rotated["previous"]["expires_at"].is_string());
    let listed = json_of(&scimctl(port, KEY, &["token", "list", &org]).await);
    assert!(
        !listed.to_string().contains(&token),
        "values are never listed"
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
    json_of(&scimctl(port, KEY, &["token", "revoke", &org, &id]).await);
    assert_eq!(
        provision("third@acme.test").await,
        401,
        "revoked during its overlap: refused at once"
    );

    let status = json_of(&scimctl(port, KEY, &["status"]).await);
    assert_eq!(status["all_ready"], true, "{status}");

    let refused = scimctl(port, "wrong-key", &["org", "show", &org]).await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    // A default role outside the access catalogue: refused by the gateway,
    // in one line naming the valid roles; no organization is created.
    let refused = scimctl(
        port,
        KEY,
        &[
            "org",
            "create",
            "--name",
            "Wrong role",
            "--seats",
            "1",
            "--default-role",
            "superuser",
        ],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("400") && stderr.contains("owner, admin, member, viewer"),
        "{stderr}"
    );
}

#[actix_web::test]
async fn an_organizations_limits_round_trip_and_show_in_status() {
    let port = serve().await;
    let created = json_of(
        &scimctl(
            port,
            KEY,
            &["org", "create", "--name", "Limited", "--seats", "5"],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let defaults = json!({"max_in_flight": 8, "rate_per_second": 100.0, "burst": 200});

    let shown = json_of(&scimctl(port, KEY, &["org", "limits", &org]).await);
    assert_eq!(shown["limits"], defaults, "{shown}");
    assert_eq!(shown["defaults"], defaults);

    let set = json_of(
        &scimctl(
            port,
            KEY,
            &[
                "org",
                "limits",
                &org,
                "--max-in-flight",
                "3",
                "--rate",
                "2.5",
            ],
        )
        .await,
    );
    let limited = json!({"max_in_flight": 3, "rate_per_second": 2.5, "burst": 200});
    assert_eq!(set["limits"], limited, "{set}");
    // One request every 100 s: the second of two is 429 with an integer
    // Retry-After (no token comes back during the test).
    let shown = json_of(
        &scimctl(
            port,
            KEY,
            &["org", "limits", &org, "--burst", "1", "--rate", "0.01"],
        )
        .await,
    );
    assert_eq!(
        shown["override"],
        json!({"max_in_flight": 3, "rate_per_second": 0.01, "burst": 1})
    );

    let token = created["token"].as_str().unwrap();
    let http = reqwest::Client::new();
    let users = format!("http://127.0.0.1:{port}/scim/v2/Users");
    let first = http.get(&users).bearer_auth(token).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let second = http.get(&users).bearer_auth(token).send().await.unwrap();
    assert_eq!(second.status(), 429);
    let wait: u64 = second.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);

    let status = json_of(&scimctl(port, KEY, &["status"]).await);
    let orgs = status["limits"]["organizations"]
        .as_array()
        .expect("limits in status");
    let ours = orgs
        .iter()
        .find(|o| o["org_id"] == json!(org))
        .expect("listed");
    assert_eq!(ours["usage"]["throttled"]["rate"], 1, "{status}");
    assert_eq!(status["limits"]["throttled"], 1);

    let reset = json_of(&scimctl(port, KEY, &["org", "limits", &org, "--reset"]).await);
    assert_eq!(reset["limits"], defaults, "{reset}");

    let refused = scimctl(port, KEY, &["org", "limits", &org, "--burst", "0"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("400"));
}

#[actix_web::test]
async fn the_event_table_gives_instants_to_the_millisecond() {
    let port = serve().await;
    let created = json_of(
        &scimctl(
            port,
            KEY,
            &["org", "create", "--name", "Acme", "--seats", "1"],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let provisioned = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/scim/v2/Users"))
        .bearer_auth(created["token"].as_str().unwrap())
        .header("Content-Type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "first@acme.test"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(provisioned.status().as_u16(), 201);
    let listed = scimctl(
        port,
        KEY,
        &["events", "list", "--org", &org, "--format", "table"],
    )
    .await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let table = String::from_utf8(listed.stdout).unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("OCCURRED"), "{table}");
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty(), "the provisioning is journaled: {table}");
    for row in rows {
        let occurred = row.split_whitespace().nth(1).unwrap();
        // 2026-12-03T07:41:35.123Z: RFC 3339, UTC, milliseconds.
        assert_eq!(occurred.len(), 24, "{row}");
        assert!(occurred.ends_with('Z'), "{row}");
        assert_eq!(occurred.as_bytes()[19], b'.', "{row}");
        assert!(
            occurred[20..23].bytes().all(|b| b.is_ascii_digit()),
            "{row}"
        );
    }
}

/// `scimctl rebuild` into a PostgreSQL database that does not exist: its help
/// says the database must exist, and the error says what is wrong once.
#[actix_web::test]
async fn rebuild_into_a_missing_database_says_so_once() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_scimctl"))
        .args(["rebuild", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("must exist already"), "{help}");
    assert!(!help.contains("created and migrated"), "{help}");

    let Ok(admin_url) = std::env::var("SCIM_TEST_DATABASE_URL") else {
        assert!(
            !test_support::require_infra(),
            "SCIM_TEST_REQUIRE_INFRA=1 but SCIM_TEST_DATABASE_URL is not set"
        );
        eprintln!("skipping: SCIM_TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("scim_missing_{}", uuid::Uuid::new_v4().simple());
    let (server, _) = admin_url.rsplit_once('/').unwrap();
    let into = format!("{server}/{name}");
    let output = scimctl(1, KEY, &["rebuild", "identity", "--into", &into]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("createdb {name}")), "{stderr}");
}

fn jsonl(output: &Output) -> Vec<Value> {
    assert!(
        output.status.success(),
        "scimctl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The journal prints profiles as `sealed` while the person's key exists and
/// `erased` once they are deleted, never their ciphertext; identity's
/// rebuild opens the live person's with the gateway's key table (the
/// embedded process's database and key file) and gives the live rows.
#[actix_web::test]
async fn profiles_print_sealed_or_erased_and_a_rebuild_opens_them() {
    const MARKER: &str = "cli-marker-8e21";
    let (port, platform, dir) = serve_platform().await;
    let created = json_of(
        &scimctl(
            port,
            KEY,
            &["org", "create", "--name", "Acme", "--seats", "5"],
        )
        .await,
    );
    let org = created["org_id"].as_str().unwrap().to_owned();
    let token = created["token"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for name in ["kept", "gone"] {
        let response = http
            .post(format!("http://127.0.0.1:{port}/scim/v2/Users"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json")
            .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("{name}-{MARKER}@acme.test")}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let user: Value = response.json().await.unwrap();
        ids.push(user["id"].as_str().unwrap().to_owned());
    }
    let deleted = http
        .delete(format!("http://127.0.0.1:{port}/scim/v2/Users/{}", ids[1]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let retry = messaging_inprocess::RetryPolicy {
        max_attempts: 3,
        first_pause: std::time::Duration::from_millis(5),
    };
    platform.licensing_relay(retry).drain().await.unwrap();
    platform.journal_relay(retry).drain().await.unwrap();

    let listed = scimctl(
        port,
        KEY,
        &[
            "events",
            "list",
            "--org",
            &org,
            "--type",
            "user.provisioned",
            "--format",
            "jsonl",
        ],
    )
    .await;
    let entries = jsonl(&listed);
    let profile_of = |id: &str| {
        entries
            .iter()
            .find(|e| e["event"]["aggregate"]["id"] == id)
            .map(|e| e["event"]["payload"]["profile"].clone())
            .unwrap()
    };
    assert_eq!(profile_of(&ids[0]), "sealed");
    assert_eq!(profile_of(&ids[1]), "erased");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(MARKER));
    let table = scimctl(
        port,
        KEY,
        &[
            "events",
            "list",
            "--org",
            &org,
            "--type",
            "user.provisioned",
            "--format",
            "table",
        ],
    )
    .await;
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.lines().next().unwrap().ends_with("PROFILE"),
        "{table}"
    );
    let words: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(words, ["sealed", "erased"], "{table}");
    let event_id = entries[0]["event"]["id"].as_str().unwrap().to_owned();
    let shown = json_of(&scimctl(port, KEY, &["events", "show", &event_id]).await);
    assert_eq!(shown["event"]["payload"]["profile"], "sealed", "{shown}");
    assert_eq!(
        shown["delivery"]["identity"]["status"], "applied",
        "{shown}"
    );

    // Identity rebuilt from the journal, the keys read from the gateway's
    // table: the same rows as the live database, no -wal left.
    let rebuilt_dir = dir.join("rebuilt");
    std::fs::create_dir_all(&rebuilt_dir).unwrap();
    let into = test_support::sqlite_url(&rebuilt_dir, "identity.db");
    let gateway_db = test_support::sqlite_url(&dir, "gateway.db");
    let key_file = dir.join("key-encryption.key");
    let summary = json_of(
        &scimctl(
            port,
            KEY,
            &[
                "rebuild",
                "identity",
                "--into",
                &into,
                "--org",
                &org,
                "--data-keys",
                &gateway_db,
                "--key-file",
                key_file.to_str().unwrap(),
            ],
        )
        .await,
    );
    assert_eq!(summary["problems"], json!([]), "{summary}");
    assert_eq!(summary["counts"]["applied"], 3, "{summary}");
    let wal = rebuilt_dir.join("identity.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "{} keeps {} bytes",
        wal.display(),
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or_default()
    );
    let live = test_support::sqlite_url(&dir, "identity.db");
    let diff = scimctl(
        port,
        KEY,
        &["diff", "identity", "--against", &into, "--live", &live],
    )
    .await;
    let diff = json_of(&diff);
    assert_eq!(diff["differences"], 0, "{diff}");

    // Without the key-encryption key, no rebuild: nothing made up.
    let keyless = scimctl(
        port,
        KEY,
        &[
            "rebuild",
            "identity",
            "--into",
            &test_support::sqlite_url(&rebuilt_dir, "again.db"),
            "--data-keys",
            &gateway_db,
            "--key-file",
            dir.join("missing.key").to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(keyless.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&keyless.stderr).contains("no key-encryption key"));
}
