//! The sign-in page: the admin key, nothing else.

use maud::{Markup, html};

use super::{Chrome, alert, csrf_field, page};

pub fn sign_in(form_token: &str, error: Option<&str>) -> Markup {
    page(
        "Sign in",
        &Chrome { csrf: None },
        html! {
            h1 { "Sign in" }
            @if let Some(error) = error { (alert(error)) }
            form method="post" action="/console/sign-in" class="card" {
                (csrf_field(form_token))
                label for="admin-key" { "Admin key" }
                p class="hint" id="admin-key-hint" {
                    "The platform's admin key (SCIM_ADMIN_KEY, or data/admin-key of the embedded process)."
                }
                input id="admin-key" name="admin_key" type="password" required
                    autocomplete="current-password" aria-describedby="admin-key-hint" autofocus;
                button type="submit" { "Sign in" }
            }
        },
    )
}
