//! The access catalogue's roles, shared by identity (which grants them) and
//! the gateway (whose connections name the role new accounts get, carried by
//! `user.provisioned`). Both read it from `access.roles`
//! (`SCIM_ACCESS__ROLES`); this is the default of both, and a deployment
//! that changes it sets the same value for both services.

/// The default roles, comma-separated as `access.roles` takes them.
pub const DEFAULT_ROLES: &str = "owner,admin,member,viewer";

/// The role of new accounts when an organization does not choose one.
pub const DEFAULT_ROLE: &str = "member";

/// `access.roles` as a list: comma-separated, blanks trimmed and dropped.
pub fn role_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_role_is_in_the_default_catalogue() {
        assert!(role_list(DEFAULT_ROLES).iter().any(|r| r == DEFAULT_ROLE));
        assert_eq!(role_list(" a, ,b "), vec!["a", "b"]);
    }
}
