//! The NATS client protocol: parsing, wire errors and the INFO/CONNECT documents.
//! Nothing here does I/O, so all of it can be unit-tested, fuzzed and benchmarked alone.

pub mod errors;
pub mod info;
pub mod parser;

pub use errors::{CloseReason, ProtoError};
pub use parser::{Limits, Op, Parsed, Parser, PubArgs};
