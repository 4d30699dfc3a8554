//! `/routez` and the `cluster` block of `/varz` (spec §5), read straight from the router:
//! it runs on the same executor as the monitor.

use std::time::SystemTime;

use serde_json::{json, Value};

use super::format::{go_duration, rfc3339_nano, uptime};
use crate::options::WritePolicy;
use crate::route::Router;
use crate::shard::Shared;

/// `/routez`: one entry per registered route, like nats-server's (`subs=1` lists the
/// peer's subscriptions).
pub fn routez(
    sh: &Shared,
    router: Option<&Router>,
    q: &[(String, String)],
) -> Result<Value, String> {
    let subs = super::parse_bool(q, "subs")?;
    let now = SystemTime::now();
    let mut routes = Vec::new();
    if let Some(r) = router {
        let st = r.st.borrow();
        let mut regs: Vec<_> = st
            .routes
            .iter()
            .filter(|(_, rt)| rt.is_registered())
            .map(|(_, rt)| rt.clone())
            .collect();
        regs.sort_by_key(|rt| rt.rid);
        for rt in regs {
            let s = rt.st.borrow();
            let configured = s.solicit.as_ref().is_some_and(|x| x.explicit);
            let mut e = json!({
                "rid": rt.rid,
                "remote_id": s.remote_id,
                "remote_name": s.remote_name,
                "did_solicit": s.solicit.is_some(),
                "is_configured": configured,
                "ip": rt.peer.ip().to_string(),
                "port": rt.peer.port(),
                "start": rfc3339_nano(s.start),
                "last_activity": rfc3339_nano(s.last_activity),
                "rtt": go_duration(s.rtt),
                "uptime": uptime(now.duration_since(s.start).unwrap_or_default()),
                "idle": uptime(now.duration_since(s.last_activity).unwrap_or_default()),
                "pending_size": s.out.len() + s.inflight,
                "in_msgs": s.in_msgs,
                "out_msgs": s.out_msgs,
                "in_bytes": s.in_bytes,
                "out_bytes": s.out_bytes,
                "subscriptions": rt.num_subs(),
            });
            drop(s);
            if subs {
                e["subscriptions_list"] = json!(rt.subs_list());
            }
            e["compression"] = json!("off");
            routes.push(e);
        }
    }
    Ok(json!({
        "server_id": sh.server_id,
        "server_name": sh.server_name,
        "now": rfc3339_nano(now),
        "num_routes": routes.len(),
        "routes": routes,
    }))
}

/// `/varz` `cluster`: name, listen address, port, auth timeout, the configured routes and
/// route TLS.
pub fn varz_cluster(r: &Router) -> Value {
    let c = r.copts();
    let mut v = json!({
        "name": r.st.borrow().cluster_name,
        "addr": c.host,
        "cluster_port": r.listen.port(),
        "auth_timeout": c.auth_timeout.as_secs_f64(),
    });
    if !c.routes.is_empty() {
        v["urls"] = json!(c.routes.iter().map(|u| u.host_port()).collect::<Vec<_>>());
    }
    let timeout = c
        .tls
        .as_ref()
        .map_or(crate::defaults::TLS_TIMEOUT, |t| t.timeout);
    v["tls_timeout"] = json!(timeout.as_secs_f64());
    if c.tls.is_some() {
        // Route TLS always verifies the peer, so nats-server reports both.
        v["tls_required"] = json!(true);
        v["tls_verify"] = json!(true);
    }
    // Both only when set in the `cluster {}` block.
    if let Some(d) = c.write_deadline {
        v["write_deadline"] = json!(d.as_nanos() as u64);
    }
    if c.write_timeout != WritePolicy::Default {
        v["write_timeout"] = json!(c.write_timeout.as_str());
    }
    v
}
