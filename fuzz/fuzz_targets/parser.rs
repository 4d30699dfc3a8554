//! Fuzzes the client protocol parser: any bytes, split at any points, must never panic, and
//! must give the same operations (or the same error) as the unsplit input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shards::protocol::{Limits, Parsed, Parser, ProtoError};

const LIM: Limits = Limits {
    max_control_line: 256,
    max_payload: 4096,
    headers: true,
};

/// Feeds `data` in chunks ending at `cuts`, like successive reads into a buffer that keeps
/// its unconsumed tail. Returns a rendering of every op and the final error, if any.
fn run(data: &[u8], cuts: &[usize]) -> (Vec<String>, Option<ProtoError>) {
    let mut p = Parser::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut ops = Vec::new();
    let mut fed = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(fed, data.len());
        buf.extend_from_slice(&data[fed..cut]);
        fed = cut;
        loop {
            match p.parse(&buf, &LIM) {
                Ok(Parsed::Op { op, consumed }) => {
                    ops.push(format!("{op:?}"));
                    buf.drain(..consumed);
                }
                Ok(Parsed::Incomplete { consumed, .. }) => {
                    buf.drain(..consumed);
                    break;
                }
                Err(e) => return (ops, Some(e)),
            }
        }
    }
    (ops, None)
}

fuzz_target!(|input: &[u8]| {
    if input.is_empty() {
        return;
    }
    // First byte picks the split points, the rest is the stream.
    let seed = input[0] as usize;
    let data = &input[1..];
    let whole = run(data, &[]);
    let cuts: Vec<usize> = (1..data.len())
        .filter(|i| (i * 31 + seed) % 7 == 0)
        .collect();
    let split = run(data, &cuts);
    // An error may surface earlier when split (a partial line over the limit), but the
    // operations before it and the error kind must agree with the whole-buffer parse.
    if whole.1.is_none() && split.1.is_none() {
        assert_eq!(whole.0, split.0);
    } else {
        let n = whole.0.len().min(split.0.len());
        assert_eq!(whole.0[..n], split.0[..n]);
    }
});
