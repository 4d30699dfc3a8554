//! The HTTP monitor (`-m`, `http_port`): nats-server's endpoints and JSON, served by the
//! control shard from figures gathered from every shard (spec §5).
//!
//! Counters come from each shard's published [`crate::stats::ShardStats`] (no locks or
//! atomics per message); per-connection and per-subscription listings are asked of each
//! shard over its control channel ([`crate::shard::control`]).

pub mod format;
pub mod http;
pub mod routez;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};
use glommio::net::TcpListener;
use glommio::sync::Semaphore;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use log::error;
use serde_json::{json, Value};

use crate::options::WritePolicy;
use crate::shard::control::{ConnInfo, ControlReq, ControlResp, SubInfo, SubszPart};
use crate::shard::Shared;
use format::{go_duration, rfc3339_nano, uptime};

/// The channel pair to one shard.
pub struct ShardLink {
    pub tx: ConnectedSender<ControlReq>,
    pub rx: ConnectedReceiver<ControlResp>,
}

/// The monitor's state on the control shard.
pub struct Monitor {
    shared: Arc<Shared>,
    links: Vec<ShardLink>,
    /// One question round to the shards at a time (their channels carry one answer each).
    asking: Semaphore,
    http_host: String,
    http_port: u16,
    /// Served over TLS (`https_port`): `http_port` is then the HTTPS port.
    https: bool,
    req_stats: RefCell<BTreeMap<String, u64>>,
    /// Last (wall time, process CPU seconds) sample, for `/varz` `cpu`.
    cpu_sample: RefCell<(std::time::Instant, f64)>,
    /// The routes, with a cluster block (same executor: read directly).
    router: Option<Rc<crate::route::Router>>,
}

/// User plus system CPU seconds of this process, from /proc/self/stat.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no side effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / hz
}

type Resp = Response<Full<Bytes>>;

fn json_response(v: &Value, pretty: bool, callback: Option<&str>) -> Resp {
    let body = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .unwrap_or_default();
    let (ctype, body) = match callback {
        // JSONP, as the 2.7-era servers (and the official image's users) had it.
        Some(cb) => ("application/javascript", format!("{cb}({body})")),
        None => ("application/json", body),
    };
    Response::builder()
        .header("Content-Type", ctype)
        .header("Access-Control-Allow-Origin", "*")
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

fn text_response(status: StatusCode, text: &str) -> Resp {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text.to_string())))
        .expect("static headers are valid")
}

/// Query parameters, in order.
fn query(req: &Request<hyper::body::Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// Go's `strconv.ParseBool` values.
fn parse_bool(q: &[(String, String)], k: &str) -> Result<bool, String> {
    match param(q, k) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(v) => Err(format!(
            "Error decoding boolean for '{k}': strconv.ParseBool: parsing \"{v}\": invalid syntax"
        )),
    }
}

fn parse_int(q: &[(String, String)], k: &str, default: i64) -> Result<i64, String> {
    match param(q, k) {
        None | Some("") => Ok(default),
        Some(v) => v.parse::<i64>().map_err(|_| {
            format!("Error decoding int for '{k}': strconv.Atoi: parsing \"{v}\": invalid syntax")
        }),
    }
}

fn process_rss() -> i64 {
    // Resident pages from /proc/self/statm, times the page size.
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no side effects.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64
}

/// A subscription as nats-server lists it; `/subsz` names the account, `/connz` does not.
fn sub_json(s: &SubInfo, with_account: bool) -> Value {
    let mut v = if with_account {
        json!({"account": "$G", "account_tag": "$G", "subject": s.subject})
    } else {
        json!({"subject": s.subject})
    };
    if let Some(q) = &s.queue {
        v["qgroup"] = json!(q);
    }
    v["sid"] = json!(s.sid);
    v["msgs"] = json!(s.msgs);
    if s.max > 0 {
        v["max"] = json!(s.max);
    }
    v["cid"] = json!(s.cid);
    v
}

impl Monitor {
    /// A monitor answering for `shared`, talking to the shards over `links`.
    pub fn new(
        shared: Arc<Shared>,
        links: Vec<ShardLink>,
        host: String,
        port: u16,
        https: bool,
        router: Option<Rc<crate::route::Router>>,
    ) -> Monitor {
        Monitor {
            shared,
            links,
            asking: Semaphore::new(1),
            http_host: host,
            http_port: port,
            https,
            req_stats: RefCell::new(BTreeMap::new()),
            cpu_sample: RefCell::new((std::time::Instant::now(), process_cpu_secs())),
            router,
        }
    }

    /// Accepts HTTP connections forever.
    pub async fn serve(self: Rc<Self>, listener: TcpListener) {
        loop {
            let stream = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    error!("Error accepting monitor connection: {e}");
                    glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let me = self.clone();
            // Read per connection, so certificates replaced by a reload apply at once.
            let tls = if self.https {
                match self.shared.tls.get() {
                    Some(t) => Some(t.monitor.clone()),
                    // TLS turned off by a reload: nothing to serve HTTPS with.
                    None => continue,
                }
            } else {
                None
            };
            let timeout = self
                .shared
                .opts()
                .tls
                .as_ref()
                .map_or(crate::defaults::TLS_TIMEOUT, |t| t.timeout);
            glommio::spawn_local(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let me = me.clone();
                    async move { Ok::<_, Infallible>(me.handle(req).await) }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = builder.serve_connection(http::Io(stream), svc).await;
                    }
                    Some(cfg) => {
                        let accept = futures_rustls::TlsAcceptor::from(cfg).accept(stream);
                        let done = futures_lite::future::or(async { Some(accept.await) }, async {
                            glommio::timer::Timer::new(timeout).await;
                            None
                        })
                        .await;
                        if let Some(Ok(s)) = done {
                            let _ = builder.serve_connection(http::Io(s), svc).await;
                        }
                    }
                }
            })
            .detach();
        }
    }

    async fn ask(&self, req: ControlReq) -> Vec<ControlResp> {
        let _turn = self.asking.acquire_permit(1).await;
        for l in &self.links {
            let _ = l.tx.send(req).await;
        }
        let mut out = Vec::with_capacity(self.links.len());
        for l in &self.links {
            if let Some(r) = l.rx.recv().await {
                out.push(r);
            }
        }
        out
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Resp {
        let opts = self.shared.opts();
        let base = opts.http_base_path.trim_end_matches('/');
        let path = req.uri().path().to_string();
        let Some(rel) = path.strip_prefix(base) else {
            return text_response(StatusCode::NOT_FOUND, "404 page not found\n");
        };
        let rel = if rel.is_empty() { "/" } else { rel };
        let q = query(&req);
        let callback = param(&q, "callback").filter(|c| !c.is_empty());
        let endpoint = match rel {
            "/" | "/varz" | "/connz" | "/routez" | "/gatewayz" | "/leafz" | "/subsz"
            | "/subscriptionsz" | "/accountz" | "/accstatz" | "/jsz" | "/healthz" | "/stacksz"
            | "/shardz" | "/metrics" => rel,
            _ => return text_response(StatusCode::NOT_FOUND, "404 page not found\n"),
        };
        *self
            .req_stats
            .borrow_mut()
            .entry(endpoint.to_string())
            .or_insert(0) += 1;
        let result: Result<Value, String> =
            match endpoint {
                "/" => return self.index(),
                "/varz" => Ok(self.varz()),
                "/connz" => self.connz(&q).await,
                "/subsz" | "/subscriptionsz" => self.subsz(&q).await,
                "/routez" => routez::routez(&self.shared, self.router.as_deref(), &q),
                "/gatewayz" => Ok(json!({
                    "server_id": self.shared.server_id,
                    "now": rfc3339_nano(SystemTime::now()),
                    "outbound_gateways": {},
                    "inbound_gateways": {},
                })),
                "/leafz" => Ok(json!({
                    "server_id": self.shared.server_id,
                    "now": rfc3339_nano(SystemTime::now()),
                    "leafnodes": 0,
                    "leafs": [],
                })),
                "/accountz" => Ok(json!({
                    "server_id": self.shared.server_id,
                    "now": rfc3339_nano(SystemTime::now()),
                    "system_account": "$SYS",
                    "accounts": ["$G", "$SYS"],
                })),
                "/accstatz" => Ok(json!({
                    "server_id": self.shared.server_id,
                    "now": rfc3339_nano(SystemTime::now()),
                    "account_statz": [],
                })),
                "/jsz" => Ok(self.jsz()),
                "/healthz" => return self.healthz(&q, callback),
                "/stacksz" => return text_response(
                    StatusCode::OK,
                    "nats-tpc has no goroutines: one thread per shard plus the control shard.\n",
                ),
                "/shardz" => Ok(self.shardz()),
                "/metrics" => {
                    return Response::builder()
                        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                        .body(Full::new(Bytes::from(self.metrics())))
                        .expect("static headers are valid")
                }
                _ => unreachable!("matched above"),
            };
        match result {
            Ok(v) => json_response(&v, true, callback),
            Err(e) => text_response(StatusCode::BAD_REQUEST, &e),
        }
    }

    /// `/healthz`. Without JetStream every check passes once the listeners are up (they
    /// are before the monitor starts); bad parameters get nats-server's 400s.
    fn healthz(&self, q: &[(String, String)], callback: Option<&str>) -> Resp {
        for k in [
            "js-enabled-only",
            "js-server-only",
            "js-meta-only",
            "js-enabled",
            "details",
        ] {
            if let Err(e) = parse_bool(q, k) {
                return text_response(StatusCode::BAD_REQUEST, &e);
            }
        }
        let given = |k| param(q, k).is_some_and(|v| !v.is_empty());
        let bad = if given("stream") && !given("account") {
            Some("\"account\" must not be empty when checking stream health")
        } else if given("consumer") && !given("stream") {
            Some("\"stream\" must not be empty when checking consumer health")
        } else {
            None
        };
        match bad {
            Some(e) => {
                let mut r = json_response(&json!({"status": "error", "error": e}), false, callback);
                *r.status_mut() = StatusCode::BAD_REQUEST;
                r
            }
            None => json_response(&json!({"status": "ok"}), false, callback),
        }
    }

    fn index(&self) -> Resp {
        let opts = self.shared.opts();
        let base = opts.http_base_path.trim_end_matches('/');
        let mut html =
            String::from("<html lang=\"en\">\n<head><title>nats-tpc</title></head>\n<body>\n");
        html.push_str(&format!(
            "<h1>nats-tpc</h1>\n<p>nats-server compatible, v{}</p>\n",
            crate::defaults::VERSION
        ));
        for e in [
            "varz", "connz", "routez", "gatewayz", "leafz", "subsz", "accountz", "accstatz", "jsz",
            "healthz", "shardz",
        ] {
            html.push_str(&format!("<a href=\"{base}/{e}\">{e}</a><br/>\n"));
        }
        html.push_str("</body>\n</html>\n");
        Response::builder()
            .header("Content-Type", "text/html; charset=utf-8")
            .body(Full::new(Bytes::from(html)))
            .expect("static headers are valid")
    }

    fn varz(&self) -> Value {
        let sh = &self.shared;
        let o = sh.opts();
        let t = crate::stats::totals(&sh.stats);
        let rt = self
            .router
            .as_ref()
            .map(|r| r.traffic())
            .unwrap_or_default();
        let route_sc = self.router.as_ref().map_or((0, 0), |r| r.slow_consumers());
        let route_stale = self.router.as_ref().map_or(0, |r| r.stale_routes.get());
        let now = SystemTime::now();
        let up = now.duration_since(sh.start).unwrap_or_default();
        let cores = crate::server::usable_cpus().len().max(1);
        let mut req_stats = serde_json::Map::new();
        for (k, v) in self.req_stats.borrow().iter() {
            req_stats.insert(k.clone(), json!(v));
        }
        let mut v = json!({
            "server_id": sh.server_id,
            "server_name": sh.server_name,
            "version": crate::defaults::VERSION,
            "proto": crate::defaults::PROTO,
            "go": "nats-tpc",
            "host": o.host,
            "port": sh.port,
        });
        if o.auth.as_ref().is_some_and(|a| a.required()) {
            v["auth_required"] = json!(true);
        }
        if o.tls.is_some() && !o.allow_non_tls {
            v["tls_required"] = json!(true);
        }
        if o.tls.as_ref().is_some_and(|t| t.verify) {
            v["tls_verify"] = json!(true);
        }
        v["max_connections"] = json!(o.max_connections);
        if o.max_subscriptions > 0 {
            v["max_subscriptions"] = json!(o.max_subscriptions);
        }
        let rest = json!({
            "ping_interval": o.ping_interval.as_nanos() as u64,
            "ping_max": o.ping_max,
            "http_host": self.http_host,
            "http_port": if self.https { 0 } else { self.http_port },
            "http_base_path": o.http_base_path,
            // As configured, like nats-server (-1 stays -1).
            "https_port": o.https_port.unwrap_or(0),
            // nats-server: with TLS the auth timeout defaults to the TLS timeout plus 1 s.
            "auth_timeout": match &o.tls {
                Some(t) if o.auth.is_none() => t.timeout.as_secs_f64() + 1.0,
                _ => o.auth_timeout.as_secs_f64(),
            },
            "max_control_line": o.max_control_line,
            "max_payload": o.max_payload,
            "max_pending": o.max_pending,
            "cluster": {},
            "gateway": {},
            "leaf": {},
            "mqtt": {},
            "websocket": {},
            "jetstream": {},
            "tls_timeout": o.tls.as_ref().map_or(crate::defaults::TLS_TIMEOUT, |t| t.timeout).as_secs_f64(),
            "write_deadline": o.write_deadline.as_nanos() as u64,
            "start": rfc3339_nano(sh.start),
            "now": rfc3339_nano(now),
            "uptime": uptime(up),
            "mem": process_rss(),
            "cores": cores,
            "gomaxprocs": sh.nshards,
            "cpu": self.cpu_percent(),
            "connections": t.connections,
            "total_connections": t.total_connections,
            "routes": self.router.as_ref().map_or(0, |r| r.num_routes()),
            "remotes": self.router.as_ref().map_or(0, |r| r.num_routes()),
            "leafnodes": 0,
            // As nats-server: in/out count clients and routes; in_client/out_client only
            // clients.
            "in_msgs": t.in_msgs + rt.in_msgs,
            "in_bytes": t.in_bytes + rt.in_bytes,
            "in_client_msgs": t.in_msgs,
            "in_client_bytes": t.in_bytes,
            "out_msgs": t.out_msgs + rt.out_msgs,
            "out_bytes": t.out_bytes + rt.out_bytes,
            "out_client_msgs": t.out_msgs,
            "out_client_bytes": t.out_bytes,
            "slow_consumers": t.slow_consumers + route_sc.0,
            "stale_connections": t.stale_connections + route_stale,
            "stalled_clients": 0,
            "subscriptions": t.subscriptions,
            "http_req_stats": req_stats,
            "config_load_time": rfc3339_nano(sh.start),
            "config_digest": "",
            "system_account": "$SYS",
            "slow_consumer_stats": {
                "clients": t.slow_consumers,
                "routes": route_sc.1,
                "gateways": 0,
                "leafs": 0,
            },
            "stale_connection_stats": {
                "clients": t.stale_connections,
                "routes": route_stale,
                "gateways": 0,
                "leafs": 0,
            },
        });
        if let (Value::Object(a), Value::Object(b)) = (&mut v, rest) {
            a.extend(b);
        }
        if o.write_timeout != WritePolicy::Default {
            v["write_timeout"] = json!(o.write_timeout.as_str());
        }
        if let Some(r) = &self.router {
            v["cluster"] = routez::varz_cluster(r);
        } else if let Some(c) = &o.cluster_name {
            v["cluster"] = json!({ "name": c });
        }
        v
    }

    /// Prometheus text format. The `gnatsd_varz_*` names are prometheus-nats-exporter's,
    /// so dashboards built on the exporter work against this endpoint directly;
    /// `nats_tpc_shard_*` are ours, one series per shard.
    fn metrics(&self) -> String {
        use std::fmt::Write as _;
        let v = self.varz();
        let id = &self.shared.server_id;
        let mut out = String::new();
        for (name, kind, help) in [
            ("connections", "gauge", "Current client connections"),
            (
                "total_connections",
                "counter",
                "Client connections since start",
            ),
            ("subscriptions", "gauge", "Current subscriptions"),
            (
                "slow_consumers",
                "counter",
                "Slow consumers disconnected since start",
            ),
            (
                "in_msgs",
                "counter",
                "Messages received from clients and routes",
            ),
            ("out_msgs", "counter", "Messages sent to clients and routes"),
            (
                "in_bytes",
                "counter",
                "Payload bytes received from clients and routes",
            ),
            (
                "out_bytes",
                "counter",
                "Payload bytes sent to clients and routes",
            ),
            ("mem", "gauge", "Resident memory in bytes"),
            // Like /varz, a scrape measures CPU use since the previous /varz or /metrics.
            (
                "cpu",
                "gauge",
                "Process CPU use in percent since the previous request",
            ),
            ("cores", "gauge", "CPUs the process may use"),
            ("max_payload", "gauge", "max_payload setting"),
            ("max_connections", "gauge", "max_connections setting"),
            ("routes", "gauge", "Connected routes"),
            ("remotes", "gauge", "Configured route remotes"),
            ("leafnodes", "gauge", "Connected leaf nodes"),
        ] {
            let val = v[name].as_f64().unwrap_or(0.0);
            let _ = writeln!(out, "# HELP gnatsd_varz_{name} {help}");
            let _ = writeln!(out, "# TYPE gnatsd_varz_{name} {kind}");
            let _ = writeln!(out, "gnatsd_varz_{name}{{server_id=\"{id}\"}} {val}");
        }
        let per_shard = |s: &crate::stats::ShardStats, name: &str| -> u64 {
            match name {
                "connections" => s.connections.load(Relaxed),
                "subscriptions" => s.subscriptions.load(Relaxed),
                "in_msgs" => s.in_msgs.load(Relaxed),
                "out_msgs" => s.out_msgs.load(Relaxed),
                "in_bytes" => s.in_bytes.load(Relaxed),
                "out_bytes" => s.out_bytes.load(Relaxed),
                "cross_shard_out_msgs" => s.cross_out_msgs.load(Relaxed),
                "cross_shard_in_msgs" => s.cross_in_msgs.load(Relaxed),
                "busy_seconds" => s.busy_ns.load(Relaxed) / 1_000_000_000,
                _ => s.outbox_depth.load(Relaxed),
            }
        };
        for (name, kind, help) in [
            ("connections", "gauge", "Client connections on the shard"),
            ("subscriptions", "gauge", "Subscriptions on the shard"),
            (
                "in_msgs",
                "counter",
                "Messages received by the shard's clients",
            ),
            (
                "out_msgs",
                "counter",
                "Messages delivered to the shard's clients",
            ),
            ("in_bytes", "counter", "Payload bytes received by the shard"),
            (
                "out_bytes",
                "counter",
                "Payload bytes delivered by the shard",
            ),
            (
                "cross_shard_out_msgs",
                "counter",
                "Messages sent to other shards",
            ),
            (
                "cross_shard_in_msgs",
                "counter",
                "Messages received from other shards",
            ),
            ("outbox_depth", "gauge", "Items queued for other shards"),
            ("busy_seconds", "counter", "Whole seconds spent processing"),
        ] {
            let _ = writeln!(out, "# HELP nats_tpc_shard_{name} {help}");
            let _ = writeln!(out, "# TYPE nats_tpc_shard_{name} {kind}");
            for (i, s) in self.shared.stats.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "nats_tpc_shard_{name}{{server_id=\"{id}\",shard=\"{i}\"}} {}",
                    per_shard(s, name)
                );
            }
        }
        out
    }

    /// Process CPU use since the previous call, in percent of one CPU (nats-server's `cpu`).
    fn cpu_percent(&self) -> f64 {
        let mut last = self.cpu_sample.borrow_mut();
        let (now, cpu) = (std::time::Instant::now(), process_cpu_secs());
        let wall = now.duration_since(last.0).as_secs_f64();
        let pct = if wall > 0.0 {
            ((cpu - last.1) / wall * 100.0 * 100.0).round() / 100.0
        } else {
            0.0
        };
        *last = (now, cpu);
        pct.max(0.0)
    }

    fn jsz(&self) -> Value {
        json!({
            "memory": 0,
            "storage": 0,
            "reserved_memory": 0,
            "reserved_storage": 0,
            "accounts": 0,
            "ha_assets": 0,
            "api": {"level": 0, "total": 0, "errors": 0},
            "server_id": self.shared.server_id,
            "now": rfc3339_nano(SystemTime::now()),
            "disabled": true,
            "config": {"max_memory": 0, "max_storage": 0},
            "streams": 0,
            "consumers": 0,
            "messages": 0,
            "bytes": 0,
            "total": 0,
        })
    }

    fn shardz(&self) -> Value {
        let shards: Vec<Value> = self
            .shared
            .stats
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({
                    "shard": i,
                    "connections": s.connections.load(Relaxed),
                    "total_connections": s.total_connections.load(Relaxed),
                    "subscriptions": s.subscriptions.load(Relaxed),
                    "in_msgs": s.in_msgs.load(Relaxed),
                    "in_bytes": s.in_bytes.load(Relaxed),
                    "out_msgs": s.out_msgs.load(Relaxed),
                    "out_bytes": s.out_bytes.load(Relaxed),
                    "cross_shard_out_msgs": s.cross_out_msgs.load(Relaxed),
                    "cross_shard_in_msgs": s.cross_in_msgs.load(Relaxed),
                    "outbox_depth": s.outbox_depth.load(Relaxed),
                    "busy_ns": s.busy_ns.load(Relaxed),
                    "slow_consumers": s.slow_consumers.load(Relaxed),
                })
            })
            .collect();
        json!({
            "server_id": self.shared.server_id,
            "now": rfc3339_nano(SystemTime::now()),
            "num_shards": self.shared.nshards,
            "shards": shards,
        })
    }

    async fn connz(&self, q: &[(String, String)]) -> Result<Value, String> {
        let sort = param(q, "sort").unwrap_or("");
        let subs_detail = param(q, "subs") == Some("detail");
        let subs = subs_detail || parse_bool(q, "subs")?;
        let auth = parse_bool(q, "auth")?;
        // Every client is in the global account (no accounts yet): a filter for another
        // account matches nothing. `user` matches the authenticated user.
        let acc = param(q, "acc").filter(|a| !a.is_empty());
        let user = param(q, "user").filter(|u| !u.is_empty());
        let offset = parse_int(q, "offset", 0)?.max(0) as usize;
        let limit = parse_int(q, "limit", 1024)?;
        let limit = if limit <= 0 { 1024 } else { limit as usize };
        let cid = parse_int(q, "cid", 0)?;
        let state = param(q, "state").unwrap_or("open");
        if !matches!(state, "open" | "closed" | "any" | "all" | "") {
            return Err(format!("invalid connection state: {state}"));
        }
        match sort {
            "" | "cid" | "start" | "subs" | "pending" | "msgs_to" | "msgs_from" | "bytes_to"
            | "bytes_from" | "last" | "idle" | "uptime" | "rtt" => {}
            "stop" | "reason" => {
                if state == "open" || state.is_empty() {
                    return Err(format!("sort by {sort} only valid on closed connections"));
                }
            }
            other => return Err(format!("invalid sorting option: {other}")),
        }
        let open = state != "closed";
        let closed = matches!(state, "closed" | "any" | "all");
        let mut conns: Vec<ConnInfo> = Vec::new();
        for r in self.ask(ControlReq::Connz { subs, open, closed }).await {
            if let ControlResp::Connz(c) = r {
                conns.extend(c);
            }
        }
        if closed {
            // The ring is per shard; keep the newest max_closed_clients over all of them.
            let max = self.shared.opts().max_closed_clients;
            let mut gone: Vec<ConnInfo> = Vec::new();
            conns.retain(|c| {
                if c.stop.is_some() {
                    gone.push(c.clone());
                    false
                } else {
                    true
                }
            });
            gone.sort_by_key(|c| std::cmp::Reverse(c.stop));
            gone.truncate(max);
            conns.extend(gone);
        }
        if cid > 0 {
            conns.retain(|c| c.cid == cid as u64);
        }
        if acc.is_some_and(|a| a != "$G") {
            return Ok(json!({
                "server_id": self.shared.server_id,
                "now": rfc3339_nano(SystemTime::now()),
                "num_connections": 0,
                "total": 0,
                "offset": offset,
                "limit": limit,
                "connections": null,
            }));
        }
        let now = SystemTime::now();
        let since = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        match sort {
            "start" => conns.sort_by_key(|c| c.start),
            "subs" => conns.sort_by_key(|c| std::cmp::Reverse(c.num_subs)),
            "pending" => conns.sort_by_key(|c| std::cmp::Reverse(c.pending_bytes)),
            "msgs_to" => conns.sort_by_key(|c| std::cmp::Reverse(c.out_msgs)),
            "msgs_from" => conns.sort_by_key(|c| std::cmp::Reverse(c.in_msgs)),
            "bytes_to" => conns.sort_by_key(|c| std::cmp::Reverse(c.out_bytes)),
            "bytes_from" => conns.sort_by_key(|c| std::cmp::Reverse(c.in_bytes)),
            "last" => conns.sort_by_key(|c| std::cmp::Reverse(c.last_activity)),
            "idle" => conns.sort_by_key(|c| std::cmp::Reverse(since(c.last_activity))),
            "uptime" => conns.sort_by_key(|c| std::cmp::Reverse(since(c.start))),
            "rtt" => conns.sort_by_key(|c| std::cmp::Reverse(c.rtt)),
            "stop" => conns.sort_by_key(|c| std::cmp::Reverse(c.stop)),
            "reason" => conns.sort_by_key(|c| c.reason),
            _ => conns.sort_by_key(|c| c.cid),
        }
        let total = conns.len();
        // nats-server filters by user after counting, so `total` keeps every connection.
        if let Some(u) = user {
            conns.retain(|c| c.user == u);
        }
        let page: Vec<Value> = conns
            .iter()
            .skip(offset)
            .take(limit)
            .map(|c| {
                let mut v = json!({
                    "cid": c.cid,
                    "kind": "Client",
                    "type": "nats",
                    "ip": c.ip,
                    "port": c.port,
                    "start": rfc3339_nano(c.start),
                    "last_activity": rfc3339_nano(c.last_activity),
                });
                let end = c.stop.unwrap_or(now);
                if let Some(stop) = c.stop {
                    v["stop"] = json!(rfc3339_nano(stop));
                    v["reason"] = json!(c.reason.unwrap_or(""));
                }
                let rest = json!({
                    "rtt": go_duration(c.rtt),
                    "uptime": uptime(end.duration_since(c.start).unwrap_or_default()),
                    "idle": uptime(end.duration_since(c.last_activity).unwrap_or_default()),
                    "pending_bytes": c.pending_bytes,
                    "in_msgs": c.in_msgs,
                    "out_msgs": c.out_msgs,
                    "in_bytes": c.in_bytes,
                    "out_bytes": c.out_bytes,
                    "subscriptions": c.num_subs,
                });
                if let (Value::Object(a), Value::Object(b)) = (&mut v, rest) {
                    a.extend(b);
                }
                for (k, s) in [
                    ("name", &c.name),
                    ("lang", &c.lang),
                    ("version", &c.version),
                ] {
                    if !s.is_empty() {
                        v[k] = json!(s);
                    }
                }
                if auth && !c.user.is_empty() {
                    v["authorized_user"] = json!(c.user);
                }
                if let Some(t) = &c.tls {
                    v["tls_version"] = json!(t.version);
                    v["tls_cipher_suite"] = json!(t.cipher);
                    if auth && !t.peer_certs.is_empty() {
                        v["tls_peer_certs"] = Value::Array(
                            t.peer_certs
                                .iter()
                                .map(|p| {
                                    json!({
                                        "subject": p.subject,
                                        "spki_sha256": p.spki_sha256,
                                        "cert_sha256": p.cert_sha256,
                                    })
                                })
                                .collect(),
                        );
                    }
                    if t.first {
                        v["tls_first"] = json!(true);
                    }
                }
                if subs && !c.subs.is_empty() {
                    if subs_detail {
                        v["subscriptions_list_detail"] =
                            Value::Array(c.subs.iter().map(|s| sub_json(s, false)).collect());
                    } else {
                        v["subscriptions_list"] =
                            Value::Array(c.subs.iter().map(|s| json!(s.subject)).collect());
                    }
                }
                if auth {
                    v["name_tag"] = json!("$G");
                }
                v
            })
            .collect();
        Ok(json!({
            "server_id": self.shared.server_id,
            "now": rfc3339_nano(now),
            "num_connections": page.len(),
            "total": total,
            "offset": offset,
            "limit": limit,
            "connections": page,
        }))
    }

    async fn subsz(&self, q: &[(String, String)]) -> Result<Value, String> {
        let list = parse_bool(q, "subs")?;
        let offset = parse_int(q, "offset", 0)?.max(0) as usize;
        let limit = parse_int(q, "limit", 1024)?;
        let limit = if limit <= 0 { 1024 } else { limit as usize };
        let test = param(q, "test").filter(|t| !t.is_empty());
        if let Some(t) = test {
            if !crate::subject::is_valid_literal_subject(t.as_bytes()) {
                return Err(format!(
                    "invalid test subject, must be valid publish subject: {t}"
                ));
            }
        }
        // Every subscription is in the global account until accounts exist.
        let other_acc = param(q, "acc").is_some_and(|a| !a.is_empty() && a != "$G");
        let answers = if other_acc {
            Vec::new()
        } else {
            self.ask(ControlReq::Subsz {
                list: list || test.is_some(),
            })
            .await
        };
        let mut sum = SubszPart::default();
        for r in answers {
            if let ControlResp::Subsz(p) = r {
                sum.num_subscriptions += p.num_subscriptions;
                sum.num_cache += p.num_cache;
                sum.num_inserts += p.num_inserts;
                sum.num_removes += p.num_removes;
                sum.num_matches += p.num_matches;
                sum.cache_hits += p.cache_hits;
                sum.subs.extend(p.subs);
            }
        }
        let hit_rate = if sum.num_matches > 0 {
            sum.cache_hits as f64 / sum.num_matches as f64
        } else {
            0.0
        };
        let mut v = json!({
            "server_id": self.shared.server_id,
            "now": rfc3339_nano(SystemTime::now()),
            "num_subscriptions": sum.num_subscriptions,
            "num_cache": sum.num_cache,
            "num_inserts": sum.num_inserts,
            "num_removes": sum.num_removes,
            "num_matches": sum.num_matches,
            "cache_hit_rate": hit_rate,
            "max_fanout": 0,
            "avg_fanout": 0.0,
        });
        let mut subs = sum.subs;
        if let Some(t) = test {
            subs.retain(|s| crate::subject::matches(s.subject.as_bytes(), t.as_bytes()));
        }
        subs.sort_by(|a, b| (a.cid, &a.sid).cmp(&(b.cid, &b.sid)));
        let total = if list || test.is_some() {
            subs.len()
        } else {
            0
        };
        v["total"] = json!(total);
        v["offset"] = json!(offset);
        v["limit"] = json!(limit);
        if list || test.is_some() {
            let page: Vec<Value> = subs
                .iter()
                .skip(offset)
                .take(limit)
                .map(|s| sub_json(s, true))
                .collect();
            if !page.is_empty() {
                v["subscriptions_list"] = Value::Array(page);
            }
        }
        Ok(v)
    }
}
