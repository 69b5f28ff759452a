//! Log output: JSON lines for machines, pretty for people. (OpenTelemetry
//! export comes with the distributed deployment.)

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = fmt().with_env_filter(filter).with_target(true);
    // A second init (tests) keeps the first subscriber.
    let _ = if format.eq_ignore_ascii_case("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
