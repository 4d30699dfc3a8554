//! The route INFO and CONNECT documents (spec RT-03, RT-04), in the interop mode of §7.5:
//! no `route_pool_size`, no `compression`, no `lnoc`, `jetstream` false. Either side of
//! either document may be a nats-server.

use serde::{Deserialize, Serialize};

use crate::options::SubjectPerm;

/// A route protocol version that has accounts on every line (`RouteProtoV2`); we do not
/// understand message tracing (3).
pub const ROUTE_PROTO: i32 = 2;

/// Gossip modes of a forwarded INFO (`gossip_mode`).
pub const GOSSIP_DISABLED: u8 = 1;
pub const GOSSIP_OVERRIDE: u8 = 2;

/// Route permissions as INFO carries them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PermJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
}

impl From<&SubjectPerm> for PermJson {
    fn from(p: &SubjectPerm) -> Self {
        PermJson {
            allow: p.allow.clone(),
            deny: p.deny.clone(),
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// A route INFO, ours or a peer's. Field order is nats-server's `type Info`; unknown fields
/// of a peer's INFO are ignored here (and kept in the raw JSON we forward).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    pub max_payload: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<PermJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<PermJson>,
    /// Read only: we never pool, and refuse a peer's dedicated account route.
    #[serde(skip_serializing)]
    pub route_pool_size: i64,
    #[serde(skip_serializing)]
    pub route_account: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub gossip_mode: u8,
}

impl RouteInfo {
    /// `INFO <json>\r\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = b"INFO ".to_vec();
        // A struct of strings, numbers and bools always serializes.
        serde_json::to_writer(&mut out, self).expect("INFO serializes");
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// The route CONNECT (RT-03).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteConnect {
    pub echo: bool,
    pub verbose: bool,
    pub pedantic: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    pub tls_required: bool,
    pub headers: bool,
    /// The server id of the soliciting side.
    pub name: String,
    pub cluster: String,
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    /// Only clients send this: a `lang` means a client dialled the route port.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    /// Only gateways send this.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

impl RouteConnect {
    /// `CONNECT <json>\r\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = b"CONNECT ".to_vec();
        serde_json::to_writer(&mut out, self).expect("CONNECT serializes");
        out.extend_from_slice(b"\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_info_parses_and_ours_has_no_pooling() {
        let go = br#"{"server_id":"NA","server_name":"A","version":"2.15.1","proto":3,"go":"go1.27.2","host":"127.0.0.1","port":16222,"headers":true,"max_payload":1048576,"nonce":"x","cluster":"c1","connect_urls":["127.0.0.1:14222"],"compression":"accept","lnoc":true,"lnocu":true,"ln":true,"route_pool_size":3}"#;
        let i: RouteInfo = serde_json::from_slice(go).unwrap();
        assert_eq!(i.port, 16222);
        assert_eq!(i.route_pool_size, 3);
        assert_eq!(i.connect_urls, vec!["127.0.0.1:14222"]);
        let line = String::from_utf8(i.to_line()).unwrap();
        for absent in ["route_pool_size", "compression", "lnoc", "jetstream"] {
            assert!(!line.contains(absent), "{absent} in {line}");
        }
        let c = RouteConnect {
            name: "NB".into(),
            cluster: "c1".into(),
            echo: true,
            headers: true,
            ..Default::default()
        };
        let line = String::from_utf8(c.to_line()).unwrap();
        assert!(line.starts_with(r#"CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NB","cluster":"c1"}"#), "{line}");
    }
}
