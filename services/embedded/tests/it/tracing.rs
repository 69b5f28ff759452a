//! One trace covers the gateway's handling of a SCIM request, the relay's
//! publishing of the event it caused, and the identity, team and licensing
//! services' handling of that event — through the journal and the in-process
//! bus, and through the journal and RabbitMQ's `traceparent` header. Spans
//! are collected by an in-memory exporter, installed as the global tracing
//! subscriber: so each test runs alone in its own process of this binary
//! (`test_support::process::in_own_process`) and the other tests' spans
//! never mix with its own.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{Mode, Stack, user};
use actix_web::http::StatusCode;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use test_support::process::in_own_process;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("tracing-test");
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(tracer))
            .try_init()
            .expect("the only subscriber of this process");
        exporter
    })
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .map(|kv| &kv.value)
}

async fn one_trace_covers_request_and_consumer(mode: Mode) {
    let exporter = exporter();
    let Some(stack) = Stack::start(mode).await else {
        return;
    };
    let created = stack
        .scim(
            "POST",
            "/Users",
            Some(user("tia@example.com", "Tia", "Oh", "tia@example.com")),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let scim_id = created.body["id"].as_str().unwrap().to_owned();
    stack.settle().await;

    // Each service's span for this user's event…
    let text = |span: &SpanData, key: &str| attribute(span, key).map(|v| v.as_str().into_owned());
    let deadline = Instant::now() + Duration::from_secs(10);
    let consumes = loop {
        let spans = exporter.get_finished_spans().unwrap();
        let consumes: Vec<SpanData> = ["identity", "team", "licensing"]
            .iter()
            .filter_map(|service| {
                spans
                    .iter()
                    .find(|s| {
                        s.name == "consume"
                            && text(s, "aggregate_id").as_deref() == Some(scim_id.as_str())
                            // The distributed harness names its queues `<service>-test-<n>`.
                            && text(s, "service").is_some_and(|name| {
                                name == *service || name.starts_with(&format!("{service}-test-"))
                            })
                    })
                    .cloned()
            })
            .collect();
        if consumes.len() == 3 {
            break consumes;
        }
        assert!(
            Instant::now() < deadline,
            "consume spans for {scim_id}: {:?}",
            consumes
                .iter()
                .map(|s| text(s, "service"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // …is a child of the relay's publish span, itself a child of the
    // request's span: one trace.
    let spans = exporter.get_finished_spans().unwrap();
    let publish = spans
        .iter()
        .find(|s| s.name == "publish" && s.span_context.span_id() == consumes[0].parent_span_id)
        .unwrap_or_else(|| {
            panic!(
                "the consume span's parent is not a publish span: {:?}",
                consumes[0]
            )
        });
    assert_eq!(
        text(publish, "aggregate_id").as_deref(),
        Some(scim_id.as_str())
    );
    for consume in &consumes {
        assert_eq!(
            consume.parent_span_id,
            publish.span_context.span_id(),
            "{consume:?}"
        );
    }
    let request = spans
        .iter()
        .find(|s| s.name == "http request" && s.span_context.span_id() == publish.parent_span_id)
        .unwrap_or_else(|| panic!("the publish span's parent is not a request span: {publish:?}"));
    for span in consumes.iter().chain([publish]) {
        assert_eq!(
            request.span_context.trace_id(),
            span.span_context.trace_id()
        );
    }
    assert_eq!(
        attribute(request, "url.path")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("/scim/v2/Users")
    );
    assert_eq!(
        attribute(request, "http.method")
            .map(|v| v.as_str().into_owned())
            .as_deref(),
        Some("POST")
    );
    // No personal data in span attributes.
    for span in consumes.iter().chain([publish, request]) {
        for kv in &span.attributes {
            assert!(!kv.value.as_str().contains("tia@example.com"), "{kv:?}");
        }
    }
    stack.stop().await;
}

#[actix_web::test]
async fn one_trace_through_the_in_process_bus() {
    if in_own_process("tracing::one_trace_through_the_in_process_bus") {
        one_trace_covers_request_and_consumer(Mode::Embedded).await;
    }
}

#[actix_web::test]
async fn one_trace_through_rabbitmq() {
    if in_own_process("tracing::one_trace_through_rabbitmq") {
        one_trace_covers_request_and_consumer(Mode::Distributed).await;
    }
}
