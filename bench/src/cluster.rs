//! Two-node clusters for the routed scenarios. Both nodes run the same server command, each
//! started fresh with its own client port and cluster port: node A listens for routes, node B
//! is told to route to A, and both carry the same cluster name. The flags are nats-server's
//! (`--cluster`, `--cluster_name`, `--routes`), which nats-tpc takes too.
//!
//! A route that is connected is not yet a route that carries a run's traffic: a subscription
//! made on B reaches A a moment later, and what A receives before then has no interest and is
//! dropped, which the run would count as lost. So readiness is checked the way a client sees
//! it: probe messages are published on one node until a subscriber on the other receives
//! one, for the route itself when the cluster starts ([`Cluster::start`], both directions),
//! then for each run's own subscriptions ([`await_interest`]).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::conn::Conn;
use crate::proto::{self, Frame};
use crate::server::{self, Server};

/// Cluster name given to both nodes (`--cluster_name`).
pub const CLUSTER_NAME: &str = "nats-bench";

/// How long the route may take to form and carry interest both ways. nats-server retries a
/// failed route connect after 1 s, so a node B that dials before A's route listener is up
/// still makes it well within this.
pub const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one run's subscriptions may take to reach the other node.
pub const INTEREST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a probe is published while waiting, and how long each wait for it reads.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// Subject of the route check made when a cluster starts.
pub const ROUTE_PROBE_SUBJECT: &str = "_bench.route.probe";

/// Where the generator's connections go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nodes {
    /// Publishers and requesters connect here.
    pub a: SocketAddr,
    /// Subscribers and responders connect here; the same as `a` for a single server.
    pub b: SocketAddr,
}

impl Nodes {
    /// Everything on one server.
    pub fn single(addr: SocketAddr) -> Nodes {
        Nodes { a: addr, b: addr }
    }

    /// Whether publishers and subscribers are on different nodes.
    pub fn is_cluster(&self) -> bool {
        self.a != self.b
    }
}

impl From<SocketAddr> for Nodes {
    fn from(addr: SocketAddr) -> Nodes {
        Nodes::single(addr)
    }
}

/// The cluster flags of one node: its route listener on `cluster_port` and, for node B, a
/// route to node A's `route_to`.
pub fn cluster_flags(cluster_port: u16, route_to: Option<u16>) -> String {
    let mut f = format!("--cluster nats://127.0.0.1:{cluster_port} --cluster_name {CLUSTER_NAME}");
    if let Some(p) = route_to {
        f.push_str(&format!(" --routes nats-route://127.0.0.1:{p}"));
    }
    f
}

/// A node's command template: `{cluster}` in `template` becomes `flags`; without that
/// placeholder the flags are appended (a template ending in `env ... nats-server -p {port}`
/// needs none).
pub fn node_template(template: &str, flags: &str) -> String {
    if template.contains("{cluster}") {
        template.replace("{cluster}", flags)
    } else {
        format!("{template} {flags}")
    }
}

/// A running two-node cluster whose route carries messages both ways.
pub struct Cluster {
    /// Node A: publishers and requesters.
    pub a: Server,
    /// Node B: routes to A; subscribers and responders.
    pub b: Server,
}

impl Cluster {
    /// Starts node A, then node B routed to it, both from `template` (with `{port}`, and
    /// optionally `{shards}` and `{cluster}`) and pinned to `cpus`; returns once a probe
    /// published on each node has reached a subscriber on the other.
    pub fn start(
        template: &str,
        shards: usize,
        cpus: &[usize],
        logs: (&Path, &Path),
    ) -> Result<Cluster, String> {
        let ports = server::free_ports(4).map_err(|e| format!("no free ports: {e}"))?;
        let (client_a, client_b, route_a, route_b) = (ports[0], ports[1], ports[2], ports[3]);
        let a = Server::start_on(
            &node_template(template, &cluster_flags(route_a, None)),
            client_a,
            shards,
            cpus,
            logs.0,
        )
        .map_err(|e| format!("node A: {e}"))?;
        let b = Server::start_on(
            &node_template(template, &cluster_flags(route_b, Some(route_a))),
            client_b,
            shards,
            cpus,
            logs.1,
        )
        .map_err(|e| format!("node B: {e}"))?;
        let c = Cluster { a, b };
        if let Err(e) = c.check_route(ROUTE_TIMEOUT) {
            return Err(format!(
                "{e}\nnode A log {}:\n{}\nnode B log {}:\n{}",
                logs.0.display(),
                server::tail(logs.0),
                logs.1.display(),
                server::tail(logs.1)
            ));
        }
        Ok(c)
    }

    /// Client addresses: A for publishers, B for subscribers.
    pub fn nodes(&self) -> Nodes {
        Nodes {
            a: self.a.addr,
            b: self.b.addr,
        }
    }

    /// CPU seconds both nodes have used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        Some(self.a.cpu_seconds()? + self.b.cpu_seconds()?)
    }

    /// Whether both nodes are still running.
    pub fn alive(&mut self) -> bool {
        self.a.alive() & self.b.alive()
    }

    /// Stops both nodes (B first, so A does not spend the stop reconnecting to it).
    pub fn stop(self) {
        self.b.stop();
        self.a.stop();
    }

    /// Probes the route A→B, then B→A.
    fn check_route(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let n = self.nodes();
        for (from, to, what) in [(n.a, n.b, "A to B"), (n.b, n.a, "B to A")] {
            let mut sub = subscribe(to, &[ROUTE_PROBE_SUBJECT])
                .map_err(|e| format!("route check {what}: {e}"))?;
            let left = deadline.saturating_duration_since(Instant::now());
            await_interest(from, &mut sub, &[ROUTE_PROBE_SUBJECT], left)
                .map_err(|e| format!("route check {what}: {e}"))?;
        }
        Ok(())
    }
}

/// A connection to `addr` subscribed to `subjects` (sids 1, 2, ...), after the server has
/// processed the subscriptions.
pub fn subscribe(addr: SocketAddr, subjects: &[&str]) -> std::io::Result<Conn> {
    let mut c = Conn::connect(addr)?;
    let mut out = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        proto::encode_sub(&mut out, s.as_bytes(), None, i as u64 + 1);
    }
    c.write_all(&out)?;
    c.flush(|_| {})?;
    Ok(c)
}

/// Waits until messages published on the node at `from` to each of `subjects` reach `conn`,
/// which is subscribed to them on another node: publishes a probe (see
/// [`proto::probe_payload`]) to every subject not yet seen, every few milliseconds, from a
/// connection of its own. Leaves `conn`'s read timeout short; callers set their own. Probes
/// still in flight afterwards reach the caller's read loop, which must skip them
/// ([`proto::is_probe`]).
pub fn await_interest(
    from: SocketAddr,
    conn: &mut Conn,
    subjects: &[&str],
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut probe = Conn::connect(from).map_err(|e| format!("probe connection to {from}: {e}"))?;
    conn.set_read_timeout(Some(PROBE_INTERVAL))
        .map_err(|e| e.to_string())?;
    let payload = proto::probe_payload();
    let mut pending: Vec<&str> = subjects.to_vec();
    let mut out = Vec::new();
    while !pending.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "messages published on {from} to {pending:?} did not arrive within {timeout:?}"
            ));
        }
        out.clear();
        for s in &pending {
            proto::encode_pub(&mut out, s.as_bytes(), None, &payload);
        }
        probe
            .write_all(&out)
            .map_err(|e| format!("probe connection to {from}: {e}"))?;
        conn.read_some(|f| {
            if let Frame::Msg {
                subject, payload, ..
            } = f
            {
                if proto::is_probe(payload) {
                    pending.retain(|s| s.as_bytes() != *subject);
                }
            }
        })
        .map_err(|e| format!("waiting for probes: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_b_routes_to_node_a_under_one_cluster_name() {
        assert_eq!(
            cluster_flags(6222, None),
            "--cluster nats://127.0.0.1:6222 --cluster_name nats-bench"
        );
        assert_eq!(
            cluster_flags(6223, Some(6222)),
            "--cluster nats://127.0.0.1:6223 --cluster_name nats-bench \
             --routes nats-route://127.0.0.1:6222"
        );
    }

    #[test]
    fn cluster_flags_go_where_the_template_says_or_at_the_end() {
        assert_eq!(
            node_template("env GOMAXPROCS={shards} nats-server -p {port}", "--x"),
            "env GOMAXPROCS={shards} nats-server -p {port} --x"
        );
        assert_eq!(
            node_template("srv {cluster} -p {port} -c f.conf", "--x"),
            "srv --x -p {port} -c f.conf"
        );
    }

    #[test]
    fn free_ports_are_distinct() {
        let p = server::free_ports(4).unwrap();
        let mut d = p.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 4, "{p:?}");
    }
}
