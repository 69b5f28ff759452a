//! The session cookie, the sign-in form's own token cookie, and what every
//! page and form checks: a live session, and on forms its synchronizer
//! token.

use actix_web::HttpRequest;
use actix_web::http::header;
use chrono::Duration;

use super::{ConsoleState, PageError};
use crate::domain::models::{Session, SessionKey};
use crate::domain::ports::Ports;
use crate::domain::sessions;

pub const SESSION_COOKIE: &str = "console_session";
/// The sign-in form's token (double-submitted: cookie and form field),
/// before there is a session to tie it to.
pub const SIGN_IN_COOKIE: &str = "console_sign_in";
/// How long a sign-in form stays usable.
pub const SIGN_IN_FORM_SECONDS: i64 = 15 * 60;

/// A signed-in operator's request.
pub struct SignedIn {
    pub key: SessionKey,
    pub session: Session,
}

impl SignedIn {
    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    /// Refuses a form without the session's token.
    pub fn check_form(&self, presented: Option<&str>) -> Result<(), PageError> {
        if sessions::csrf_matches(&self.session, presented) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// The live session of the request, or `PageError::SignIn`.
pub async fn signed_in<A: Ports>(
    req: &HttpRequest,
    state: &ConsoleState<A>,
) -> Result<SignedIn, PageError> {
    let key = cookie(req, SESSION_COOKIE)
        .map(SessionKey::new)
        .ok_or(PageError::SignIn)?;
    let session = state
        .sessions
        .resume(&key)
        .await?
        .ok_or(PageError::SignIn)?;
    Ok(SignedIn { key, session })
}

/// Whether the cookie must be `Secure`: the request came over TLS (itself,
/// or `X-Forwarded-Proto: https` from the proxy in front), or the setting
/// says always.
pub fn secure<A: Ports>(req: &HttpRequest, state: &ConsoleState<A>) -> bool {
    state.secure_cookies || req.connection_info().scheme() == "https"
}

/// A `Set-Cookie` value scoped to the console, never readable by script,
/// never sent from another site.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.num_seconds().max(0),
        if secure { "; Secure" } else { "" }
    )
}
