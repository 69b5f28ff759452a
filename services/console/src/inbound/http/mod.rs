//! The console's routes under `/console`, its shared state, the security
//! headers every response carries, and the one place errors become pages
//! with statuses.

pub mod assets;
mod auth;
mod directory;
mod journal;
mod pages;
mod session;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};
use service_kit::auth_throttle::AuthThrottle;

use super::views;
use crate::domain::ports::{PlatformError, Ports, SessionStoreError};
use crate::domain::service::{Console, ConsoleError};
use crate::domain::sessions::Sessions;

/// No script, style, image or frame from anywhere but the console itself;
/// no inline script or style at all; never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub struct ConsoleState<A: Ports> {
    pub console: Console<A>,
    pub sessions: Sessions<A>,
    /// Failed sign-ins per address (the gateway's throttle of failed SCIM
    /// authentication).
    pub sign_in_throttle: AuthThrottle,
    /// The tenant URL shown; `None`: the address the console was reached
    /// at, with `/scim/v2`.
    pub scim_base_url: Option<String>,
    /// `Secure` cookies whatever the request says.
    pub secure_cookies: bool,
    /// Jaeger's UI, without a trailing `/`: an event's trace links there.
    pub jaeger_url: Option<String>,
}

/// What went wrong, as the page the operator gets.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("sign in first")]
    SignIn,
    #[error(
        "This form has expired or did not come from this console. Reload the page and try again."
    )]
    Forbidden,
    #[error("Too many failed sign-ins from this address. Try again in {} seconds.", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("There is no such page or organization.")]
    NotFound,
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Sessions(#[from] SessionStoreError),
}

impl From<PlatformError> for PageError {
    fn from(e: PlatformError) -> Self {
        PageError::Console(ConsoleError::Platform(e))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn => StatusCode::SEE_OTHER,
            PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::NotFound
            | PageError::Console(ConsoleError::Platform(PlatformError::NotFound)) => {
                StatusCode::NOT_FOUND
            }
            PageError::Console(
                ConsoleError::Invalid(_) | ConsoleError::Platform(PlatformError::Refused(_)),
            ) => StatusCode::BAD_REQUEST,
            PageError::Console(
                ConsoleError::Platform(PlatformError::Unavailable { .. })
                | ConsoleError::SeatsNotSet(_),
            )
            | PageError::Sessions(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let PageError::SignIn = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/sign-in"))
                .finish();
        }
        let (title, message) = match self {
            PageError::Console(ConsoleError::Platform(e @ PlatformError::Unavailable { .. })) => {
                tracing::error!(error = ?anyhow_chain(e), "console: a service is unavailable");
                ("Service unavailable", format!("{e}; try again shortly."))
            }
            PageError::Sessions(e) => {
                tracing::error!(error = %e, "console: sessions unavailable");
                (
                    "Unavailable",
                    "Sessions are unavailable; try again shortly.".to_owned(),
                )
            }
            PageError::Throttled(_) => ("Too many attempts", self.to_string()),
            PageError::Forbidden => ("Refused", self.to_string()),
            PageError::NotFound
            | PageError::Console(ConsoleError::Platform(PlatformError::NotFound)) => {
                ("Not found", PageError::NotFound.to_string())
            }
            other => ("Could not do that", other.to_string()),
        };
        let mut response = HttpResponse::build(status);
        if let PageError::Throttled(wait) = self {
            response.insert_header((header::RETRY_AFTER, wait.as_secs().max(1).to_string()));
        }
        html(response, views::error_page(title, &message, None))
    }
}

fn anyhow_chain(e: &PlatformError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A page as the response's body.
pub fn html(mut response: actix_web::HttpResponseBuilder, page: maud::Markup) -> HttpResponse {
    response
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// The headers of every console response; a response may set its own
/// `Cache-Control` (the static files do).
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .add((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .add((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=()",
        ))
}

/// Mounts the console at `/console` with its state.
pub fn configure<A: Ports>(
    state: web::Data<ConsoleState<A>>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg: &mut web::ServiceConfig| {
        let org = "/organizations/{org}";
        cfg.service(
            web::scope("/console")
                .app_data(state.clone())
                .wrap(security_headers())
                .route("", web::get().to(pages::home::<A>))
                .route("/", web::get().to(pages::home::<A>))
                .route("/assets/{name}", web::get().to(assets::serve))
                .service(
                    web::resource("/sign-in")
                        .route(web::get().to(auth::sign_in_page::<A>))
                        .route(web::post().to(auth::sign_in::<A>)),
                )
                .route("/sign-out", web::post().to(auth::sign_out::<A>))
                .service(
                    web::resource("/organizations")
                        .route(web::get().to(pages::organizations::<A>))
                        .route(web::post().to(pages::create_organization::<A>)),
                )
                .route("/health", web::get().to(directory::health::<A>))
                .route(org, web::get().to(pages::connection::<A>))
                .route(
                    &format!("{org}/accounts"),
                    web::get().to(directory::accounts::<A>),
                )
                .route(
                    &format!("{org}/accounts/{{account}}"),
                    web::get().to(directory::account::<A>),
                )
                .route(
                    &format!("{org}/accounts/{{account}}/access"),
                    web::post().to(directory::change_access::<A>),
                )
                .route(
                    &format!("{org}/teams"),
                    web::get().to(directory::teams::<A>),
                )
                .route(
                    &format!("{org}/teams/{{team}}"),
                    web::get().to(directory::team::<A>),
                )
                .route(
                    &format!("{org}/seats"),
                    web::get().to(directory::seats::<A>),
                )
                .route(
                    &format!("{org}/journal"),
                    web::get().to(journal::journal::<A>),
                )
                .route(
                    &format!("{org}/journal/replay"),
                    web::post().to(journal::replay::<A>),
                )
                .route(
                    &format!("{org}/journal/{{event}}"),
                    web::get().to(journal::event::<A>),
                )
                .route("/dead-letters", web::get().to(journal::dead_letters::<A>))
                .route(
                    "/dead-letters/{service}/requeue",
                    web::post().to(journal::requeue::<A>),
                )
                .route(&format!("{org}/test"), web::get().to(pages::test::<A>))
                .route(&format!("{org}/tokens"), web::post().to(pages::issue::<A>))
                .route(
                    &format!("{org}/tokens/{{token}}/rotate"),
                    web::post().to(pages::rotate::<A>),
                )
                .route(
                    &format!("{org}/tokens/{{token}}/revoke"),
                    web::post().to(pages::revoke::<A>),
                )
                .route(
                    &format!("{org}/default-role"),
                    web::post().to(pages::default_role::<A>),
                )
                .default_service(web::to(|| async { PageError::NotFound.error_response() })),
        );
    }
}
