//! Start-up: checks io_uring, binds the listeners, builds the shard mesh and starts one
//! glommio executor per shard plus the control shard.
//!
//! Listeners are made with socket2, one per shard on the same address with `SO_REUSEPORT`,
//! so the kernel spreads connections over the shards. Because `SO_REUSEPORT` would also let
//! a second server start silently on a busy port, the port is first probed with a plain
//! socket that fails like nats-server does when the port is taken.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};
use log::error;
use socket2::{Domain, Protocol, Socket, Type};

use crate::defaults::GLOMMIO_IO_MEMORY;
use crate::monitor::{Monitor, ShardLink};
use crate::options::Options;
use crate::route::Router;
use crate::shard::control::{ControlReq, ControlResp};
use crate::shard::housekeeping::Acceptor;
use crate::shard::{conn, mesh, Shard, Shared};
use crate::{nkey, uring};

/// Why the server could not start. The binary prints it as a fatal log line and exits 1.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Uring(#[from] uring::UringUnavailable),
    #[error("Error listening on port: {addr}, \"listen tcp {addr}: {err}\"")]
    Listen { addr: String, err: String },
    #[error("could not start shard executor: {0}")]
    Executor(String),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("Can't start monitoring: {0}")]
    Monitor(String),
    #[error("Error listening on router port: {port} - {err}")]
    RouteListen { port: i32, err: String },
    #[error("{0}")]
    Config(String),
}

/// A running server.
pub struct Running {
    /// The address clients connect to (with the real port for `-p -1`).
    pub client_addr: SocketAddr,
    /// Number of client shards.
    pub shards: usize,
    /// Server id.
    pub server_id: String,
    /// Server name.
    pub server_name: String,
    /// Where the HTTP monitor listens, when enabled.
    pub monitor_addr: Option<SocketAddr>,
    /// Where routes connect, with a cluster block.
    pub route_addr: Option<SocketAddr>,
    /// The cluster name, and whether it was generated (no `name` configured).
    pub cluster: Option<(String, bool)>,
    /// The monitor speaks HTTPS (`https_port`).
    pub monitor_https: bool,
    shared: Arc<Shared>,
}

impl Running {
    /// Puts new options in force (a reload). The caller checked that only reloadable
    /// settings differ; shards take them within [`crate::shard::OPTS_POLL`].
    pub fn reload(&self, opts: Options) -> Result<(), String> {
        // Certificates are read again whenever TLS is configured (nats-server reloads them
        // on every SIGHUP); new connections use the new ones, open ones keep theirs.
        let tls = match &opts.tls {
            Some(t) => Some(crate::tls::build(t).map_err(|e| e.to_string())?),
            None => None,
        };
        // Route certificates likewise, for routes that connect from now on.
        let route_tls = route_tls(&opts).map_err(|e| e.to_string())?;
        self.shared.tls.set(tls);
        // nats-server closes clients until it is within a lowered max_connections; the
        // shards close their share once they see the new options.
        let open = self.shared.num_clients.load(Ordering::Acquire);
        let excess = open.saturating_sub(opts.max_connections);
        self.shared.over_max.store(excess, Ordering::Release);
        if excess > 0 {
            log::info!("Closed {excess} connections to fall within max_connections");
        }
        self.shared.set_route_tls(route_tls);
        let gen = self.shared.set_opts(opts);
        // Like nats-server, return once the new settings are in force everywhere: every
        // client shard has picked them up (within its poll interval) and acted on them.
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while self
            .shared
            .opts_applied
            .iter()
            .any(|a| a.load(Ordering::Acquire) < gen)
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// The options in force.
    pub fn opts(&self) -> Arc<Options> {
        self.shared.opts()
    }

    /// Enters lame duck mode and returns once no shard accepts connections any more (or
    /// after `wait`, should a shard be stuck).
    pub fn enter_lame_duck(&self, wait: Duration) {
        let ldm = &self.shared.ldm;
        ldm.entered.store(true, Ordering::Release);
        let until = std::time::Instant::now() + wait;
        while ldm.listeners_closed.load(Ordering::Acquire) < self.shards
            && std::time::Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lame duck mode after the grace period: shards close their clients over `over`.
    pub fn close_clients_over(&self, over: Duration) {
        let ns = (over.as_nanos() as u64).max(1);
        self.shared.ldm.close_over_ns.store(ns, Ordering::Release);
    }

    /// Open client connections over all shards.
    pub fn num_clients(&self) -> usize {
        self.shared.num_clients.load(Ordering::Acquire)
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn listen_err(host: &str, port: u16, e: io::Error) -> StartError {
    let err = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "bind: address already in use".to_string(),
        Some(libc::EADDRNOTAVAIL) => "bind: cannot assign requested address".to_string(),
        Some(libc::EACCES) => "bind: permission denied".to_string(),
        _ => e.to_string(),
    };
    StartError::Listen {
        addr: host_port(host, port),
        err,
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, StartError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| listen_err(host, port, e))?
        .next()
        .ok_or_else(|| listen_err(host, port, io::ErrorKind::AddrNotAvailable.into()))
}

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Binds `n` listeners on one port. Port 0 picks a free port.
fn bind_listeners(
    host: &str,
    port: u16,
    n: usize,
) -> Result<(Vec<Socket>, SocketAddr), StartError> {
    let addr = resolve(host, port)?;
    // The probe: no SO_REUSEPORT, so it fails when any server (ours included) holds the port.
    let probe = new_socket(&addr).map_err(|e| listen_err(host, port, e))?;
    probe
        .bind(&addr.into())
        .map_err(|e| listen_err(host, port, e))?;
    let bound = probe
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    drop(probe);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = new_socket(&bound).map_err(|e| listen_err(host, bound.port(), e))?;
        s.set_reuse_port(true)
            .map_err(|e| listen_err(host, bound.port(), e))?;
        s.bind(&bound.into())
            .map_err(|e| listen_err(host, bound.port(), e))?;
        s.listen(4096)
            .map_err(|e| listen_err(host, bound.port(), e))?;
        out.push(s);
    }
    Ok((out, bound))
}

/// The CPUs this process may run on (its affinity mask, so taskset and cpusets count).
pub fn usable_cpus() -> Vec<core_affinity::CoreId> {
    core_affinity::get_core_ids().unwrap_or_default()
}

/// A cluster name for a server configured without one (nats-server uses a NUID: 22
/// base-62 characters).
fn dynamic_cluster_name() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..22)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Binds the route listener (one socket: routes are served by the control shard only).
fn bind_route_listener(host: &str, port: i32) -> Result<(Socket, SocketAddr), StartError> {
    let err = |e: String| StartError::RouteListen { port, err: e };
    let p = if port < 0 { 0 } else { port as u16 };
    let addr = resolve(host, p).map_err(|e| err(e.to_string()))?;
    let s = new_socket(&addr).map_err(|e| err(listen_err(host, p, e).to_string()))?;
    s.bind(&addr.into()).map_err(|e| {
        err(format!(
            "listen tcp {}: {}",
            host_port(host, p),
            bind_reason(&e)
        ))
    })?;
    s.listen(128).map_err(|e| err(e.to_string()))?;
    let bound = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(addr);
    Ok((s, bound))
}

fn bind_reason(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "bind: address already in use".to_string(),
        Some(libc::EADDRNOTAVAIL) => "bind: cannot assign requested address".to_string(),
        Some(libc::EACCES) => "bind: permission denied".to_string(),
        _ => e.to_string(),
    }
}

/// Starts the server. Returns once every shard accepts connections.
pub fn start(mut opts: Options) -> Result<Running, StartError> {
    uring::check()?;
    // A shard's executor that fails to start only ends its thread; build one here first so
    // the reason reaches the user.
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(GLOMMIO_IO_MEMORY)
        .make()
        .map_err(|e| {
            StartError::Executor(format!(
                "{e} (io_uring set-up failed: in Docker run with --privileged or a seccomp \
                 profile that allows io_uring, and --ulimit memlock=-1)"
            ))
        })?;
    let cpus = usable_cpus();
    let n = if opts.shards > 0 {
        opts.shards
    } else {
        cpus.len().max(1)
    };
    // With a cluster the control shard is one more mesh member.
    let members = n + usize::from(opts.cluster.is_some());
    if members > crate::defaults::MAX_SHARDS {
        return Err(StartError::Executor(format!(
            "{n} shards requested, at most {} are supported{}",
            crate::defaults::MAX_SHARDS - (members - n),
            if members > n { " with a cluster" } else { "" }
        )));
    }
    let tls = match &opts.tls {
        Some(t) => Some(crate::tls::build(t)?),
        None => None,
    };
    // nats-server's StartMonitoring checks.
    if let (Some(h), Some(s)) = (opts.http_port, opts.https_port) {
        return Err(StartError::Monitor(format!(
            "can't specify both HTTP ({h}) and HTTPs ({s}) ports"
        )));
    }
    if opts.https_port.is_some() && tls.is_none() {
        return Err(StartError::Monitor(
            "TLS cert and key required for HTTPS".into(),
        ));
    }
    let port = if opts.port < 0 { 0 } else { opts.port as u16 };
    let (listeners, client_addr) = bind_listeners(&opts.host, port, n)?;
    let monitor_https = opts.https_port.is_some();
    let monitor = match opts.http_port.or(opts.https_port) {
        Some(p) => {
            let host = opts.http_host.clone().unwrap_or_else(|| opts.host.clone());
            let port = if p < 0 { 0 } else { p as u16 };
            let addr = resolve(&host, port)?;
            let s = new_socket(&addr).map_err(|e| listen_err(&host, port, e))?;
            s.bind(&addr.into())
                .map_err(|e| listen_err(&host, port, e))?;
            s.listen(128).map_err(|e| listen_err(&host, port, e))?;
            let bound = s
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .unwrap_or(addr);
            Some((s, host, bound))
        }
        None => None,
    };
    let route_tls = route_tls(&opts)?;
    let route = match &opts.cluster {
        Some(c) => Some(bind_route_listener(&c.host, c.port)?),
        None => None,
    };
    let cluster = opts.cluster.as_ref().map(|c| match &c.name {
        Some(n) => (n.clone(), false),
        None => (dynamic_cluster_name(), true),
    });
    if let Some((name, _)) = &cluster {
        opts.cluster_name = Some(name.clone());
    }
    let client_advertise = match &opts.client_advertise {
        Some(a) => Some(
            crate::options::split_host_port(a, client_addr.port()).ok_or_else(|| {
                StartError::Config(format!("Error parsing client_advertise {a:?}"))
            })?,
        ),
        None => None,
    };
    let server_id = nkey::new_server_id();
    let server_name = opts
        .server_name
        .clone()
        .unwrap_or_else(|| server_id.clone());
    let shared = Arc::new(Shared::new(
        opts,
        server_id.clone(),
        server_name.clone(),
        client_addr.port(),
        n,
        crate::tls::TlsSwap::new(tls),
        members,
        client_advertise,
    ));
    shared.set_route_tls(route_tls.clone());

    let mut mesh_ends = mesh::build(members);
    let control_ends = (members > n).then(|| mesh_ends.pop().expect("the control member"));
    // One question/answer channel pair between the control shard and each shard.
    let mut shard_control = Vec::with_capacity(n);
    let mut control_links = Vec::with_capacity(n);
    for _ in 0..n {
        let (req_tx, req_rx) = shared_channel::new_bounded::<ControlReq>(4);
        let (resp_tx, resp_rx) = shared_channel::new_bounded::<ControlResp>(4);
        shard_control.push((req_rx, resp_tx));
        control_links.push((req_tx, resp_rx));
    }
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    for (((id, listener), ends), control) in listeners
        .into_iter()
        .enumerate()
        .zip(mesh_ends)
        .zip(shard_control)
    {
        let shared = shared.clone();
        let cpu = (!cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        let ready = ready_tx.clone();
        LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("shard-{id}"))
            .io_memory(GLOMMIO_IO_MEMORY)
            .spawn(move || async move {
                if let Some(cpu) = cpu {
                    core_affinity::set_for_current(cpu);
                }
                run_shard(id, shared, listener, ends, control, ready).await
            })
            .map_err(|e| StartError::Executor(e.to_string()))?;
    }
    drop(ready_tx);
    for _ in 0..n {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartError::Executor(e)),
            Err(_) => return Err(StartError::Executor("a shard did not start".into())),
        }
    }
    let monitor_addr = monitor.as_ref().map(|m| m.2);
    let route_addr = route.as_ref().map(|r| r.1);
    let routes = match (route, control_ends, &cluster) {
        (Some((sock, addr)), Some(ends), Some((name, dynamic))) => Some(RouteSetup {
            sock,
            addr,
            ends,
            name: name.clone(),
            dynamic: *dynamic,
            tls: route_tls,
        }),
        _ => None,
    };
    start_control(
        shared.clone(),
        control_links,
        monitor,
        monitor_https,
        routes,
    )?;
    Ok(Running {
        client_addr,
        shards: n,
        server_id,
        server_name,
        monitor_addr,
        shared,
        monitor_https,
        route_addr,
        cluster,
    })
}

type ControlLink = (SharedSender<ControlReq>, SharedReceiver<ControlResp>);

/// What the control shard needs to run the routes.
struct RouteSetup {
    sock: Socket,
    addr: SocketAddr,
    ends: mesh::MeshEnds,
    name: String,
    dynamic: bool,
    tls: Option<Arc<crate::tls::RouteTlsConfigs>>,
}

/// The control shard: one more executor, unpinned, for what is global to the server: the
/// HTTP monitor and the cluster routes.
fn start_control(
    shared: Arc<Shared>,
    links: Vec<ControlLink>,
    monitor: Option<(Socket, String, SocketAddr)>,
    https: bool,
    routes: Option<RouteSetup>,
) -> Result<(), StartError> {
    LocalExecutorBuilder::new(Placement::Unbound)
        .name("control")
        .io_memory(GLOMMIO_IO_MEMORY)
        .spawn(move || async move {
            let mut connected = Vec::with_capacity(links.len());
            for (tx, rx) in links {
                connected.push(ShardLink {
                    tx: tx.connect().await,
                    rx: rx.connect().await,
                });
            }
            let router = routes.map(|r| start_routes(&shared, r));
            if let Some((sock, host, addr)) = monitor {
                // SAFETY: the fd comes from a socket we own and hand over whole.
                let listener =
                    unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
                let m = Rc::new(Monitor::new(
                    shared,
                    connected,
                    host,
                    addr.port(),
                    https,
                    router,
                ));
                m.serve(listener).await;
            } else {
                futures_lite::future::pending::<()>().await;
            }
        })
        .map_err(|e| StartError::Executor(e.to_string()))?;
    Ok(())
}

/// The route TLS configurations of `cluster { tls {} }`, read from their files.
fn route_tls(
    opts: &Options,
) -> Result<Option<Arc<crate::tls::RouteTlsConfigs>>, crate::tls::TlsError> {
    opts.cluster
        .as_ref()
        .and_then(|c| c.tls.as_ref())
        .map(|t| crate::tls::build_route(t).map(Arc::new))
        .transpose()
}

/// Joins the mesh as its last member, then accepts and dials routes (on the control
/// shard's executor).
fn start_routes(shared: &Arc<Shared>, r: RouteSetup) -> Rc<Router> {
    let router = Router::new(shared.clone(), r.addr, r.name, r.dynamic, r.tls);
    // As in `run_shard`: each end connects in a task of its own.
    for (to, tx) in r.ends.senders.into_iter().enumerate() {
        if let Some((tx, inflight)) = tx {
            let router = router.clone();
            glommio::spawn_local(
                async move { router.pump(to, tx.connect().await, inflight).await },
            )
            .detach();
        }
    }
    for (from, rx) in r.ends.receivers.into_iter().enumerate() {
        if let Some((rx, inflight)) = rx {
            let router = router.clone();
            glommio::spawn_local(async move {
                router.receive(from, rx.connect().await, inflight).await
            })
            .detach();
        }
    }
    // Shards start with no cluster view; the first one carries the name (and, later, the
    // connect_urls).
    router.publish_view();
    // SAFETY: the fd comes from a socket we own and hand over whole.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(r.sock.into_raw_fd()) };
    glommio::spawn_local(router.clone().accept_loop(listener)).detach();
    glommio::spawn_local(router.clone().watch_lame_duck()).detach();
    glommio::spawn_local(router.clone().watch_reload()).detach();
    crate::route::solicit::start(&router);
    router
}

async fn run_shard(
    id: usize,
    shared: Arc<Shared>,
    listener: Socket,
    ends: mesh::MeshEnds,
    control: (SharedReceiver<ControlReq>, SharedSender<ControlResp>),
    ready: mpsc::Sender<Result<(), String>>,
) {
    let shard = Shard::new(id, shared);
    // `connect` waits for the peer to connect its end, so every end connects in a task of
    // its own (sequential connects would deadlock across shards). Until then, messages wait
    // in the shard's outboxes.
    for (to, tx) in ends.senders.into_iter().enumerate() {
        if let Some((tx, inflight)) = tx {
            let shard = shard.clone();
            glommio::spawn_local(async move { shard.pump(to, tx.connect().await, inflight).await })
                .detach();
        }
    }
    for (from, rx) in ends.receivers.into_iter().enumerate() {
        if let Some((rx, inflight)) = rx {
            let shard = shard.clone();
            glommio::spawn_local(
                async move { shard.receive(from, rx.connect().await, inflight).await },
            )
            .detach();
        }
    }
    {
        let shard = shard.clone();
        let (rx, tx) = control;
        glommio::spawn_local(async move {
            let (rx, tx) = (rx.connect().await, tx.connect().await);
            shard.serve_control(rx, tx).await
        })
        .detach();
    }
    let fd = listener.into_raw_fd();
    // SAFETY: the fd comes from a socket we own and hand over whole.
    let listener = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
    let task = {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        glommio::spawn_local(conn::serve(shard.clone(), stream)).detach();
                    }
                    Err(e) => {
                        error!("Error accepting client connection: {e}");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        })
    };
    let _ = ready.send(Ok(()));
    shard.housekeeping(Acceptor { task, fd }).await
}
