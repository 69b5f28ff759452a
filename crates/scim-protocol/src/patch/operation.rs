//! A PATCH request as parsed: its operations, what each targets, and the
//! member changes taken out of a group's request.

use serde_json::Value;

use crate::ast::PatchPath;

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOp {
    Add,
    Remove,
    Replace,
}

/// What an operation's `path` designates.
#[derive(Debug, Clone, PartialEq)]
pub enum PatchTarget {
    /// No `path`: the value is an object of attributes.
    Resource,
    /// An attribute path, bound to the resource type (canonical names).
    Path(PatchPath),
    /// A path that is only an extension schema URN: that extension's object.
    Extension(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOp,
    pub target: PatchTarget,
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// A change to a group's `members`, in member ids as the client sent them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}
