//! Logs and traces.
//!
//! Logs: JSON lines for machines (`log.format = "json"`, each line carrying
//! the `trace_id` and `span_id` of the span it was written in) or text for
//! people. Traces: every span carries an OpenTelemetry context, so the
//! gateway can hand the request's `traceparent` to the consumers of its events
//! (see the `trace-context` crate). Spans are exported over OTLP
//! (HTTP/protobuf) when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` variable is set; without one there is
//! no exporter at all, hence nothing to fail and no noise.
//!
//! A panic is logged as an `error` line with its location and, only when it
//! is a fixed text, its message: a formatted message may quote a value (a
//! user name in an `expect`'s `{:?}`, say), so it is withheld.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt as subscriber_fmt};

/// Flushes exported spans when dropped: keep it alive for the life of `main`.
#[must_use = "dropping the guard stops span export"]
pub struct Telemetry {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if self.exporting
            && let Err(error) = self.provider.shutdown()
        {
            // The collector may be gone by now; say so, never fail the exit.
            tracing::warn!(%error, "flushing spans to the OTLP collector failed");
        }
    }
}

/// Where spans go, from the standard OpenTelemetry variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    None,
    /// OTLP over HTTP/protobuf; the exporter reads the endpoint, headers and
    /// timeout from the `OTEL_EXPORTER_OTLP_*` variables itself.
    Otlp,
}

impl Export {
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim() == "true")
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim() == "none");
        if !disabled
            && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        {
            Export::Otlp
        } else {
            Export::None
        }
    }
}

/// Installs the log output and the tracer. `service` names the process in
/// exported traces unless `OTEL_SERVICE_NAME` says otherwise.
pub fn init(service: &str, filter: &str, format: &str) -> Telemetry {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let json = format.eq_ignore_ascii_case("json");
    let export = Export::from_env(|name| std::env::var(name).ok());
    let service_name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| service.to_owned());
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service_name).build());
    let mut exporter_error = None;
    if export == Export::Otlp {
        if let Some(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL")
            .ok()
            .filter(|p| p != "http/protobuf")
        {
            exporter_error = Some(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not built in; exporting over http/protobuf"
            ));
        }
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(error) => exporter_error = Some(format!("no OTLP exporter: {error}")),
        }
    }
    let provider = builder.build();
    let tracer = provider.tracer("scim-platform");
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    // A second init (tests) keeps the first subscriber.
    // Boxed, not `Option<Layer>`: an `Option` layer does not pass on
    // `on_register_dispatch`, which the JSON lines need.
    let output: Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync> = if json {
        Box::new(json_lines(std::io::stdout))
    } else {
        Box::new(subscriber_fmt::layer().with_target(true))
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    std::panic::set_hook(Box::new(log_panic));
    if let Some(error) = exporter_error {
        tracing::warn!("{error}");
    }
    if export == Export::Otlp {
        tracing::info!("exporting traces over OTLP");
    }
    Telemetry {
        provider,
        exporting: export == Export::Otlp,
    }
}

/// What the process logs of a panic: where, and its message only when it
/// is a fixed text (no value formatted into it); the backtrace when
/// `RUST_BACKTRACE` asks for one (frames, no values).
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| backtrace.to_string());
    tracing::error!(
        panic.location = %location,
        panic.message = panic_message(info.payload()),
        panic.backtrace = backtrace,
        "panicked"
    );
}

/// A panic's message when it is a fixed text (`panic!("literal")`), else a
/// placeholder: a formatted message may carry a value.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &'static str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .unwrap_or("(formatted message withheld: it may quote a value)")
}

/// One JSON object a line: `timestamp`, `level`, `target`, `fields` (with
/// `message`), the current `span` (its name and fields) and, inside a trace,
/// `trace_id` and `span_id` — the ids a trace UI finds the request by.
struct JsonLines {
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

/// The JSON log layer (see [`JsonLines`]) writing to `writer`.
fn json_lines<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = Arc::new(OnceLock::new());
    DispatchSlot(dispatch.clone()).and_then(
        subscriber_fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines { dispatch })
            .with_writer(writer),
    )
}

/// Keeps (weakly) the dispatcher the subscriber is installed as, for
/// [`JsonLines`] to read spans' OpenTelemetry contexts through.
struct DispatchSlot(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for DispatchSlot {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        let mut fields = JsonVisitor::default();
        event.record(&mut fields);
        line.insert("fields".into(), Value::Object(fields.0));
        let parent = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = parent {
            let mut described = Map::new();
            described.insert("name".into(), span.name().into());
            if let Some(Ok(Value::Object(span_fields))) = span
                .extensions()
                .get::<FormattedFields<N>>()
                .map(|f| serde_json::from_str::<Value>(f.as_str()))
            {
                described.extend(span_fields);
            }
            line.insert("span".into(), Value::Object(described));
            // The OpenTelemetry layer keeps the span's context; asking for it
            // needs the span's extensions unlocked (released above).
            let id = span.id();
            drop(span);
            // Not `dispatcher::get_default`: inside an event it is the no-op
            // dispatcher (re-entrancy guard).
            let context = self
                .dispatch
                .get()
                .and_then(WeakDispatch::upgrade)
                .and_then(|dispatch| tracing_opentelemetry::get_otel_context(&id, &dispatch));
            if let Some(context) = context {
                let span_context = context.span().span_context().clone();
                if span_context.is_valid() {
                    line.insert(
                        "trace_id".into(),
                        span_context.trace_id().to_string().into(),
                    );
                    line.insert("span_id".into(), span_context.span_id().to_string().into());
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[derive(Default)]
struct JsonVisitor(Map<String, Value>);

impl Visit for JsonVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_trace_and_span_ids() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;

        let buffer = Buffer::default();
        let writer = buffer.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(json_lines(move || writer.clone()))
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!(outside = true, "no span");
            let span = tracing::info_span!("consume", event_id = "e-1", attempt = 2);
            let _entered = span.enter();
            tracing::warn!(error = "boom", "event failed");
            let context = span.context();
            let ids = context.span().span_context().clone();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let text = String::from_utf8(buffer.0.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "no span");
        assert_eq!(lines[0]["fields"]["outside"], true);
        assert!(lines[0].get("trace_id").is_none(), "{text}");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["fields"]["error"], "boom");
        assert_eq!(lines[1]["span"]["name"], "consume");
        assert_eq!(lines[1]["span"]["event_id"], "e-1");
        assert_eq!(lines[1]["span"]["attempt"], 2);
        assert_eq!(lines[1]["trace_id"], Value::String(trace_id.clone()));
        assert_eq!(lines[1]["span_id"], Value::String(span_id));
        assert_eq!(trace_id.len(), 32);
        assert_ne!(trace_id, "0".repeat(32));
    }

    #[test]
    fn a_panics_formatted_message_is_withheld_a_fixed_one_kept() {
        let fixed: Box<dyn std::any::Any + Send> = Box::new("already borrowed");
        assert_eq!(super::panic_message(&*fixed), "already borrowed");
        let formatted: Box<dyn std::any::Any + Send> =
            Box::new(format!("no account for {}", "marker@example.com"));
        let message = super::panic_message(&*formatted);
        assert!(!message.contains("marker"), "{message}");
    }

    #[test]
    fn exports_only_when_an_otlp_endpoint_is_set() {
        assert_eq!(Export::from_env(env(&[])), Export::None);
        assert_eq!(
            Export::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])),
            Export::None
        );
        assert_eq!(
            Export::from_env(env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])),
            Export::Otlp
        );
        assert_eq!(
            Export::from_env(env(&[(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://c:4318/v1/traces"
            )])),
            Export::Otlp
        );
        assert_eq!(
            Export::from_env(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_TRACES_EXPORTER", "none")
            ])),
            Export::None
        );
        assert_eq!(
            Export::from_env(env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true")
            ])),
            Export::None
        );
    }
}
