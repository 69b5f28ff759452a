//! W3C trace context (`traceparent`) between the processes of a provisioning
//! flow: the gateway writes the traceparent of the HTTP request span into the
//! journal with each event; the relay sends it as an AMQP header (the
//! in-process bus hands it over with the event); the consumer opens its span
//! as a child of it. One trace then covers the request and every service's
//! handling of its events.
//!
//! Spans only carry OpenTelemetry contexts when the tracing subscriber has the
//! `tracing-opentelemetry` layer (see `service_kit::telemetry`); without it
//! these functions find no context and do nothing.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The AMQP header (and journal column) name.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The `traceparent` naming `span` as the parent, if it belongs to a trace.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the trace `traceparent` names (ignored when absent
/// or malformed).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}
