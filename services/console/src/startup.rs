//! Builds the console from its settings: the admin APIs' client, the
//! in-memory sessions, the sign-in throttle; and serves it standalone.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use service_kit::admin_key::AdminKey;
use service_kit::auth_throttle::AuthThrottle;
use service_kit::shutdown::{BackgroundTasks, Serving};

use crate::config::{ConsoleSettings, Settings};
use crate::domain::service::Console;
use crate::domain::sessions::{SessionPolicy, Sessions};
use crate::inbound::http::{self, ConsoleState};
use crate::outbound::Live;
use crate::outbound::admin_api::{AdminApis, ServiceUrls};
use crate::outbound::clock::SystemClock;
use crate::outbound::secrets::RandomSecrets;
use crate::outbound::sessions::MemorySessions;

/// The console's state, ready to mount with [`configure`].
pub fn build(
    settings: &ConsoleSettings,
    admin_key: &str,
) -> anyhow::Result<web::Data<ConsoleState<Live>>> {
    let platform = AdminApis::new(
        ServiceUrls {
            gateway: settings.gateway_url.clone(),
            identity: settings.identity_url.clone(),
            team: settings.team_url.clone(),
            licensing: settings.licensing_url.clone(),
        },
        admin_key.to_owned(),
        Duration::from_millis(settings.request_timeout_ms),
    )?;
    let policy = SessionPolicy {
        idle: chrono::Duration::minutes(settings.session_idle_minutes.max(1)),
        absolute: chrono::Duration::minutes(settings.session_absolute_minutes.max(1)),
    };
    Ok(web::Data::new(ConsoleState {
        console: Console::new(platform, SystemClock),
        sessions: Sessions::new(
            MemorySessions::default(),
            SystemClock,
            RandomSecrets,
            AdminKey::new(admin_key),
            policy,
        ),
        sign_in_throttle: AuthThrottle::new(
            settings.sign_in_failure_limit,
            Duration::from_secs(settings.sign_in_failure_window_secs),
        ),
        scim_base_url: settings.scim_base_url.clone(),
        jaeger_url: settings
            .jaeger_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| u.trim_end_matches('/').to_owned()),
        secure_cookies: settings.secure_cookies,
    }))
}

/// Mounts the console at `/console`.
pub fn configure(
    state: web::Data<ConsoleState<Live>>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    http::configure(state)
}

/// The console as its own service: `/console`, `/healthz`, `/readyz`.
pub fn serve(settings: &Settings) -> anyhow::Result<Serving> {
    let admin_key = settings
        .admin_key
        .as_ref()
        .context("SCIM_ADMIN_KEY is not set: signing in and the admin APIs need it")?;
    let state = build(&settings.console, admin_key.expose())?;
    let listener = TcpListener::bind((settings.http.host.as_str(), settings.http.port))
        .with_context(|| format!("binding {}:{}", settings.http.host, settings.http.port))?;
    let port = listener.local_addr()?.port();
    let console = configure(state);
    let server = HttpServer::new(move || {
        App::new()
            .configure(console.clone())
            .route("/healthz", web::get().to(ok))
            .route("/readyz", web::get().to(ok))
    })
    .listen(listener)?;
    Ok(Serving::new(port, server.run(), BackgroundTasks::new()))
}

async fn ok() -> &'static str {
    "ok"
}
