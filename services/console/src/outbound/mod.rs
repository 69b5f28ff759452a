//! The console's adapters: the admin APIs over HTTP (the journal, replay and
//! dead letters among them), the in-memory session
//! store, the clock and the random source.

pub mod admin_api;
pub mod clock;
pub mod directory_api;
pub mod health_api;
pub mod journal_api;
pub mod secrets;
pub mod sessions;

/// The adapters the console runs with, in the embedded process and as its
/// own service.
pub struct Live;

impl crate::domain::ports::Ports for Live {
    type Platform = admin_api::AdminApis;
    type Sessions = sessions::MemorySessions;
    type Clock = clock::SystemClock;
    type Secrets = secrets::RandomSecrets;
}
