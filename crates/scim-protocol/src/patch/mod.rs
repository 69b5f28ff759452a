//! PATCH (RFC 7644 §3.5.2): parsing a PatchOp request and applying it to a
//! resource document, plus pulling group membership changes out of it.
//!
//! [`apply`] works on the canonical document (as produced by
//! [`crate::resource::normalize_for_write`]) and is all-or-nothing: on error the
//! document is untouched. It does not type-check deeply: the caller runs
//! `normalize_for_write` on the result, which validates and canonicalizes it
//! (and fixes `schemas` for extensions that appeared or disappeared).
//!
//! Choices where the RFC is silent or identity providers deviate from it:
//! - `op` is case-insensitive (Entra sends `"Replace"`, `"Add"`, `"Remove"`).
//! - `add` on a single-valued attribute sets it, like `replace` (Entra sends
//!   `Add` for `active`, `title`, …).
//! - `add` or `replace` on `attr[filter].sub` when no element matches creates
//!   one from the filter's `eq` terms plus the value: Entra adds a work e-mail
//!   with `emails[type eq "work"].value` on a user that has none. A filter that
//!   is not a conjunction of `eq` terms gives `noTarget` instead.
//! - `replace` of a single-valued complex attribute (or path-less with an object
//!   for it) replaces the sub-attributes given and keeps the others (§3.5.2.3).
//! - `remove` of `attr` with a `value` array removes just those values (Entra's
//!   member removal); `remove` with a filter that matches nothing is a no-op.
//! - `add` of a value a multi-valued attribute already holds (same `value`
//!   sub-attribute, or equal whole when it has none) adds no second value: the
//!   sub-attributes given are written into the one there (so re-adding an
//!   e-mail with `primary: true` makes it primary). `add` of `null` to a
//!   multi-valued attribute changes nothing; `replace` with `null` unassigns it.
//! - Immutable attributes (a member's `value`, `$ref`, `type`): `replace` or
//!   `remove` with a path naming one is a `mutability` error at parse; `add`
//!   may give one a value only where it has none or the same one (RFC 7644
//!   §3.5.2), else `mutability` from [`apply`].
//! - Removing a required attribute (`userName`, a group's `displayName`) is not
//!   refused here: the caller's `normalize_for_write` rejects the result
//!   (`invalidValue`), as it would a PUT without it.
//! - Setting `primary` to true on a value of a multi-valued attribute (by
//!   `add`, or by a value filter) sets it to false on the values that had it
//!   (§3.5.2).
//! - In a path-less value object, read-only attributes (`id`, `meta`, which Okta
//!   sends back), immutable ones being replaced, and unknown attributes are
//!   ignored; a path naming a read-only attribute is a `mutability` error, an
//!   unknown one `invalidPath`.
//! - A path that is an extension schema URN targets that extension's object.
//! - The value of an operation on a whole multi-valued attribute (`emails`,
//!   `members`) must be an array, and a value of a multi-valued complex
//!   attribute an object (`invalidValue`): a lone value is refused as on POST
//!   and PUT, never wrapped.
//! - At most [`MAX_OPERATIONS`] operations per request (`tooMany`); the
//!   values per operation and the strings in them are bounded by the
//!   caller's [`crate::limits::WriteLimits`].
//!
//! Layout: the request's types are in `operation.rs`;
//! [`parse`](PatchRequest::parse) reads a request and checks its paths
//! (`parse.rs`); [`apply`] changes a document (`apply.rs`, with the rules for
//! one value of a multi-valued attribute in `values.rs`); [`split_members`]
//! takes a group's member changes out (`members.rs`).

mod apply;
mod members;
mod operation;
mod parse;
mod values;

pub use apply::apply;
pub use members::split_members;
pub use operation::{
    MAX_OPERATIONS, MemberChange, PatchOp, PatchOperation, PatchRequest, PatchTarget,
};
