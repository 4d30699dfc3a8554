//! `authorization {}` and permissions (spec §4.3; nats-server's
//! `parseAuthorization`, `parseUsers`, `parseUserPermissions`).

use std::time::Duration;

use super::apply::Report;
use super::gofmt::{go_quote, parse_duration};
use super::parser::{Item, Map, Value};

/// The client `authorization {}` block (also the base of the cluster one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthorizationConfig {
    /// `user`/`username`.
    pub user: Option<String>,
    /// `password`/`pass` (plain text or a `$2a$` bcrypt hash).
    pub password: Option<String>,
    pub token: Option<String>,
    /// Authentication timeout in seconds (`timeout`: int, float or duration).
    pub timeout: Option<f64>,
    /// `users: [...]`; `Some(vec![])` when the list is present but empty.
    pub users: Option<Vec<UserConfig>>,
    /// `default_permissions`/`permissions`, already copied into every user
    /// that has none of its own.
    pub default_permissions: Option<Permissions>,
}

/// One entry of `users`: a user name (with a password), or an nkey.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserConfig {
    /// Empty for an nkey user.
    pub user: String,
    /// The public user nkey (`U...`) of an nkey user.
    pub nkey: Option<String>,
    pub password: Option<String>,
    pub permissions: Option<Permissions>,
    /// Upper-cased (`STANDARD`, `WEBSOCKET`, ...); `None` allows all.
    pub allowed_connection_types: Option<Vec<String>>,
}

/// What a user may publish and subscribe to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    /// `allow_responses`: publishing to reply subjects of received requests.
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists of subjects (subscribe entries may be `subject queue`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubjectPermission {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// Limits of `allow_responses`.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponsePermission {
    /// Responses allowed per request (`max`); negative means unlimited.
    pub max_msgs: i64,
    /// How long the permission lasts (`expires`).
    pub expires: Duration,
}

/// nats-server's DEFAULT_ALLOW_RESPONSE_MAX_MSGS.
pub const DEFAULT_ALLOW_RESPONSE_MAX_MSGS: i64 = 1;
/// nats-server's DEFAULT_ALLOW_RESPONSE_EXPIRATION.
pub const DEFAULT_ALLOW_RESPONSE_EXPIRATION: Duration = Duration::from_secs(120);

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
            expires: DEFAULT_ALLOW_RESPONSE_EXPIRATION,
        }
    }
}

/// The top-level `authorization` key, with the checks nats-server makes
/// between its fields.
pub(crate) fn parse_top_level(it: &Item, r: &mut Report) -> Option<AuthorizationConfig> {
    let a = parse_authorization(it, r)?;
    let has_user_pass = a.user.is_some() || a.password.is_some();
    if has_user_pass && a.token.is_some() {
        r.err(&it.pos, "Cannot have a user/pass and token");
        return None;
    }
    if let Some(users) = &a.users {
        if a.user.is_some() {
            r.err(&it.pos, "Can not have a single user/pass and a users array");
            return None;
        }
        if a.token.is_some() {
            r.err(&it.pos, "Can not have a token and a users array");
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        for u in users.iter().filter(|u| u.nkey.is_none()) {
            if !seen.insert(u.user.as_str()) {
                r.err(
                    &it.pos,
                    format_args!("Duplicate user {} detected", go_quote(&u.user)),
                );
                return None;
            }
        }
        for k in users.iter().filter_map(|u| u.nkey.as_deref()) {
            if !seen.insert(k) {
                r.err(
                    &it.pos,
                    format_args!("Duplicate nkey {} detected", go_quote(k)),
                );
                return None;
            }
        }
    }
    Some(a)
}

/// An `authorization` map on its own (shared with `cluster`).
pub(crate) fn parse_authorization(it: &Item, r: &mut Report) -> Option<AuthorizationConfig> {
    let m = r.map(it)?;
    let mut a = AuthorizationConfig::default();
    for e in &m.entries {
        let v = &e.item;
        match e.lower.as_str() {
            "user" | "username" => a.user = r.str(v).map(String::from).or(a.user),
            "pass" | "password" => a.password = r.str(v).map(String::from).or(a.password),
            "token" => a.token = r.str(v).map(String::from).or(a.token),
            "timeout" => {
                let secs = match &v.value {
                    Value::Int(n) => *n as f64,
                    Value::Float(f) => *f,
                    Value::String(s) => match parse_duration(s) {
                        Ok(n) => n as f64 / 1e9,
                        Err(err) => {
                            r.err(
                                &v.pos,
                                format_args!("error parsing authorization config, 'timeout' {err}"),
                            );
                            return None;
                        }
                    },
                    _ => {
                        r.err(
                            &v.pos,
                            "error parsing authorization config, 'timeout' wrong type",
                        );
                        return None;
                    }
                };
                if secs > 60.0 {
                    let shown = match &v.value {
                        Value::String(s) => s.clone(),
                        Value::Int(n) => n.to_string(),
                        Value::Float(f) => f.to_string(),
                        _ => String::new(),
                    };
                    let reason = format!(
                        "timeout of {shown} ({secs:.6} seconds) is high, consider keeping it under 60 seconds. \
                         possibly caused by unquoted duration; use '1m' instead of 1m, for example"
                    );
                    r.invalid_use(v, &e.key, &reason);
                }
                a.timeout = Some(secs);
            }
            "users" => {
                if let Some(users) = parse_users(v, r) {
                    a.users = Some(users);
                }
            }
            "default_permission" | "default_permissions" | "permissions" => {
                if let Some(p) = parse_permissions(v, r) {
                    a.default_permissions = Some(p);
                }
            }
            "auth_callout" | "auth_hook" => r.unsupported(&e.key, v),
            "proxy_required" => {
                if r.bool(v) == Some(true) {
                    r.unsupported(&e.key, v);
                }
            }
            _ => r.unknown(&e.key, v),
        }
    }
    if let (Some(users), Some(dp)) = (&mut a.users, &a.default_permissions) {
        for u in users.iter_mut().filter(|u| u.permissions.is_none()) {
            u.permissions = Some(dp.clone());
        }
    }
    Some(a)
}

fn parse_users(it: &Item, r: &mut Report) -> Option<Vec<UserConfig>> {
    let Value::Array(list) = &it.value else {
        r.err(
            &it.pos,
            format_args!(
                "Expected users field to be an array, got {}",
                go_value(&it.value)
            ),
        );
        return None;
    };
    let mut users = Vec::new();
    for el in list {
        let Value::Map(um) = &el.value else {
            r.err(
                &el.pos,
                format_args!(
                    "Expected user entry to be a map/struct, got {}",
                    go_value(&el.value)
                ),
            );
            continue;
        };
        let mut u = UserConfig::default();
        let mut name: Option<String> = None;
        let mut last = el;
        for e in &um.entries {
            let v = &e.item;
            last = v;
            match e.lower.as_str() {
                "nkey" => u.nkey = r.str(v).map(String::from).or(u.nkey.take()),
                "user" | "username" => name = r.str(v).map(String::from).or(name),
                "pass" | "password" => u.password = r.str(v).map(String::from).or(u.password),
                "permission" | "permissions" | "authorization" => {
                    if let Some(p) = parse_permissions(v, r) {
                        u.permissions = Some(p);
                    }
                }
                "allowed_connection_types" | "connection_types" | "clients" => {
                    u.allowed_connection_types = connection_types(v, r);
                }
                "proxy_required" => {
                    if r.bool(v) == Some(true) {
                        r.unsupported(&e.key, v);
                    }
                }
                _ => r.unknown(&e.key, v),
            }
        }
        let name = name.unwrap_or_default();
        match u.nkey.as_deref().filter(|k| !k.is_empty()) {
            None if name.is_empty() => {
                r.err(&last.pos, "User entry requires a user");
                return None;
            }
            None => {
                u.nkey = None;
                u.user = name;
                users.push(u);
            }
            Some(k) => {
                if !shards::auth::is_valid_public_user_key(k) {
                    r.err(&last.pos, "Not a valid public nkey for a user");
                    return None;
                }
                if !name.is_empty() || u.password.as_deref().is_some_and(|p| !p.is_empty()) {
                    r.err(&last.pos, "Nkey users do not take usernames or passwords");
                    return None;
                }
                users.push(u);
            }
        }
    }
    Some(users)
}

fn connection_types(it: &Item, r: &mut Report) -> Option<Vec<String>> {
    let list = r.string_list("allowed connection types", it)?;
    const KNOWN: &[&str] = &[
        "STANDARD",
        "WEBSOCKET",
        "LEAFNODE",
        "LEAFNODE_WS",
        "MQTT",
        "MQTT_WS",
        "IN_PROCESS",
    ];
    let upper: Vec<String> = list.iter().map(|s| s.to_uppercase()).collect();
    let unknown: Vec<String> = upper
        .iter()
        .filter(|s| !KNOWN.contains(&s.as_str()))
        .map(|s| go_quote(s))
        .collect();
    if !unknown.is_empty() {
        r.err(
            &it.pos,
            format_args!("invalid connection types [{}]", unknown.join(" ")),
        );
    }
    Some(upper)
}

/// A `permissions` map (nats-server's `parseUserPermissions`). Routes use
/// the same parser, where `import` is publish and `export` subscribe.
pub(crate) fn parse_permissions(it: &Item, r: &mut Report) -> Option<Permissions> {
    let Value::Map(pm) = &it.value else {
        r.err(
            &it.pos,
            format_args!(
                "Expected permissions to be a map/struct, got {}",
                go_value(&it.value)
            ),
        );
        return None;
    };
    let mut p = Permissions::default();
    for e in &pm.entries {
        let v = &e.item;
        match e.lower.as_str() {
            "pub" | "publish" | "import" => {
                if let Some(sp) = subject_permission(v, r, false) {
                    p.publish = sp;
                }
            }
            "sub" | "subscribe" | "export" => {
                if let Some(sp) = subject_permission(v, r, true) {
                    p.subscribe = sp;
                }
            }
            "publish_allow_responses" | "allow_responses" => match &v.value {
                Value::Bool(true) => p.allow_responses = Some(ResponsePermission::default()),
                Value::Bool(false) => {}
                _ => p.allow_responses = allow_responses(v, r),
            },
            _ => {
                if !v.used_variable {
                    r.err(
                        &v.pos,
                        format_args!("Unknown field {} parsing permissions", go_quote(&e.key)),
                    );
                }
            }
        }
    }
    if p.allow_responses.is_some() {
        // Allowing responses turns off the blanket publish allow.
        let publish = p.publish.get_or_insert_with(SubjectPermission::default);
        publish.allow.get_or_insert_with(Vec::new);
    }
    Some(p)
}

fn allow_responses(it: &Item, r: &mut Report) -> Option<ResponsePermission> {
    let Value::Map(m) = &it.value else {
        r.err(
            &it.pos,
            "error parsing response permissions, expected a boolean or a map",
        );
        return None;
    };
    let mut rp = ResponsePermission::default();
    for e in &m.entries {
        let v = &e.item;
        match e.lower.as_str() {
            "max" | "max_msgs" | "max_messages" | "max_responses" => {
                if let Some(n) = r.int(v) {
                    // 0 keeps the default; negative means unlimited.
                    if n != 0 {
                        rp.max_msgs = n;
                    }
                }
            }
            "expires" | "expiration" | "ttl" => {
                let Value::String(s) = &v.value else {
                    r.err(&v.pos, "error parsing expires, not a duration string");
                    return None;
                };
                match parse_duration(s) {
                    Ok(0) => {}
                    Ok(n) if n < 0 => {
                        // nats-server reads a negative expiry as "never";
                        // a Duration cannot be negative, so use the maximum.
                        rp.expires = Duration::MAX;
                    }
                    Ok(n) => rp.expires = Duration::from_nanos(n as u64),
                    Err(err) => {
                        r.err(&v.pos, format_args!("error parsing expires: {err}"));
                        return None;
                    }
                }
            }
            _ => {
                if !v.used_variable {
                    r.err(
                        &v.pos,
                        format_args!("Unknown field {} parsing permissions", go_quote(&e.key)),
                    );
                }
            }
        }
    }
    Some(rp)
}

/// `publish`/`subscribe`: a subject, a list, or `{allow, deny}`. The outer
/// `Option` is `None` on error; the inner one is `None` for an empty map.
fn subject_permission(
    it: &Item,
    r: &mut Report,
    allow_queue: bool,
) -> Option<Option<SubjectPermission>> {
    match &it.value {
        Value::Map(m) => subject_permission_map(m, r, allow_queue),
        _ => {
            // nats-server reports problems of this older form without a
            // position (its value reaches the check unwrapped).
            let subjects = perm_subjects(it, r, allow_queue, false)?;
            Some(Some(SubjectPermission {
                allow: Some(subjects),
                deny: None,
            }))
        }
    }
}

fn subject_permission_map(
    m: &Map,
    r: &mut Report,
    allow_queue: bool,
) -> Option<Option<SubjectPermission>> {
    if m.is_empty() {
        return Some(None);
    }
    let mut sp = SubjectPermission::default();
    for e in &m.entries {
        let v = &e.item;
        match e.lower.as_str() {
            "allow" => {
                if let Some(s) = perm_subjects(v, r, allow_queue, true) {
                    sp.allow = Some(s);
                }
            }
            "deny" => {
                if let Some(s) = perm_subjects(v, r, allow_queue, true) {
                    sp.deny = Some(s);
                }
            }
            _ => {
                if !v.used_variable {
                    r.err(
                        &v.pos,
                        format_args!(
                            "Unknown field name {} parsing subject permissions, only 'allow' or 'deny' are permitted",
                            go_quote(&e.key)
                        ),
                    );
                }
            }
        }
    }
    Some(Some(sp))
}

fn perm_subjects(
    it: &Item,
    r: &mut Report,
    allow_queue: bool,
    positioned: bool,
) -> Option<Vec<String>> {
    let fail = |r: &mut Report, msg: String| {
        if positioned {
            r.err(&it.pos, msg);
        } else {
            r.errors.push(msg);
        }
    };
    let subjects = match &it.value {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for el in a {
                let Value::String(s) = &el.value else {
                    r.err(
                        &el.pos,
                        "Subject in permissions array cannot be cast to string",
                    );
                    return None;
                };
                out.push(s.clone());
            }
            out
        }
        v => {
            fail(
                r,
                format!(
                    "Expected subject permissions to be a subject, or array of subjects, got {}",
                    v.go_type()
                ),
            );
            return None;
        }
    };
    if let Err(e) = check_subjects(&subjects, allow_queue) {
        fail(r, e);
        return None;
    }
    Some(subjects)
}

/// nats-server's `checkPermSubjectArray`.
pub(crate) fn check_subjects(subjects: &[String], allow_queue: bool) -> Result<(), String> {
    for s in subjects {
        if valid_subject(s) {
            continue;
        }
        if !allow_queue {
            return Err(format!("subject {} is not a valid subject", go_quote(s)));
        }
        // `subject queue` for a queue-group permission.
        let parts: Vec<&str> = s.split_whitespace().collect();
        if parts.len() != 2 {
            return Err(format!("subject {} is not a valid subject", go_quote(s)));
        }
        if !valid_subject(parts[0]) {
            return Err(format!(
                "subject {} is not a valid subject",
                go_quote(parts[0])
            ));
        }
        if !valid_subject(parts[1]) {
            return Err(format!("queue {} is not a valid queue", go_quote(parts[1])));
        }
    }
    Ok(())
}

/// nats-server's `IsValidSubject`: non-empty tokens, no whitespace, `>` last.
pub(crate) fn valid_subject(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut saw_fwc = false;
    for t in s.split('.') {
        if t.is_empty() || saw_fwc {
            return false;
        }
        if t.len() > 1 {
            if t.contains(['\t', '\n', '\x0c', '\r', ' ']) {
                return false;
            }
            continue;
        }
        match t.as_bytes()[0] {
            b'>' => saw_fwc = true,
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => return false,
            _ => {}
        }
    }
    true
}

/// A value the way Go's `%v` prints simple ones.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Datetime(d) => d.clone(),
        Value::Map(_) => "map[...]".to_string(),
        Value::Array(_) => "[...]".to_string(),
    }
}
