//! Bearer tokens: `scim_` and 64 hex digits (256 random bits).

use rand::RngExt;

use crate::domain::models::BearerToken;
use crate::domain::ports::TokenSource;

pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("scim_{hex}")
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RandomTokens;

impl TokenSource for RandomTokens {
    fn new_token(&self) -> BearerToken {
        BearerToken::new(generate_token())
    }
}
