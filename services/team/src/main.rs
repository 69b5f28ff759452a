/// jemalloc with background purging gives a peak's memory back within
/// seconds (glibc's malloc kept it: docs/benchmarks.md, issue 22).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use service_kit::telemetry;
use team::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = telemetry::init(
        "team",
        &settings.common.log.filter,
        &settings.common.log.format,
    );
    team::startup::run_standalone(settings).await
}
