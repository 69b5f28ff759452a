//! Signing in with the admin key and signing out. A wrong key never creates
//! a session; an address that keeps failing is refused unchecked for the
//! rest of its window. The key is never logged.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Duration;
use serde::Deserialize;

use super::session::{
    SESSION_COOKIE, SIGN_IN_COOKIE, SIGN_IN_FORM_SECONDS, cookie, secure, set_cookie, signed_in,
};
use super::{ConsoleState, PageError, html};
use crate::domain::models::SessionKey;
use crate::domain::ports::Ports;
use crate::domain::sessions::{SignInError, secrets_match};
use crate::inbound::views;

/// A sign-in page with a fresh form token in its cookie and its field.
fn sign_in_form<A: Ports>(
    req: &HttpRequest,
    state: &ConsoleState<A>,
    mut response: actix_web::HttpResponseBuilder,
    error: Option<&str>,
) -> HttpResponse {
    let token = state.sessions.new_secret();
    response.insert_header((
        header::SET_COOKIE,
        set_cookie(
            SIGN_IN_COOKIE,
            &token,
            Duration::seconds(SIGN_IN_FORM_SECONDS),
            secure(req, state),
        ),
    ));
    html(response, views::sign_in::sign_in(&token, error))
}

pub async fn sign_in_page<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
) -> HttpResponse {
    sign_in_form(&req, &state, HttpResponse::Ok(), None)
}

#[derive(Deserialize)]
pub struct SignInForm {
    admin_key: Option<String>,
    csrf: Option<String>,
}

pub async fn sign_in<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, PageError> {
    let form_token_matches = match (cookie(&req, SIGN_IN_COOKIE), form.csrf.as_deref()) {
        (Some(expected), Some(presented)) => secrets_match(&expected, presented),
        _ => false,
    };
    if !form_token_matches {
        return Ok(sign_in_form(
            &req,
            &state,
            HttpResponse::Forbidden(),
            Some("The sign-in form expired. Enter the admin key again."),
        ));
    }
    let client = req.peer_addr().map(|peer| peer.ip());
    if let Some(wait) = client.and_then(|ip| state.sign_in_throttle.waiting(ip)) {
        return Err(PageError::Throttled(wait));
    }
    match state
        .sessions
        .sign_in(form.admin_key.as_deref().unwrap_or(""))
        .await
    {
        Ok((key, _)) => {
            tracing::info!("console: an operator signed in");
            let lifetime = state.sessions.policy().absolute;
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/console/organizations"))
                .insert_header((
                    header::SET_COOKIE,
                    set_cookie(SESSION_COOKIE, key.expose(), lifetime, secure(&req, &state)),
                ))
                .finish())
        }
        Err(SignInError::WrongKey) => {
            tracing::warn!("console: a sign-in with a wrong admin key");
            if let Some(wait) = client.and_then(|ip| state.sign_in_throttle.failed(ip)) {
                return Err(PageError::Throttled(wait));
            }
            Ok(sign_in_form(
                &req,
                &state,
                HttpResponse::Unauthorized(),
                Some("That is not the admin key."),
            ))
        }
        Err(SignInError::Store(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: Option<String>,
}

pub async fn sign_out<A: Ports>(
    req: HttpRequest,
    state: web::Data<ConsoleState<A>>,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, PageError> {
    let signed_in = signed_in(&req, &state).await?;
    signed_in.check_form(form.csrf.as_deref())?;
    sign_out_key(&state, &signed_in.key).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/sign-in"))
        .insert_header((
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", Duration::zero(), secure(&req, &state)),
        ))
        .finish())
}

async fn sign_out_key<A: Ports>(
    state: &ConsoleState<A>,
    key: &SessionKey,
) -> Result<(), PageError> {
    state.sessions.sign_out(key).await?;
    tracing::info!("console: an operator signed out");
    Ok(())
}
