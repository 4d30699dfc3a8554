//! Just enough DER to read what nats-server reads from a client certificate: the raw
//! subject, the SubjectPublicKeyInfo (for `pinned_certs`) and the subject alternative names
//! (for `verify_and_map`). rustls has already verified the certificate; this only parses, and
//! any malformed input is an error, never a panic.

use thiserror::Error;

/// Why a certificate could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed certificate: {0}")]
pub struct DerError(pub(crate) &'static str);

pub const TAG_SEQUENCE: u8 = 0x30;
pub const TAG_SET: u8 = 0x31;
pub const TAG_OID: u8 = 0x06;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_BOOLEAN: u8 = 0x01;

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    /// The value bytes.
    pub content: &'a [u8],
    /// The whole element, header included.
    pub raw: &'a [u8],
}

/// Reads the first element of `data`; returns it and what follows.
pub fn read(data: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = data.split_first().ok_or(DerError("truncated tag"))?;
    if tag & 0x1f == 0x1f {
        // Multi-byte tags never occur in the X.509 fields we read.
        return Err(DerError("high tag number"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError("truncated length"))?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(DerError("bad length"));
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(DerError("truncated value"));
    }
    let header = data.len() - rest.len();
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            raw: &data[..header + len],
        },
        &rest[len..],
    ))
}

/// Reads one element that must carry `tag`.
pub fn expect(data: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (t, rest) = read(data)?;
    if t.tag != tag {
        return Err(DerError("unexpected tag"));
    }
    Ok((t, rest))
}

/// Every element of a constructed value, in order.
pub fn elements(mut data: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (t, rest) = read(data)?;
        out.push(t);
        data = rest;
    }
    Ok(out)
}

/// An OBJECT IDENTIFIER's content in dotted form (`2.5.4.3`).
pub fn oid_string(content: &[u8]) -> Result<String, DerError> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in content.iter().enumerate() {
        if v > (u64::MAX >> 7) {
            return Err(DerError("oid arc overflow"));
        }
        v = (v << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (x, y) = match v {
                    0..=39 => (0, v),
                    40..=79 => (1, v - 40),
                    _ => (2, v - 80),
                };
                arcs.push(x);
                arcs.push(y);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i + 1 == content.len() {
            return Err(DerError("truncated oid"));
        }
    }
    if arcs.is_empty() {
        return Err(DerError("empty oid"));
    }
    Ok(arcs
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("."))
}

/// The parts of a certificate nats-server looks at.
#[derive(Debug, Clone)]
pub struct CertFields<'a> {
    /// The subject Name, whole (`RawSubject` in Go).
    pub subject: &'a [u8],
    /// The SubjectPublicKeyInfo, whole (`RawSubjectPublicKeyInfo`).
    pub spki: &'a [u8],
    /// The subjectAltName extension's GeneralNames content, when present.
    pub san: Option<&'a [u8]>,
}

const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11]; // 2.5.29.17

/// Splits a DER certificate into the fields above.
pub fn cert_fields(cert: &[u8]) -> Result<CertFields<'_>, DerError> {
    let (certificate, _) = expect(cert, TAG_SEQUENCE)?;
    let (tbs, _) = expect(certificate.content, TAG_SEQUENCE)?;
    let mut rest = tbs.content;
    // version [0] EXPLICIT, optional.
    let (first, after) = read(rest)?;
    if first.tag == 0xa0 {
        rest = after;
    }
    let (_serial, rest) = read(rest)?;
    let (_sig_alg, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_issuer, rest) = expect(rest, TAG_SEQUENCE)?;
    let (_validity, rest) = expect(rest, TAG_SEQUENCE)?;
    let (subject, rest) = expect(rest, TAG_SEQUENCE)?;
    let (spki, mut rest) = expect(rest, TAG_SEQUENCE)?;
    let mut san = None;
    while !rest.is_empty() {
        let (t, after) = read(rest)?;
        rest = after;
        if t.tag != 0xa3 {
            // issuerUniqueID [1] / subjectUniqueID [2].
            continue;
        }
        let (exts, _) = expect(t.content, TAG_SEQUENCE)?;
        for ext in elements(exts.content)? {
            let (oid, after) = expect(ext.content, TAG_OID)?;
            if oid.content != OID_SUBJECT_ALT_NAME {
                continue;
            }
            let (mut v, after2) = read(after)?;
            if v.tag == TAG_BOOLEAN {
                v = expect(after2, TAG_OCTET_STRING)?.0;
            } else if v.tag != TAG_OCTET_STRING {
                return Err(DerError("bad extension value"));
            }
            san = Some(expect(v.content, TAG_SEQUENCE)?.0.content);
        }
    }
    Ok(CertFields {
        subject: subject.raw,
        spki: spki.raw,
        san,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_short_and_long() {
        let (t, rest) = read(&[0x04, 0x02, 1, 2, 9]).unwrap();
        assert_eq!((t.tag, t.content, rest), (4, &[1u8, 2][..], &[9u8][..]));
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend_from_slice(&[7u8; 128]);
        let (t, _) = read(&long).unwrap();
        assert_eq!(t.content.len(), 128);
        assert_eq!(t.raw.len(), 131);
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 1],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x1f, 0x01, 0],
        ] {
            assert!(read(bad).is_err(), "{bad:?}");
        }
        assert!(cert_fields(b"not a certificate").is_err());
        assert!(oid_string(&[0x86]).is_err());
    }

    #[test]
    fn oids() {
        assert_eq!(oid_string(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            oid_string(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]).unwrap(),
            "0.9.2342.19200300.100.1.25"
        );
    }
}
