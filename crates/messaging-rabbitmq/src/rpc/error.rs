//! What a call sees when it gets no reply.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Broker unreachable, connection lost, request refused or unroutable.
    #[error("RPC unavailable: {0}")]
    Unavailable(String),
    /// No reply within the call's timeout.
    #[error("RPC timed out")]
    Timeout,
}
