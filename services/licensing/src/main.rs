use licensing::config::Settings;
use service_kit::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    telemetry::init(&settings.common.log.filter, &settings.common.log.format);
    licensing::startup::run_standalone(settings).await
}
