//! `verify_and_map`: which user a client certificate names, tried the way nats-server tries
//! it (auth.go `checkClientTLSCertSubject`): the SAN e-mail addresses, then the SAN DNS
//! names, then the SAN URIs, then the subject as a distinguished name (exactly, then with its
//! RDNs in any order), then Go's string form of the subject with and without its domain
//! components.
//!
//! The strings are byte-for-byte Go's: `pkix.Name.ToRDNSequence().String()` for the subject
//! (known attributes only, grouped and ordered as Go groups them) and nats-server's
//! `internal/ldap` DN parsing for user names written as DNs.

use super::der::{self, DerError, TAG_OID, TAG_SEQUENCE, TAG_SET};

/// One attribute of a subject RDN, value decoded when it is a string type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    oid: String,
    /// `None` for values Go does not decode to a string.
    value: Option<String>,
    /// The value element, for Go's `#hex` form of unknown attributes.
    raw_value: Vec<u8>,
}

/// What a client certificate says about who it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// SAN rfc822Name entries.
    pub emails: Vec<String>,
    /// SAN dNSName entries.
    pub dns_names: Vec<String>,
    /// SAN uniformResourceIdentifier entries.
    pub uris: Vec<String>,
    /// The subject's RDNs in certificate order.
    rdns: Vec<Vec<Attr>>,
}

const OID_CN: &str = "2.5.4.3";
const OID_SERIAL: &str = "2.5.4.5";
const OID_C: &str = "2.5.4.6";
const OID_L: &str = "2.5.4.7";
const OID_ST: &str = "2.5.4.8";
const OID_STREET: &str = "2.5.4.9";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";
const OID_POSTAL: &str = "2.5.4.17";
const OID_DC: &str = "0.9.2342.19200300.100.1.25";

/// Go's short names (`crypto/x509/pkix` attributeTypeNames).
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        OID_CN => "CN",
        OID_SERIAL => "SERIALNUMBER",
        OID_C => "C",
        OID_L => "L",
        OID_ST => "ST",
        OID_STREET => "STREET",
        OID_O => "O",
        OID_OU => "OU",
        OID_POSTAL => "POSTALCODE",
        _ => return None,
    })
}

/// Short names nats-server's ldap package accepts (the pkix ones plus DC).
fn ldap_name(oid: &str) -> Option<&'static str> {
    if oid == OID_DC {
        Some("DC")
    } else {
        short_name(oid)
    }
}

/// Decodes the ASN.1 string types Go's `asn1.Unmarshal` turns into a Go string.
fn decode_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, NumericString, PrintableString, T61String, IA5String.
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 => Some(String::from_utf8_lossy(content).into_owned()),
        // BMPString: UTF-16BE.
        0x1e => {
            let chunks = content.chunks_exact(2);
            if !chunks.remainder().is_empty() {
                return None;
            }
            let units: Vec<u16> = chunks.map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

impl CertIdentity {
    /// Reads the identity from a DER certificate (the first one the client presented).
    pub fn from_der(cert: &[u8]) -> Result<CertIdentity, DerError> {
        let f = der::cert_fields(cert)?;
        let mut id = CertIdentity::default();
        let (name, _) = der::expect(f.subject, TAG_SEQUENCE)?;
        for rdn in der::elements(name.content)? {
            if rdn.tag != TAG_SET {
                return Err(DerError("RDN is not a SET"));
            }
            let mut attrs = Vec::new();
            for atv in der::elements(rdn.content)? {
                let (oid, rest) = der::expect(atv.content, TAG_OID)?;
                let (val, _) = der::read(rest)?;
                attrs.push(Attr {
                    oid: der::oid_string(oid.content)?,
                    value: decode_string(val.tag, val.content),
                    raw_value: val.raw.to_vec(),
                });
            }
            id.rdns.push(attrs);
        }
        if let Some(san) = f.san {
            for gn in der::elements(san)? {
                let v = String::from_utf8_lossy(gn.content).into_owned();
                match gn.tag {
                    0x81 => id.emails.push(v),
                    0x82 => id.dns_names.push(v),
                    0x86 => id.uris.push(v),
                    _ => {}
                }
            }
        }
        Ok(id)
    }

    /// Go's `pkix.Name.ToRDNSequence()`: the known attributes only, one RDN per attribute
    /// type in Go's fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER), the
    /// last CN and SERIALNUMBER winning.
    fn pkix_sequence(&self) -> Vec<Vec<(&'static str, String)>> {
        let values = |oid: &str| -> Vec<String> {
            self.rdns
                .iter()
                .flatten()
                .filter(|a| a.oid == oid)
                .filter_map(|a| a.value.clone())
                .collect()
        };
        let mut seq = Vec::new();
        for oid in [OID_C, OID_ST, OID_L, OID_STREET, OID_POSTAL, OID_O, OID_OU] {
            let v = values(oid);
            if !v.is_empty() {
                let name = short_name(oid).unwrap_or_default();
                seq.push(v.into_iter().map(|s| (name, s)).collect());
            }
        }
        for oid in [OID_CN, OID_SERIAL] {
            if let Some(last) = values(oid).pop().filter(|s| !s.is_empty()) {
                seq.push(vec![(short_name(oid).unwrap_or_default(), last)]);
            }
        }
        seq
    }

    /// `cert.Subject.ToRDNSequence().String()`, e.g. `CN=alice,OU=Eng,O=Acme`.
    pub fn rdn_string(&self) -> String {
        let seq = self.pkix_sequence();
        let mut out = String::new();
        for (i, rdn) in seq.iter().rev().enumerate() {
            if i > 0 {
                out.push(',');
            }
            for (j, (name, value)) in rdn.iter().enumerate() {
                if j > 0 {
                    out.push('+');
                }
                out.push_str(name);
                out.push('=');
                escape_into(&mut out, value);
            }
        }
        out
    }

    /// `cert.Subject.String()` (shown in `/connz` `tls_peer_certs`): the pkix sequence
    /// followed by the attributes Go has no name for, as `oid=#hex`.
    pub fn subject_string(&self) -> String {
        let mut out = self.rdn_string();
        let extra = self
            .rdns
            .iter()
            .flatten()
            .filter(|a| short_name(&a.oid).is_none());
        // Go puts them first in the sequence, so they print last, in reverse order.
        let extra: Vec<&Attr> = extra.collect();
        for a in extra.iter().rev() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&a.oid);
            out.push_str("=#");
            out.push_str(&hex(&go_marshal(a)));
        }
        out
    }

    /// `DC=...` for each domain component, in certificate order (nats-server's
    /// `getTLSAuthDCs`).
    fn dcs(&self) -> String {
        self.rdns
            .iter()
            .flatten()
            .filter(|a| a.oid == OID_DC)
            .filter_map(|a| a.value.as_ref().map(|v| format!("DC={v}")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The subject as nats-server's ldap package reads it (`FromRawCertSubject`): RDNs and
    /// their attributes reversed. `None` when an attribute has no known name or no string
    /// value, as there.
    fn ldap_dn(&self) -> Option<Dn> {
        let mut rdns = Vec::new();
        for rdn in self.rdns.iter().rev() {
            if rdn.is_empty() {
                continue;
            }
            let mut attrs = Vec::new();
            for a in rdn.iter().rev() {
                attrs.push((ldap_name(&a.oid)?.to_string(), a.value.clone()?));
            }
            rdns.push(attrs);
        }
        Some(Dn(rdns))
    }

    /// The user this certificate maps to, among `users` (user names as configured), tried in
    /// nats-server's order. `None` when no user matches.
    pub fn map_user<'u>(&self, users: &[&'u str]) -> Option<&'u str> {
        let exact = |s: &str| users.iter().copied().find(|u| *u == s);
        for s in self.emails.iter().chain(&self.dns_names).chain(&self.uris) {
            if let Some(u) = exact(s) {
                return Some(u);
            }
        }
        if let Some(cert_dn) = self.ldap_dn() {
            let parsed: Vec<(&str, Dn)> = users
                .iter()
                .filter_map(|u| Some((*u, parse_dn(u)?)))
                .collect();
            if let Some((u, _)) = parsed.iter().find(|(_, dn)| dn.equal(&cert_dn)) {
                return Some(u);
            }
            if let Some((u, _)) = parsed.iter().find(|(_, dn)| dn.rdns_match(&cert_dn)) {
                return Some(u);
            }
        }
        let rdn = self.rdn_string();
        let dcs = self.dcs();
        if !dcs.is_empty() {
            if let Some(u) = exact(&format!("{rdn},{dcs}")) {
                return Some(u);
            }
        }
        exact(&rdn)
    }
}

/// RFC 2253 escaping as Go's `RDNSequence.String` does it.
fn escape_into(out: &mut String, value: &str) {
    let last = value.len().saturating_sub(1);
    for (k, c) in value.char_indices() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k == last,
            '#' => k == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
}

/// What Go's `asn1.Marshal` makes of a decoded attribute value: strings become a
/// PrintableString when they can, a UTF8String otherwise; anything else keeps its encoding.
fn go_marshal(a: &Attr) -> Vec<u8> {
    let Some(v) = &a.value else {
        return a.raw_value.clone();
    };
    let printable = v.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b' ' | b'\'' | b'(' | b')' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
            )
    });
    let mut out = vec![if printable { 0x13 } else { 0x0c }];
    let len = v.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(v.as_bytes());
    out
}

/// Lower-case hex.
pub fn hex(data: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// A distinguished name as nats-server's ldap package holds it: RDNs of (type, value).
#[derive(Debug, PartialEq, Eq)]
struct Dn(Vec<Vec<(String, String)>>);

fn rdn_equal(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let has_all = |x: &[(String, String)], y: &[(String, String)]| {
        y.iter().all(|(t, v)| {
            x.iter()
                .any(|(t2, v2)| t.eq_ignore_ascii_case(t2) && v == v2)
        })
    };
    a.len() == b.len() && has_all(a, b) && has_all(b, a)
}

impl Dn {
    /// Same RDNs in the same order.
    fn equal(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| rdn_equal(a, b))
    }

    /// Same RDNs in any order.
    fn rdns_match(&self, other: &Dn) -> bool {
        if self.0.len() != other.0.len() {
            return false;
        }
        let mut used = vec![false; other.0.len()];
        self.0.iter().all(|a| {
            match (0..other.0.len()).find(|&j| !used[j] && rdn_equal(a, &other.0[j])) {
                Some(j) => {
                    used[j] = true;
                    true
                }
                None => false,
            }
        })
    }
}

/// nats-server's `ldap.ParseDN` (RFC 4514 strings with `\` escapes, `\xx` hex escapes,
/// no `#` BER values). `None` for what it rejects.
fn parse_dn(s: &str) -> Option<Dn> {
    let b = s.as_bytes();
    let mut rdns = Vec::new();
    let mut rdn: Vec<(String, String)> = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut typ: Vec<u8> = Vec::new();
    let mut escaping = false;
    let mut trailing = 0usize;
    let take = |buf: &mut Vec<u8>, trailing: &mut usize| -> Vec<u8> {
        let keep = buf.len() - *trailing;
        let out = buf[..keep].to_vec();
        buf.clear();
        *trailing = 0;
        out
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if escaping {
            trailing = 0;
            escaping = false;
            if matches!(
                c,
                b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\'
            ) {
                buf.push(c);
                i += 1;
                continue;
            }
            let hex = b.get(i..i + 2)?;
            let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            buf.push(v);
            i += 2;
            continue;
        }
        match c {
            b'\\' => {
                trailing = 0;
                escaping = true;
            }
            b'=' => {
                typ = take(&mut buf, &mut trailing);
                if b.get(i + 1) == Some(&b'#') {
                    return None;
                }
            }
            b',' | b'+' => {
                if typ.is_empty() {
                    return None;
                }
                let v = take(&mut buf, &mut trailing);
                rdn.push((lossy(&typ), lossy(&v)));
                typ.clear();
                if c == b',' {
                    rdns.push(std::mem::take(&mut rdn));
                }
            }
            b' ' if buf.is_empty() => {}
            _ => {
                if c == b' ' {
                    trailing += 1;
                } else {
                    trailing = 0;
                }
                buf.push(c);
            }
        }
        i += 1;
    }
    if !buf.is_empty() {
        if typ.is_empty() {
            return None;
        }
        let v = take(&mut buf, &mut trailing);
        rdn.push((lossy(&typ), lossy(&v)));
        rdns.push(rdn);
    }
    Some(Dn(rdns))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(oid: &str, v: &str) -> Attr {
        Attr {
            oid: oid.to_string(),
            value: Some(v.to_string()),
            raw_value: Vec::new(),
        }
    }

    fn ident(rdns: Vec<Vec<Attr>>) -> CertIdentity {
        CertIdentity {
            rdns,
            ..Default::default()
        }
    }

    #[test]
    fn rdn_string_follows_go_order_and_grouping() {
        // Certificate order O, OU, OU, CN, DC: Go prints CN, then the OUs as one RDN, then O.
        let id = ident(vec![
            vec![attr(OID_O, "Acme")],
            vec![attr(OID_OU, "Eng")],
            vec![attr(OID_OU, "Ops")],
            vec![attr(OID_CN, "alice")],
            vec![attr(OID_DC, "example")],
        ]);
        assert_eq!(id.rdn_string(), "CN=alice,OU=Eng+OU=Ops,O=Acme");
        assert_eq!(id.dcs(), "DC=example");
        assert_eq!(
            id.subject_string(),
            "CN=alice,OU=Eng+OU=Ops,O=Acme,0.9.2342.19200300.100.1.25=#13076578616d706c65"
        );
    }

    #[test]
    fn escaping_as_go() {
        let id = ident(vec![vec![attr(OID_CN, "#a, b+c ")]]);
        assert_eq!(id.rdn_string(), "CN=\\#a\\, b\\+c\\ ");
    }

    #[test]
    fn map_user_order() {
        let mut id = ident(vec![vec![attr(OID_O, "Acme")], vec![attr(OID_CN, "alice")]]);
        id.dns_names.push("alice.example.com".into());
        id.emails.push("alice@example.com".into());
        // E-mail first, whatever order the users come in.
        let users = ["alice.example.com", "alice@example.com", "CN=alice,O=Acme"];
        assert_eq!(id.map_user(&users), Some("alice@example.com"));
        assert_eq!(id.map_user(&users[..1]), Some("alice.example.com"));
        assert_eq!(id.map_user(&["CN=alice,O=Acme"]), Some("CN=alice,O=Acme"));
        // DN match: reordered RDNs, spaces and case of the type do not matter.
        assert_eq!(id.map_user(&["o=Acme, cn=alice"]), Some("o=Acme, cn=alice"));
        assert_eq!(id.map_user(&["CN=bob,O=Acme", "nobody"]), None);
    }

    #[test]
    fn dn_with_domain_components() {
        let id = ident(vec![
            vec![attr(OID_DC, "org")],
            vec![attr(OID_DC, "example")],
            vec![attr(OID_CN, "svc")],
        ]);
        // The ldap form (reversed certificate order) matches exactly.
        assert_eq!(
            id.map_user(&["CN=svc,DC=example,DC=org"]),
            Some("CN=svc,DC=example,DC=org")
        );
        // Go's RDN string plus DCs in certificate order is tried as a literal too.
        let id2 = ident(vec![
            vec![attr(OID_CN, "svc")],
            vec![attr("1.2.3.4", "x")],
            vec![attr(OID_DC, "org")],
        ]);
        assert_eq!(id2.map_user(&["CN=svc,DC=org"]), Some("CN=svc,DC=org"));
    }

    #[test]
    fn parse_dn_as_nats_server() {
        let dn = parse_dn("CN=a\\,b,O=x\\41+OU=y ").unwrap();
        assert_eq!(
            dn.0,
            vec![
                vec![("CN".into(), "a,b".into())],
                vec![("O".into(), "xA".into()), ("OU".into(), "y".into())]
            ]
        );
        assert!(parse_dn("CN=#0101").is_none());
        assert!(parse_dn("=x,").is_none());
        assert!(parse_dn("CN=a\\4").is_none());
        // A trailing backslash is dropped, as in nats-server.
        assert_eq!(
            parse_dn("CN=a\\").unwrap().0,
            vec![vec![("CN".into(), "a".into())]]
        );
    }
}
