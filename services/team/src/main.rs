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
