use service_kit::telemetry;
use team::config::Settings;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.common.log.filter, &settings.common.log.format);
    team::startup::run_standalone(settings).await
}
