//! Dialling routes: the configured (explicit) ones, forever; the ones peers tell us about
//! (implicit, GS-02), `connect_retries` times; and reconnecting either after a close
//! (GS-04).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpStream;
use glommio::timer::sleep;
use log::{debug, error};

use super::info::RouteInfo;
use super::Router;
use crate::defaults::{
    DEFAULT_CONNECT_ERROR_REPORTS, DEFAULT_ROUTE_CONNECT, DEFAULT_ROUTE_CONNECT_MAX,
    DEFAULT_ROUTE_DIAL, DEFAULT_ROUTE_RECONNECT,
};
use crate::options::RouteUrl;

/// Where and how to dial a route.
#[derive(Debug, Clone)]
pub struct Solicit {
    pub url: RouteUrl,
    /// A configured route: dialled forever.
    pub explicit: bool,
    /// The gossip mode the peer that told us about it asked for (`gossip_mode`).
    pub gossip: u8,
}

/// Starts dialling every configured route.
pub fn start(router: &Rc<Router>) {
    for url in router.copts().routes.clone() {
        let s = Solicit {
            url,
            explicit: true,
            gossip: 0,
        };
        glommio::spawn_local(connect(router.clone(), s, true, None)).detach();
    }
}

/// Dials again after a route closed: explicit routes after a second, implicit ones at once
/// (both with up to 100 ms of jitter, so two servers that dropped each other's duplicate do
/// not collide again).
pub async fn reconnect(router: Rc<Router>, s: Solicit) {
    let mut delay = Duration::from_millis(router.rand(100) as u64);
    if s.explicit {
        delay += DEFAULT_ROUTE_RECONNECT;
    }
    sleep(delay).await;
    connect(router, s, false, None).await
}

/// GS-02: an INFO about another server arrived on a route; dial it unless it is us, already
/// connected, configured (its own dialler will get there) or being dialled.
pub fn implicit(router: &Rc<Router>, info: &RouteInfo) {
    let sh = &router.shared;
    if info.server_id == sh.server_id {
        return;
    }
    {
        let st = router.st.borrow();
        if st.by_id.contains_key(&info.server_id) || st.dialling.contains(&info.server_id) {
            return;
        }
    }
    if is_configured(router, info) {
        return;
    }
    let Ok(mut url) = RouteUrl::parse(&info.ip) else {
        debug!("Error parsing URL from INFO: {:?}", info.ip);
        return;
    };
    if info.ip.is_empty() {
        return;
    }
    if info.auth_required {
        let copts = router.copts();
        url.user = copts.user.clone();
        url.password = copts.password.clone();
    }
    router.st.borrow_mut().dialling.push(info.server_id.clone());
    let s = Solicit {
        url,
        explicit: false,
        gossip: info.gossip_mode,
    };
    glommio::spawn_local(connect(
        router.clone(),
        s,
        true,
        Some(info.server_id.clone()),
    ))
    .detach();
}

/// Whether the server `info` describes is one of our configured routes (by its host and
/// port, or the host of its `ip`): nats-server's `hasThisRouteConfigured`.
fn is_configured(router: &Router, info: &RouteInfo) -> bool {
    let one = format!("{}:{}", info.host, info.port).to_lowercase();
    let two = RouteUrl::parse(&info.ip)
        .ok()
        .map(|u| format!("{}:{}", u.host, info.port).to_lowercase());
    router.copts().routes.iter().any(|r| {
        let h = format!("{}:{}", r.host, r.port).to_lowercase();
        h == one || Some(&h) == two.as_ref()
    })
}

/// Whether `url` is still among the configured routes (nats-server's `routeStillValid`):
/// an explicit route a reload removed is no longer dialled.
pub fn still_configured(router: &Router, url: &RouteUrl) -> bool {
    router.copts().routes.contains(url)
}

/// Dials `s` until connected, or until an implicit route has used its `connect_retries`.
/// `first` says whether connect errors are reported on the first attempt only (then every
/// 3600th), or every time (a reconnect).
pub async fn connect(router: Rc<Router>, s: Solicit, first: bool, implicit_id: Option<String>) {
    let hp = s.url.host_port();
    let mut attempts: u64 = 0;
    let mut delay = DEFAULT_ROUTE_CONNECT;
    loop {
        if s.explicit && !still_configured(&router, &s.url) {
            debug!("Not attempting to connect to route {hp}, it is no longer configured");
            break;
        }
        let res = match resolve(&s.url).await {
            Ok(addrs) => {
                // A route to one of our own addresses is skipped quietly (spec §4.4).
                let Some(addr) = addrs.into_iter().find(|a| !router.self_addrs.contains(a)) else {
                    break;
                };
                debug!("Trying to connect to route on {hp} ({addr})");
                TcpStream::connect_timeout(addr, DEFAULT_ROUTE_DIAL)
                    .await
                    .map_err(|e| dial_error(addr, e.into()))
            }
            Err(e) => Err(e),
        };
        match res {
            Ok(stream) => {
                glommio::spawn_local(super::conn::serve(router.clone(), stream, Some(s))).detach();
                return;
            }
            Err(e) => {
                attempts += 1;
                let report = if first {
                    attempts == 1 || attempts.is_multiple_of(DEFAULT_CONNECT_ERROR_REPORTS)
                } else {
                    true
                };
                if report {
                    error!("Error trying to connect to route (attempt {attempts}): {e}");
                } else {
                    debug!("Error trying to connect to route (attempt {attempts}): {e}");
                }
                if !s.explicit && attempts > u64::from(router.copts().connect_retries) {
                    break;
                }
                sleep(delay).await;
                if router.copts().connect_backoff {
                    delay = (delay * 2).min(DEFAULT_ROUTE_CONNECT_MAX);
                }
            }
        }
    }
    if let Some(id) = implicit_id {
        router.st.borrow_mut().dialling.retain(|d| *d != id);
    }
}

/// Resolves a route's host; names go through the blocking resolver off this thread.
async fn resolve(url: &RouteUrl) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, url.port)]);
    }
    let hp = url.host_port();
    let host = url.host.clone();
    let port = url.port;
    glommio::executor()
        .spawn_blocking(move || (host.as_str(), port).to_socket_addrs().map(|a| a.collect()))
        .await
        .map_err(|e: io::Error| format!("dial tcp: lookup {hp}: {e}"))
}

/// Go's wording for a failed dial (`dial tcp ADDR: connect: connection refused`).
fn dial_error(addr: SocketAddr, e: io::Error) -> String {
    let what = match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "connect: connection refused".to_string(),
        Some(libc::ETIMEDOUT) | Some(libc::ECANCELED) => "i/o timeout".to_string(),
        Some(libc::EHOSTUNREACH) => "connect: no route to host".to_string(),
        Some(libc::ENETUNREACH) => "connect: network is unreachable".to_string(),
        _ => e.to_string(),
    };
    format!("dial tcp {addr}: {what}")
}

/// Every IP address of this host's interfaces (getifaddrs).
pub fn local_ips() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once.
    unsafe {
        if libc::getifaddrs(&mut ifap) != 0 {
            return out;
        }
        let mut p = ifap;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() {
                match i32::from((*a).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(a as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(a as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(ifap);
    }
    out
}

/// A seed for the router's random numbers.
pub fn seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_ips_include_loopback() {
        assert!(local_ips().iter().any(|ip| ip.is_loopback()));
    }

    #[test]
    fn dial_errors_read_like_go() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            dial_error(a, io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "dial tcp 127.0.0.1:1: connect: connection refused"
        );
    }
}
