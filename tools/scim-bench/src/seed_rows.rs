//! `seed-rows`: users written straight into the gateway's PostgreSQL tables
//! (`INSERT … SELECT generate_series`, one organization), for lookups at a
//! scale that POST /Users would take hours to reach. Each row is a realistic
//! user: its document is normalized by the protocol crate and its search
//! document made by the gateway's own projection, from one template whose
//! number marker SQL replaces per row. The rows have no data key (as rows
//! written before keys existed: the gateway makes one at their next write)
//! and no journal entries: they are for reads.

use anyhow::{Context, bail};
use scim_gateway::outbound::sql::search_document::search_document;
use scim_protocol::resource::normalize_for_write;
use scim_protocol::schema::USER_RESOURCE;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;

/// Stands for the user's number in the template: no letter, so folding
/// leaves it as it is.
const MARK: &str = "~~~";

/// Rows per INSERT statement.
const BATCH: u64 = 50_000;

/// The employee number of seeded user `n` (what `filter-employee-number`
/// looks up).
pub fn employee_number(n: u64) -> String {
    format!("E{n:07}")
}

/// The userName of seeded user `n`.
pub fn user_name(n: u64) -> String {
    format!("row-user-{n:07}@example.com")
}

fn template() -> anyhow::Result<(String, String)> {
    let document = json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": format!("ext-{MARK}"),
        "userName": format!("row-user-{MARK}@example.com"),
        "name": {"givenName": format!("Given{MARK}"), "familyName": "Rowseed", "formatted": format!("Given{MARK} Rowseed")},
        "displayName": format!("Given{MARK} Rowseed"),
        "title": "Engineer",
        "active": true,
        "emails": [{"value": format!("row-user-{MARK}@example.com"), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+1 555 {MARK}"), "type": "work"}],
        "addresses": [{"locality": "Berlin", "postalCode": "10115", "country": "DE", "type": "work"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": employee_number(0).replace("0000000", MARK),
            "costCenter": "CC-7",
            "department": "Research",
            "manager": {"value": "m-1"}
        }
    });
    let document = normalize_for_write(document, &USER_RESOURCE).context("template")?;
    let search = search_document(&document, &USER_RESOURCE);
    Ok((document.to_string(), search.to_string()))
}

/// Writes users `from..from + users` into `org` (the database's only
/// organization when `None`).
pub async fn seed_rows(
    database_url: &str,
    org: Option<uuid::Uuid>,
    from: u64,
    users: u64,
) -> anyhow::Result<uuid::Uuid> {
    let db = Database::connect(database_url).await?;
    if db.get_database_backend() != DbBackend::Postgres {
        bail!("seed-rows writes PostgreSQL only");
    }
    let org = match org {
        Some(org) => org,
        None => {
            let rows = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT id FROM organizations LIMIT 2",
                ))
                .await?;
            match rows.as_slice() {
                [one] => one.try_get("", "id")?,
                _ => bail!("the database has not exactly one organization: name one with --org"),
            }
        }
    };
    let (document, search) = template()?;
    // Every per-row value is the template with the marker replaced: `n`
    // zero-padded like `employee_number`.
    let sql = format!(
        "INSERT INTO scim_users (org_id, id, user_name, user_name_key, external_id, \
         display_name_key, given_name_key, family_name_key, active, document, version, \
         event_version, created_at, last_modified, search) \
         SELECT $1, gen_random_uuid(), \
         'row-user-' || n || '@example.com', 'row-user-' || n || '@example.com', 'ext-' || n, \
         'given' || n || ' rowseed', 'given' || n, 'rowseed', true, \
         replace($2, '{MARK}', n), 1, 1, $4, $4, replace($3, '{MARK}', n)::jsonb \
         FROM (SELECT lpad(g::text, 7, '0') AS n FROM generate_series($5::bigint, $6::bigint) AS g) AS numbers"
    );
    let now = chrono::Utc::now().timestamp_micros();
    let mut start = from;
    let end = from + users;
    while start < end {
        let last = (start + BATCH).min(end) - 1;
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &sql,
            [
                org.into(),
                document.clone().into(),
                search.clone().into(),
                now.into(),
                (start as i64).into(),
                (last as i64).into(),
            ],
        ))
        .await
        .with_context(|| format!("rows {start}..={last}"))?;
        start = last + 1;
        eprintln!("{start} of {end}");
    }
    db.execute_unprepared("ANALYZE scim_users").await?;
    Ok(org)
}
