/// jemalloc with background purging gives a peak's memory back within
/// seconds (glibc's malloc kept it: docs/benchmarks.md, issue 22).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use scim_gateway::{config::Settings, startup::Application};
use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = telemetry::init("scim-gateway", &settings.log.filter, &settings.log.format);
    let app = Application::build(&settings).await?;
    if let Some(demo) = &app.demo {
        println!("SCIM base URL : {}", demo.scim_base_url);
        println!("Bearer token  : {}", demo.token);
        println!("Organization  : {}", demo.org_id);
    }
    tracing::info!(port = app.serving.port(), "scim-gateway listening");
    app.serving.run_until_stopped().await?;
    Ok(())
}
