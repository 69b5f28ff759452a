use identity::config::Settings;
use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let _telemetry = telemetry::init(
        "identity",
        &settings.common.log.filter,
        &settings.common.log.format,
    );
    identity::startup::run_standalone(settings).await
}
