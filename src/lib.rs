//! Kluis, all in one place: the domain rules, the encrypted store, the grant API server and the
//! business SDK.
//! The crates under `crates/` are the real code; this package holds the end-to-end tests and
//! examples.

pub use kluis_client as client;
pub use kluis_core as core;
pub use kluis_server as server;
pub use kluis_store as store;
