//! The INFO document the server sends and the CONNECT document clients send.

use serde::Serialize;
use serde_json::Value;

use super::errors::ProtoError;

/// Server INFO, fields in nats-server's order (`type Info` in server.go).
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
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
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    #[serde(skip_serializing_if = "is_false")]
    pub acc_is_sys: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ServerInfo {
    /// The INFO line as sent to clients: `INFO <json> \r\n`, with nats-server's space before
    /// the CRLF (spec CP-06).
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"INFO ");
        // Serializing a struct of strings, numbers and bools cannot fail.
        serde_json::to_writer(&mut out, self).expect("INFO serializes");
        out.extend_from_slice(b" \r\n");
        out
    }
}

/// The client's CONNECT options that the server acts on. Defaults are nats-server's
/// `defaultOpts`: verbose, pedantic and echo are on until a CONNECT says otherwise (CL-05).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOpts {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    pub pass: String,
    pub auth_token: String,
    /// The nkey public key and its signature of the INFO nonce.
    pub nkey: String,
    pub sig: String,
    pub account: String,
    pub new_account: bool,
}

impl Default for ConnectOpts {
    fn default() -> Self {
        ConnectOpts {
            verbose: true,
            pedantic: true,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            user: String::new(),
            pass: String::new(),
            auth_token: String::new(),
            nkey: String::new(),
            sig: String::new(),
            account: String::new(),
            new_account: false,
        }
    }
}

impl ConnectOpts {
    /// Applies a CONNECT document on top of the current options, as Go's `json.Unmarshal`
    /// into the existing struct does: absent fields keep their value, keys match
    /// case-insensitively, and a value of the wrong type is an error (which closes the
    /// connection silently).
    pub fn apply(&mut self, json: &[u8]) -> Result<(), ProtoError> {
        let v: Value = serde_json::from_slice(json).map_err(|_| ProtoError::BadConnectJson)?;
        let Value::Object(map) = v else {
            return Err(ProtoError::BadConnectJson);
        };
        for (k, v) in map {
            if v.is_null() {
                continue;
            }
            let k = k.to_ascii_lowercase();
            let b = |v: &Value| v.as_bool().ok_or(ProtoError::BadConnectJson);
            let s = |v: &Value| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(ProtoError::BadConnectJson)
            };
            match k.as_str() {
                "verbose" => self.verbose = b(&v)?,
                "pedantic" => self.pedantic = b(&v)?,
                "echo" => self.echo = b(&v)?,
                "headers" => self.headers = b(&v)?,
                "no_responders" => self.no_responders = b(&v)?,
                "tls_required" => {
                    b(&v)?;
                }
                "protocol" => {
                    self.protocol = v.as_i64().ok_or(ProtoError::BadConnectJson)?;
                }
                "name" => self.name = s(&v)?,
                "lang" => self.lang = s(&v)?,
                "version" => self.version = s(&v)?,
                "user" => self.user = s(&v)?,
                "pass" => self.pass = s(&v)?,
                "auth_token" => self.auth_token = s(&v)?,
                "account" => self.account = s(&v)?,
                "new_account" => self.new_account = b(&v)?,
                "nkey" => self.nkey = s(&v)?,
                "sig" => self.sig = s(&v)?,
                "jwt" => {
                    s(&v)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl05_defaults_are_verbose_pedantic_echo() {
        let mut o = ConnectOpts::default();
        o.apply(br#"{"lang":"rust"}"#).unwrap();
        assert!(o.verbose && o.pedantic && o.echo);
        o.apply(br#"{"Verbose":false,"echo":false,"protocol":1}"#)
            .unwrap();
        assert!(!o.verbose && !o.echo && o.pedantic);
        assert_eq!(o.protocol, 1);
    }

    #[test]
    fn bad_json_or_types_are_errors() {
        let mut o = ConnectOpts::default();
        assert!(o.apply(b"{").is_err());
        assert!(o.apply(br#"{"verbose":"yes"}"#).is_err());
        assert!(o.apply(b"[]").is_err());
    }

    #[test]
    fn cp06_info_has_a_space_before_crlf() {
        let line = ServerInfo::default().to_line();
        assert!(line.ends_with(b"} \r\n"));
    }
}
