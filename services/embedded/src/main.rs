/// jemalloc with background purging gives a peak's memory back within
/// seconds (glibc's malloc kept it: docs/benchmarks.md, issue 22).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use scim_embedded::{EmbeddedApp, EmbeddedSettings, admin_key_file};
use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = EmbeddedSettings::load()?;
    let gateway = &settings.gateway;
    let _telemetry = telemetry::init("scim-embedded", &gateway.log.filter, &gateway.log.format);
    let app = EmbeddedApp::build(&settings).await?;
    if let Some(demo) = &app.demo {
        println!("SCIM base URL : {}", demo.scim_base_url);
        println!("Bearer token  : {}", demo.token);
        println!("Organization  : {}", demo.org_id);
    }
    if let Some(key) = &app.new_admin_key {
        println!("Admin key     : {key}");
        println!(
            "                (kept in {}; set SCIM_ADMIN_KEY to choose your own)",
            admin_key_file(&gateway.bootstrap.data_dir).display()
        );
    }
    tracing::info!(
        port = app.serving.port(),
        "embedded process listening (SCIM and admin APIs)"
    );
    app.serving.run_until_stopped().await
}
