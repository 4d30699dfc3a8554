//! Protocol errors and the one place that maps them to nats-server's wire text and to the
//! reason a connection is closed with (`ClosedState` in nats-server's monitor.go).

use thiserror::Error;

/// A protocol error found while parsing or processing a client's bytes.
#[derive(Debug, Error, PartialEq, Eq, Clone, Copy)]
pub enum ProtoError {
    /// A byte that starts or continues no known operation, or a bad payload terminator.
    #[error("unknown protocol operation")]
    UnknownOp,
    /// The argument part of a line is longer than `max_control_line`.
    #[error("maximum control line exceeded")]
    MaxControlLine,
    /// A PUB/HPUB size above `max_payload`.
    #[error("maximum payload exceeded: {size}")]
    MaxPayload { size: usize },
    /// Wrong argument count or a bad size: nats-server closes without a `-ERR`.
    #[error("bad protocol arguments")]
    BadArgs,
    /// HPUB from a client that did not negotiate headers: closed without a `-ERR`.
    #[error("headers not supported")]
    HeadersNotSupported,
    /// CONNECT whose JSON does not parse: closed without a `-ERR`.
    #[error("invalid CONNECT json")]
    BadConnectJson,
    /// CONNECT `protocol` outside 0..=1.
    #[error("invalid client protocol")]
    BadClientProtocol,
    /// CONNECT with `no_responders` but without `headers`.
    #[error("no responders requires headers support")]
    NoRespondersRequiresHeaders,
    /// `-ERR` sent by the client.
    #[error("client sent -ERR")]
    ClientErr,
    /// Bad credentials, CONNECT naming an account, or another operation first when
    /// authentication is required.
    #[error("authorization violation")]
    AuthViolation,
}

/// Why a connection was closed, with nats-server's wording (shown in logs and `/connz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    ClientClosed,
    WriteError,
    ReadError,
    ParseError,
    ProtocolViolation,
    MaxPayloadExceeded,
    MaxControlLineExceeded,
    MaxConnectionsExceeded,
    SlowConsumerPendingBytes,
    SlowConsumerWriteDeadline,
    StaleConnection,
    BadClientProtocolVersion,
    NoRespondersRequiresHeaders,
    AuthenticationViolation,
    AuthenticationTimeout,
    ServerShutdown,
    /// The TLS handshake failed or timed out, or the client certificate is not pinned.
    TlsHandshakeError,
}

impl CloseReason {
    /// The text nats-server uses for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
        }
    }
}

impl ProtoError {
    /// The `-ERR` line to send before closing (None for nats-server's silent closes), and
    /// the close reason.
    pub fn wire(self) -> (Option<&'static [u8]>, CloseReason) {
        match self {
            ProtoError::UnknownOp => (
                Some(b"-ERR 'Unknown Protocol Operation'\r\n"),
                CloseReason::ParseError,
            ),
            ProtoError::MaxControlLine => (
                Some(b"-ERR 'maximum control line exceeded'\r\n"),
                CloseReason::MaxControlLineExceeded,
            ),
            ProtoError::MaxPayload { .. } => (
                Some(b"-ERR 'Maximum Payload Violation'\r\n"),
                CloseReason::MaxPayloadExceeded,
            ),
            ProtoError::BadArgs | ProtoError::BadConnectJson | ProtoError::HeadersNotSupported => {
                (None, CloseReason::ProtocolViolation)
            }
            ProtoError::ClientErr => (None, CloseReason::ParseError),
            ProtoError::BadClientProtocol => (
                Some(b"-ERR 'invalid client protocol'\r\n"),
                CloseReason::BadClientProtocolVersion,
            ),
            ProtoError::NoRespondersRequiresHeaders => (
                Some(b"-ERR 'no responders requires headers support'\r\n"),
                CloseReason::NoRespondersRequiresHeaders,
            ),
            ProtoError::AuthViolation => (
                Some(b"-ERR 'Authorization Violation'\r\n"),
                CloseReason::AuthenticationViolation,
            ),
        }
    }
}

/// Sent in plaintext when a client on a TLS-required port has not started its handshake
/// within `tls.timeout` (spec CL-03); the connection is then closed.
pub const TLS_REQUIRED: &[u8] = b"-ERR 'Secure Connection - TLS Required'\r\n";

/// `-ERR` lines that do not close the connection.
pub mod soft {
    pub const INVALID_SUBJECT: &[u8] = b"-ERR 'Invalid Subject'\r\n";
    pub const INVALID_PUBLISH_SUBJECT: &[u8] = b"-ERR 'Invalid Publish Subject'\r\n";
    pub const MAX_SUBSCRIPTIONS: &[u8] = b"-ERR 'maximum subscriptions exceeded'\r\n";
    pub const MAX_CONNECTIONS: &[u8] = b"-ERR 'maximum connections exceeded'\r\n";
    pub const STALE_CONNECTION: &[u8] = b"-ERR 'Stale Connection'\r\n";
    /// Sent before closing a client that did not CONNECT within the auth timeout.
    pub const AUTH_TIMEOUT: &[u8] = b"-ERR 'Authentication Timeout'\r\n";
}
