//! Charts as hand-written SVG: grouped bars (median, with a whisker from min to max over the
//! rounds) per scenario and size, latency percentiles on a log scale, and the shard-scaling
//! curve. No dependencies; any browser shows them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::{headline, human, size_label, Record, Stats};
use crate::scenario::Scenario;

/// Series colours: A, B, then more.
const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

const PANEL_W: f64 = 360.0;
const PANEL_H: f64 = 230.0;
const COLS: usize = 3;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One group of bars: a label and, per series, its statistics.
struct Group {
    label: String,
    values: Vec<Option<Stats>>,
}

struct Panel {
    title: String,
    groups: Vec<Group>,
    log: bool,
    unit: &'static str,
}

fn frame(title: &str, names: &[String], panels: usize) -> (String, f64) {
    let rows = panels.div_ceil(COLS).max(1);
    let w = PANEL_W * COLS as f64 + 20.0;
    let h = PANEL_H * rows as f64 + 70.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="16" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for (i, n) in names.iter().enumerate() {
        let x = 10.0 + i as f64 * 160.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="34" width="12" height="12" fill="{}"/><text x="{}" y="44">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 16.0,
            esc(n)
        );
    }
    (s, 60.0)
}

fn draw_panel(s: &mut String, p: &Panel, x0: f64, y0: f64, nseries: usize) {
    let (left, right, top, bottom) = (
        x0 + 52.0,
        x0 + PANEL_W - 10.0,
        y0 + 22.0,
        y0 + PANEL_H - 34.0,
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
        x0 + 10.0,
        y0 + 12.0,
        esc(&p.title)
    );
    let all: Vec<f64> = p
        .groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().map(|v| v.max))
        .filter(|v| *v > 0.0)
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        let _ = write!(
            s,
            r#"<text x="{left}" y="{}">no data</text>"#,
            (top + bottom) / 2.0
        );
        return;
    }
    let min_pos = all.iter().copied().fold(f64::INFINITY, f64::min);
    // Log panels span whole decades; linear panels start at zero.
    let (lo, hi) = if p.log {
        (
            min_pos.log10().floor(),
            max.log10().ceil().max(min_pos.log10().floor() + 1.0),
        )
    } else {
        (0.0, max * 1.1)
    };
    let y = |v: f64| -> f64 {
        let f = if p.log {
            (v.max(10f64.powf(lo)).log10() - lo) / (hi - lo)
        } else {
            v / hi
        };
        bottom - f * (bottom - top)
    };
    // Axis and gridlines.
    let ticks: Vec<f64> = if p.log {
        (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=4).map(|i| hi * i as f64 / 4.0).collect()
    };
    for t in ticks {
        let ty = y(t);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{ty:.1}" x2="{right}" y2="{ty:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}{}</text>"##,
            left - 4.0,
            ty + 4.0,
            human(t),
            p.unit
        );
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>"##
    );
    let gw = (right - left) / p.groups.len().max(1) as f64;
    let bw = (gw * 0.8 / nseries.max(1) as f64).min(40.0);
    for (gi, g) in p.groups.iter().enumerate() {
        let gx = left + gi as f64 * gw + (gw - bw * nseries as f64) / 2.0;
        for (si, v) in g.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let bx = gx + si as f64 * bw;
            let by = y(v.median);
            let _ = write!(
                s,
                r#"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                bw - 1.0,
                (bottom - by).max(0.0),
                COLORS[si % COLORS.len()],
                esc(&g.label),
                human(v.median)
            );
            // The value above the bar: small bars (16 KiB rates beside 16 B ones) stay readable.
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="8" fill="#333">{}</text>"##,
                bx + bw / 2.0,
                (if v.n > 1 { y(v.max) } else { by }) - 3.0,
                human(v.median)
            );
            if v.n > 1 {
                let cx = bx + bw / 2.0;
                let _ = write!(
                    s,
                    r##"<line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="#222"/>"##,
                    y(v.min),
                    y(v.max)
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            left + gi as f64 * gw + gw / 2.0,
            bottom + 14.0,
            esc(&g.label)
        );
    }
}

fn render(title: &str, names: &[String], panels: &[Panel]) -> String {
    let (mut s, top) = frame(title, names, panels.len());
    for (i, p) in panels.iter().enumerate() {
        let x0 = 10.0 + (i % COLS) as f64 * PANEL_W;
        let y0 = top + (i / COLS) as f64 * PANEL_H;
        draw_panel(&mut s, p, x0, y0, names.len());
    }
    s.push_str("</svg>\n");
    s
}

fn stats_for(recs: &[&Record], name: &str, f: impl Fn(&Record) -> Option<f64>) -> Option<Stats> {
    let v: Vec<f64> = recs
        .iter()
        .filter(|r| r.server == name)
        .filter_map(|r| f(r))
        .collect();
    Stats::of(&v)
}

/// Bars of the headline figure per scenario (one panel each) and size, for every server.
pub fn throughput_chart(names: &[String], recs: &[Record]) -> String {
    let mut by: BTreeMap<(usize, String), BTreeMap<usize, Vec<&Record>>> = BTreeMap::new();
    for r in recs.iter().filter(|r| r.kind == "result") {
        let Ok(sc) = r.m.scenario.parse::<Scenario>() else {
            continue;
        };
        if sc.is_latency() {
            continue;
        }
        by.entry((sc as usize, r.m.scenario.clone()))
            .or_default()
            .entry(r.m.size)
            .or_default()
            .push(r);
    }
    let panels: Vec<Panel> = by
        .into_iter()
        .map(|((_, scenario), sizes)| {
            let idle = scenario == Scenario::Idle.name();
            Panel {
                title: if idle {
                    "idle: server RSS per connection (bytes)".into()
                } else {
                    format!("{scenario} (msgs/s)")
                },
                log: false,
                unit: "",
                groups: sizes
                    .into_iter()
                    .map(|(size, rs)| Group {
                        label: if idle {
                            "per conn".into()
                        } else {
                            size_label(size)
                        },
                        values: names.iter().map(|n| stats_for(&rs, n, headline)).collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    render(
        "Throughput per scenario and payload size (median, whisker min–max)",
        names,
        &panels,
    )
}

/// Latency percentiles per latency scenario, log scale, for every server.
pub fn latency_chart(names: &[String], recs: &[Record]) -> String {
    let mut panels = Vec::new();
    for sc in [Scenario::ReqReply, Scenario::ReqRate, Scenario::RoutedReq] {
        let rs: Vec<&Record> = recs
            .iter()
            .filter(|r| r.kind == "result" && r.m.scenario == sc.name() && r.m.latency.is_some())
            .collect();
        if rs.is_empty() {
            continue;
        }
        let labels = ["p50", "p90", "p99", "p99.9", "max"];
        let groups = labels
            .iter()
            .enumerate()
            .map(|(i, l)| Group {
                label: (*l).into(),
                values: names
                    .iter()
                    .map(|n| stats_for(&rs, n, |r| r.m.latency.as_ref().map(|x| x.points()[i].1)))
                    .collect(),
            })
            .collect();
        let title = match sc {
            Scenario::ReqRate => "req-rate, CO-corrected (µs)",
            Scenario::RoutedReq => "routed-req, closed loop across a route (µs)",
            _ => "req-reply, closed loop (µs)",
        };
        panels.push(Panel {
            title: title.into(),
            groups,
            log: true,
            unit: "",
        });
    }
    render(
        "Request/reply latency percentiles (median over rounds)",
        names,
        &panels,
    )
}

/// The shard-scaling sweep: msgs/s against shard count, one line per server.
pub fn scaling_chart(names: &[String], recs: &[Record]) -> String {
    let sweep: Vec<&Record> = recs.iter().filter(|r| r.kind == "sweep").collect();
    let mut shards: Vec<usize> = sweep.iter().map(|r| r.shards).collect();
    shards.sort_unstable();
    shards.dedup();
    let what = sweep
        .first()
        .map(|r| format!("{} at {}", r.m.scenario, size_label(r.m.size)))
        .unwrap_or_default();
    let (w, h) = (640.0, 380.0);
    let (left, right, top, bottom) = (70.0, w - 20.0, 60.0, h - 40.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="16" font-weight="bold">Shard scaling: {} (msgs/s, median)</text>"#,
        esc(&what)
    );
    for (i, n) in names.iter().enumerate() {
        let x = 10.0 + i as f64 * 160.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="42">{}</text>"#,
            COLORS[i % COLORS.len()],
            x + 16.0,
            esc(n)
        );
    }
    let series: Vec<Vec<(usize, Stats)>> = names
        .iter()
        .map(|n| {
            shards
                .iter()
                .filter_map(|&k| {
                    let v: Vec<f64> = sweep
                        .iter()
                        .filter(|r| &r.server == n && r.shards == k)
                        .map(|r| r.m.msgs_per_sec)
                        .collect();
                    Stats::of(&v).map(|st| (k, st))
                })
                .collect()
        })
        .collect();
    let max = series
        .iter()
        .flatten()
        .map(|(_, st)| st.max)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let x = |k: usize| -> f64 {
        let i = shards.iter().position(|&v| v == k).unwrap_or(0) as f64;
        left + (i + 0.5) * (right - left) / shards.len().max(1) as f64
    };
    let y = |v: f64| bottom - v / max * (bottom - top);
    for i in 0..=4 {
        let t = max * i as f64 / 4.0;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{:.1}" x2="{right}" y2="{:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            y(t),
            y(t),
            left - 4.0,
            y(t) + 4.0,
            human(t)
        );
    }
    for &k in &shards {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{k}</text>"#,
            x(k),
            bottom + 16.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">shards</text>"#,
        (left + right) / 2.0,
        h - 8.0
    );
    for (si, pts) in series.iter().enumerate() {
        let c = COLORS[si % COLORS.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(k, st)| format!("{:.1},{:.1}", x(*k), y(st.median)))
            .collect();
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for (k, st) in pts {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{c}"><title>{} shards: {}</title></circle>"#,
                x(*k),
                y(st.median),
                k,
                human(st.median)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Latency, Measurement};

    fn rec(
        server: &str,
        kind: &str,
        scenario: &str,
        size: usize,
        shards: usize,
        rate: f64,
    ) -> Record {
        Record {
            kind: kind.into(),
            server: server.into(),
            shards,
            m: Measurement {
                scenario: scenario.into(),
                size,
                msgs_per_sec: rate,
                latency: Some(Latency {
                    p50_us: 10.0,
                    p90_us: 20.0,
                    p99_us: 50.0,
                    p999_us: 90.0,
                    max_us: 400.0,
                    ..Latency::default()
                }),
                ..Measurement::default()
            },
            ok: true,
            ..Record::default()
        }
    }

    #[test]
    fn charts_are_svg_with_one_bar_per_server_and_size() {
        let names = vec!["go".to_string(), "tpc".to_string()];
        let recs = vec![
            rec("go", "result", "pub", 16, 1, 1e6),
            rec("tpc", "result", "pub", 16, 1, 2e6),
            rec("go", "result", "pub", 128, 1, 9e5),
            rec("tpc", "result", "pub", 128, 1, 1e6),
            rec("go", "result", "req-reply", 128, 1, 1e4),
            rec("go", "sweep", "pairs", 128, 1, 1e6),
            rec("go", "sweep", "pairs", 128, 2, 1.5e6),
            rec("tpc", "sweep", "pairs", 128, 1, 1e6),
            rec("tpc", "sweep", "pairs", 128, 2, 2e6),
        ];
        let t = throughput_chart(&names, &recs);
        assert!(t.starts_with("<svg") && t.trim_end().ends_with("</svg>"));
        assert_eq!(
            t.matches("<rect x=").count() - 2,
            4,
            "4 bars plus 2 legend swatches"
        );
        assert!(t.contains("16B") && t.contains("128B") && t.contains("pub (msgs/s)"));
        let l = latency_chart(&names, &recs);
        assert!(l.contains("p99.9") && l.contains("req-reply"));
        let s = scaling_chart(&names, &recs);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert_eq!(s.matches("<circle").count(), 4);
    }

    #[test]
    fn escapes_text() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
