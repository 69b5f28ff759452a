//! Log output (JSON lines for machines, pretty for people) and trace
//! context: every span carries an OpenTelemetry context, so the gateway can
//! hand the request's `traceparent` to the consumers of its events (see the
//! `trace-context` crate). Export to a collector comes with the distributed
//! deployment; until then spans end in the logs only.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let json = format.eq_ignore_ascii_case("json");
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer("scim-platform");
    opentelemetry::global::set_tracer_provider(provider);
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json.then(|| fmt::layer().json().with_target(true)))
        .with((!json).then(|| fmt::layer().with_target(true)))
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
}
