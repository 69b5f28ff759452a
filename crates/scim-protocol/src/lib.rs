//! SCIM 2.0 protocol core (RFC 7643, RFC 7644): schemas, the filter and PATCH-path
//! grammars, an in-memory filter evaluator, the PATCH engine, attribute projection,
//! and the protocol's message types. Pure: no I/O, no web framework.

pub mod ast;
pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod limits;
pub mod messages;
pub mod patch;
pub mod projection;
pub mod resource;
pub mod schema;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
pub use error::{ErrorKind, ProtocolError, ProtocolResult};
