//! Micro benchmarks for the subscription index and the parser: `cargo bench -p shards`.
//! Plain timing loops (no harness dependency); each prints nanoseconds per operation.
//! Results go into commit messages with the machine; they are not asserted anywhere.

use std::hint::black_box;
use std::time::Instant;

use shards::protocol::{Limits, Parsed, Parser};
use shards::sublist::Sublist;

fn bench(name: &str, iters: u64, mut f: impl FnMut(u64)) {
    // Warm up, then measure.
    for i in 0..iters / 10 {
        f(i);
    }
    let t = Instant::now();
    for i in 0..iters {
        f(i);
    }
    let ns = t.elapsed().as_nanos() as f64 / iters as f64;
    println!("{name:<40} {ns:>10.1} ns/op");
}

fn subjects(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("svc.{}.region{}.evt{}", i % 97, i % 13, i).into_bytes())
        .collect()
}

fn main() {
    let subs = subjects(10_000);

    let mut s: Sublist<u32> = Sublist::new();
    bench("sublist insert (10k literal subjects)", 10_000, |i| {
        let k = (i % 10_000) as usize;
        s.insert(&subs[k], None, i as u32);
    });

    let mut s: Sublist<u32> = Sublist::new();
    for (i, subj) in subs.iter().enumerate() {
        s.insert(subj, None, i as u32);
    }
    s.insert(b"svc.*.region1.>", None, 1_000_000);
    s.insert(b"svc.>", Some(b"workers"), 1_000_001);
    bench("sublist match literal (cached)", 1_000_000, |i| {
        black_box(s.matches(&subs[(i % 100) as usize]));
    });
    bench("sublist match (cache cold, 10k subjects)", 200_000, |i| {
        if i % 4096 == 0 {
            // Touch a wildcard to drop the cache now and then.
            s.insert(b"zzz.*", None, 7);
            s.remove(b"zzz.*", None, 7);
        }
        black_box(s.matches(&subs[(i % 10_000) as usize]));
    });
    let wild: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("svc.{}.region1.x{}", i, i).into_bytes())
        .collect();
    bench("sublist match wildcard hits", 200_000, |i| {
        black_box(s.matches(&wild[(i % 1000) as usize]));
    });
    bench("sublist insert+remove (churn)", 200_000, |i| {
        let k = (i % 10_000) as usize;
        s.insert(&subs[k], Some(b"q"), 5);
        s.remove(&subs[k], Some(b"q"), 5);
    });

    let lim = Limits {
        max_control_line: 4096,
        max_payload: 1 << 20,
        headers: true,
    };
    let mut stream = Vec::new();
    for i in 0..1000 {
        stream.extend_from_slice(format!("PUB svc.{i}.evt 16\r\n0123456789abcdef\r\n").as_bytes());
    }
    let mut p = Parser::default();
    bench("parse PUB 16B (per message)", 2_000, |_| {
        let mut off = 0;
        while off < stream.len() {
            match p.parse(&stream[off..], &lim) {
                Ok(Parsed::Op { consumed, .. }) => off += consumed,
                _ => break,
            }
        }
        black_box(off);
    });
    println!("(parse figure above is per 1000 messages)");
}
