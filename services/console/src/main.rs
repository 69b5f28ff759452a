//! The console service of the distributed deployment: loads its settings,
//! installs telemetry, serves `/console` — wiring only.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = console::config::Settings::load()?;
    let _telemetry = telemetry::init("console", &settings.log.filter, &settings.log.format);
    let serving = console::startup::serve(&settings)?;
    tracing::info!(port = serving.port(), "console listening");
    serving.run_until_stopped().await
}
