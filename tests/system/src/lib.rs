//! Harness for the system tests (`tests/distributed.rs` and others): the service
//! binaries started as separate processes with the environment
//! `docker-compose.yml` gives them (read from the file itself, so the test
//! and the compose file cannot drift apart), and an OTLP/HTTP receiver
//! standing in for the OpenTelemetry collector.

pub mod cluster;
pub mod deployment;
pub mod idp;
pub mod spy;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;

/// The `environment:` of `service` in a compose file, with YAML anchors
/// (`&name` / `*name`) and `${VAR}`, `${VAR:-default}`, `${VAR:?message}`
/// resolved through `variable`. Only the shapes our compose file uses are
/// understood: one `KEY: value` a line.
pub fn compose_environment(
    compose: &str,
    service: &str,
    variable: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut anchors = HashMap::new();
    for line in compose.lines() {
        if let Some((_, rest)) = line.split_once(": &")
            && !line.starts_with(' ')
            && let Some((name, value)) = rest.split_once(' ')
        {
            anchors.insert(name.to_owned(), unquote(value.trim()).to_owned());
        }
    }
    let header = format!("  {service}:");
    let mut lines = compose.lines().skip_while(|l| *l != "services:");
    if lines.by_ref().find(|l| *l == header).is_none() {
        return Err(format!("no service {service} in the compose file"));
    }
    let mut in_environment = false;
    let mut environment = Vec::new();
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent <= 2 {
            break;
        }
        if indent == 4 {
            in_environment = text == "environment:";
            continue;
        }
        if !in_environment {
            continue;
        }
        let (key, value) = text
            .split_once(':')
            .ok_or_else(|| format!("not `KEY: value`: {line}"))?;
        let value = value.trim();
        let value = match value.strip_prefix('*') {
            Some(alias) => anchors
                .get(alias)
                .cloned()
                .ok_or_else(|| format!("unknown anchor *{alias}"))?,
            None => unquote(value).to_owned(),
        };
        environment.push((key.trim().to_owned(), interpolate(&value, variable)?));
    }
    Ok(environment)
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn interpolate(value: &str, variable: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {value}"))?;
        let expression = &rest[start + 2..start + end];
        let resolved = if let Some((name, default)) = expression.split_once(":-") {
            variable(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        } else if let Some((name, message)) = expression.split_once(":?") {
            variable(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name}: {message}"))?
        } else {
            variable(expression).unwrap_or_default()
        };
        out.push_str(&resolved);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A binary of this workspace, built next to the test executable
/// (`cargo test --workspace` builds every service's binary before running
/// tests, since each has integration tests of its own).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join(name))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` (or the whole `cargo test --workspace`) first",
        path.display()
    );
    path
}

/// A service binary running as its own process, its output in a log file;
/// killed when dropped.
pub struct ServiceProcess {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl ServiceProcess {
    /// Starts `binary` with exactly `environment` (plus `PATH`), in `dir`.
    pub fn start(
        name: &str,
        binary: &Path,
        environment: &[(String, String)],
        dir: &Path,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let log = dir.join(format!("{name}.log"));
        // Appended to: a restarted process keeps its predecessor's lines.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let err = out.try_clone()?;
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Its log so far (stdout and stderr).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// SIGKILL: no shutdown, no acks, no commit in flight.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `grace`).
    pub fn stop(&mut self, grace: std::time::Duration) {
        test_support::process::terminate(&mut self.child, grace);
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One span as an OTLP exporter sent it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: HashMap<String, String>,
}

/// Receives OTLP/HTTP protobuf exports (`POST /v1/traces`) like a collector.
#[derive(Clone, Default)]
pub struct OtlpReceiver {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    /// Listens on 127.0.0.1 (a free port); returns the receiver and the
    /// endpoint for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn start() -> std::io::Result<(Self, String)> {
        let receiver = Self::default();
        let state = receiver.clone();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .route("/v1/traces", web::post().to(export))
        })
        .workers(1)
        .listen(listener)?
        .run();
        actix_web::rt::spawn(server);
        Ok((receiver, endpoint))
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

async fn export(receiver: web::Data<OtlpReceiver>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref())
            .map(text)
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| {
                            (
                                kv.key.clone(),
                                kv.value.as_ref().map(text).unwrap_or_default(),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    receiver
        .spans
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .extend(received);
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .finish()
}

fn text(value: &opentelemetry_proto::tonic::common::v1::AnyValue) -> String {
    match &value.value {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = r#"
x-amqp: &amqp amqp://guest:guest@rabbitmq:5672/%2f

services:
  postgres:
    environment:
      POSTGRES_USER: postgres
  gateway:
    build:
      context: .
    environment:
      SCIM_AMQP__URL: *amqp
      SCIM_ADMIN_KEY: ${SCIM_ADMIN_KEY:?set SCIM_ADMIN_KEY}
      SCIM_BOOTSTRAP__TOKEN: ${SCIM_BOOTSTRAP_TOKEN:-}
      SCIM_LOG__FORMAT: json
      SCIM_HTTP__PORT: "8081"
    ports:
      - "8080:8080"
  team:
    environment:
      SCIM_HTTP__PORT: "8082"
"#;

    #[test]
    fn reads_one_service_environment_with_anchors_and_variables() {
        let variables = |name: &str| (name == "SCIM_ADMIN_KEY").then(|| "k".to_owned());
        let environment = compose_environment(COMPOSE, "gateway", &variables).unwrap_or_default();
        assert_eq!(
            environment,
            vec![
                (
                    "SCIM_AMQP__URL".to_owned(),
                    "amqp://guest:guest@rabbitmq:5672/%2f".to_owned()
                ),
                ("SCIM_ADMIN_KEY".to_owned(), "k".to_owned()),
                ("SCIM_BOOTSTRAP__TOKEN".to_owned(), String::new()),
                ("SCIM_LOG__FORMAT".to_owned(), "json".to_owned()),
                ("SCIM_HTTP__PORT".to_owned(), "8081".to_owned()),
            ]
        );
        let missing = compose_environment(COMPOSE, "gateway", &|_| None);
        assert_eq!(
            missing,
            Err("SCIM_ADMIN_KEY: set SCIM_ADMIN_KEY".to_owned())
        );
        assert!(compose_environment(COMPOSE, "nowhere", &variables).is_err());
    }
}
