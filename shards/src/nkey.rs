//! Server ids in nats-server's format: an nkey server public key (56 characters starting
//! with `N`, spec G-04), made from fresh random bytes at every start.

const PREFIX_SERVER: u8 = 13 << 3; // 'N' in nkeys' base32 alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn crc16(data: &[u8]) -> u16 {
    // CRC-16/XMODEM, as nkeys uses.
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A new random server id.
pub fn new_server_id() -> String {
    let mut raw = Vec::with_capacity(35);
    raw.push(PREFIX_SERVER);
    let key: [u8; 32] = rand::random();
    raw.extend_from_slice(&key);
    let crc = crc16(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32(&raw)
}

#[cfg(test)]
mod tests {
    #[test]
    fn g04_server_id_shape() {
        let id = super::new_server_id();
        assert_eq!(id.len(), 56);
        assert!(id.starts_with('N'));
    }
}
