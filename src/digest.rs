//! The config digest nats-server prints after `-t` and in `Using configuration file: f
//! (sha256:...)`: SHA-256 over Go's `encoding/json` encoding of the parsed config tree
//! (conf/parse.go `configDigest`), so the same file gives the same digest from either server.
//!
//! Go's encoder sorts map keys, escapes `<`, `>` and `&` (HTML-safe), writes floats in its
//! own shortest form and ends with a newline; each of those changes the hash, so they are
//! reproduced here exactly. SHA-256 is written out (FIPS 180-4) rather than pulled in as a
//! crate: it is sixty lines and used once per start.

use std::fmt::Write as _;

use crate::config::parser::{Map, Value};

/// `sha256:<hex>` of the config tree, as nats-server's `ConfigDigest()`.
pub fn config_digest(map: &Map) -> String {
    let mut json = String::new();
    encode_map(map, &mut json);
    json.push('\n');
    let mut out = String::from("sha256:");
    for b in sha256(json.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn encode_map(map: &Map, out: &mut String) {
    let mut entries: Vec<_> = map.entries.iter().collect();
    entries.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    out.push('{');
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        encode_string(&e.key, out);
        out.push(':');
        encode_value(&e.item.value, out);
    }
    out.push('}');
}

fn encode_value(v: &Value, out: &mut String) {
    match v {
        Value::Map(m) => encode_map(m, out),
        Value::Array(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_value(&it.value, out);
            }
            out.push(']');
        }
        Value::String(s) => encode_string(s, out),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&go_float(*f)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // time.Time marshals as RFC 3339; the parser only accepts `YYYY-MM-DDTHH:MM:SSZ`,
        // which is already that form.
        Value::Datetime(s) => encode_string(s, out),
    }
}

/// Go's `encoding/json` string form (HTML escaping on, as `json.NewEncoder` has it).
fn encode_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A float64 as Go's `encoding/json` writes it: shortest round-trip digits, plain decimal
/// unless the magnitude is below 1e-6 or at least 1e21, then `1e+21` / `1.5e-7`.
fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mant, exp)) if exp.starts_with('-') => format!("{mant}e{exp}"),
            Some((mant, exp)) => format!("{mant}e+{exp:0>2}"),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 of `data` (FIPS 180-4).
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;

    fn hex(b: [u8; 32]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            hex(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Two blocks of padding.
        assert_eq!(
            hex(sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn go_float_forms() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(0.000001), "0.000001");
        assert_eq!(go_float(0.00000015), "1.5e-7");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.2345678901234569e23), "1.2345678901234569e+23");
        assert_eq!(go_float(1e20), "100000000000000000000");
    }

    /// Digests printed by nats-server v2.15.1 `-t` for the same text.
    #[test]
    fn digest_matches_nats_server() {
        let m = parse_str("port: 4333\ndebug: true\n", "a.conf").unwrap();
        assert_eq!(
            config_digest(&m),
            "sha256:ea5d7fd74f0e821b5a4810660010df9e75083164024c09e4bf517bee19e4c463"
        );
        let m = parse_str(
            "authorization { timeout: 1.5, user: a, password: b }\n",
            "h.conf",
        )
        .unwrap();
        assert_eq!(
            config_digest(&m),
            "sha256:1c5b63a68c1233a3daf46de95bedacb53823c0b4733d5261a10389bf545de44b"
        );
    }
}
