//! `berth ps`: docker's container listing (columns, `--format` fields, filters, -a -n -l -q -s).
//!
//! Works on [`Listed`]: the fields of a container's `ContainerSummary` (what
//! `GET /containers/json` returns) that `ps` shows or filters on, as plain values.

use crate::cli_containers::PsArgs;
use crate::filters::Filters;
use crate::output::{self, Column};
use crate::units;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One listed container: the `ContainerSummary` fields `ps` shows, plus what the filters need
/// beyond them. Plain fields (no JSON tree): the default table and `-q` read them directly;
/// only `--format` builds a JSON object per row ([`row`]).
#[derive(Debug, Clone, Default)]
pub struct Listed {
    /// 64 hex digits.
    pub id: String,
    /// Names without docker's leading `/`.
    pub names: Vec<String>,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:<hex>`.
    pub image_id: String,
    /// The command line (arguments holding a space in single quotes).
    pub command: String,
    /// Creation time, unix seconds.
    pub created: i64,
    pub ports: Vec<PortEntry>,
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`...
    pub state: String,
    /// Docker's human status text.
    pub status: String,
    /// `HostConfig.NetworkMode`.
    pub network_mode: String,
    /// `NetworkSettings.Networks` keys.
    pub networks: Vec<String>,
    pub mounts: Vec<MountEntry>,
    /// `-s`.
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    /// Last exit code (for `exited=`).
    pub exit_code: i64,
    /// `starting`, `healthy`, `unhealthy` or `none` (for `health=`).
    pub health: String,
    /// Creation time in unix nanoseconds (ordering; `before=`/`since=`).
    pub created_ns: i128,
}

/// A `Ports` entry of a summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortEntry {
    pub ip: String,
    pub private_port: u64,
    /// 0 when not published.
    pub public_port: u64,
    /// `tcp`, `udp`, `sctp`.
    pub kind: String,
}

/// A `Mounts` entry of a summary (what `ps` uses of it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountEntry {
    pub name: String,
    pub source: String,
    pub destination: String,
    pub driver: String,
}

/// The filters `ps` accepts.
pub const FILTERS: &[&str] = &[
    "id",
    "name",
    "label",
    "status",
    "exited",
    "ancestor",
    "before",
    "since",
    "health",
    "volume",
    "network",
    "publish",
    "expose",
    "isolation",
    "is-task",
];

/// Builds a [`Listed`] from a container's inspect document (`ContainerJson`).
#[cfg(test)]
pub fn summary_from_inspect(c: &Value, now: i64) -> Listed {
    let state = &c["State"];
    let path = c["Path"].as_str().unwrap_or("");
    // Docker's daemon quotes arguments holding a space in single quotes.
    let args: Vec<String> = c["Args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| {
                    if s.contains(' ') {
                        format!("'{s}'")
                    } else {
                        s.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let command = if args.is_empty() {
        path.to_string()
    } else {
        format!("{path} {}", args.join(" "))
    };
    let (created_secs, created_nanos) = c["Created"]
        .as_str()
        .and_then(units::parse_rfc3339)
        .unwrap_or((0, 0));
    let mut ports = Vec::new();
    if let Some(map) = c["NetworkSettings"]["Ports"].as_object() {
        for (port, bindings) in map {
            let (num, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            let private: u64 = num.parse().unwrap_or(0);
            match bindings.as_array().filter(|b| !b.is_empty()) {
                None => ports.push(PortEntry {
                    private_port: private,
                    kind: proto.to_string(),
                    ..Default::default()
                }),
                Some(bs) => {
                    for b in bs {
                        let public: u64 = b["HostPort"].as_str().unwrap_or("").parse().unwrap_or(0);
                        ports.push(PortEntry {
                            ip: b["HostIp"].as_str().unwrap_or("").to_string(),
                            private_port: private,
                            public_port: public,
                            kind: proto.to_string(),
                        });
                    }
                }
            }
        }
    }
    let name = c["Name"].as_str().unwrap_or("");
    let str_of = |v: &Value| v.as_str().unwrap_or("").to_string();
    Listed {
        id: str_of(&c["Id"]),
        names: vec![name.trim_start_matches('/').to_string()],
        image: str_of(&c["Config"]["Image"]),
        image_id: str_of(&c["Image"]),
        command,
        created: created_secs,
        ports,
        labels: c["Config"]["Labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), str_of(v))).collect())
            .unwrap_or_default(),
        state: super::status::state_word(state),
        status: super::status::status_text(state, now),
        network_mode: str_of(&c["HostConfig"]["NetworkMode"]),
        networks: c["NetworkSettings"]["Networks"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        mounts: c["Mounts"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| MountEntry {
                        name: str_of(&m["Name"]),
                        source: str_of(&m["Source"]),
                        destination: str_of(&m["Destination"]),
                        driver: str_of(&m["Driver"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        size_rw: c["SizeRw"].as_i64(),
        size_root_fs: c["SizeRootFs"].as_i64(),
        exit_code: state["ExitCode"].as_i64().unwrap_or(0),
        health: super::status::health_word(state),
        created_ns: i128::from(created_secs) * 1_000_000_000 + i128::from(created_nanos),
    }
}

fn id_of(l: &Listed) -> &str {
    &l.id
}

fn names_of(l: &Listed) -> &[String] {
    &l.names
}
/// Finds the container a `before=`/`since=` value names (id prefix or name).
fn find<'a>(items: &'a [Listed], key: &str) -> Result<&'a Listed> {
    if let Some(l) = items
        .iter()
        .find(|l| id_of(l) == key || names_of(l).iter().any(|n| n == key))
    {
        return Ok(l);
    }
    let matches: Vec<&Listed> = items.iter().filter(|l| id_of(l).starts_with(key)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("No such container: {key}"),
        _ => bail!("multiple IDs found with provided prefix: {key}"),
    }
}

/// A `name=` value: docker matches a regular expression; Berth supports its common forms
/// (substring, `^prefix`, `suffix$`, `^exact$`).
fn name_matches(pattern: &str, name: &str) -> bool {
    let (anchored_start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (anchored_end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (anchored_start, anchored_end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

/// Applies `-a`, `--filter`, `-n`, `-l` and docker's newest-first order.
pub fn select(mut items: Vec<Listed>, a: &PsArgs) -> Result<Vec<Listed>> {
    let f = Filters::parse(&a.filter, FILTERS)?;
    for s in f.values("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&s.as_str())
        {
            bail!("invalid filter 'status={s}'");
        }
    }
    for h in f.values("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
            bail!("Unrecognised filter value for health: {h}");
        }
    }
    let mut exited = Vec::new();
    for e in f.values("exited") {
        match e.parse::<i64>() {
            Ok(n) => exited.push(n),
            Err(_) => bail!("invalid filter 'exited={e}'"),
        }
    }
    let before = match f.last("before") {
        Some(b) => Some(find(&items, b)?.created_ns),
        None => None,
    };
    let since = match f.last("since") {
        Some(s) => Some(find(&items, s)?.created_ns),
        None => None,
    };
    items.sort_by(|x, y| {
        y.created_ns
            .cmp(&x.created_ns)
            .then_with(|| id_of(y).cmp(id_of(x)))
    });
    let last = if a.latest { 1 } else { a.last };
    let all = a.all || last > 0 || f.contains("status");
    let mut out = Vec::new();
    for l in items {
        let state = l.state.as_str();
        if !all && !matches!(state, "running" | "paused" | "restarting") {
            continue;
        }
        if f.contains("id")
            && !f
                .values("id")
                .iter()
                .any(|p| id_of(&l).starts_with(p.as_str()))
        {
            continue;
        }
        if f.contains("name")
            && !f
                .values("name")
                .iter()
                .any(|p| names_of(&l).iter().any(|n| name_matches(p, n)))
        {
            continue;
        }
        if !f.labels_match(&l.labels) {
            continue;
        }
        if f.contains("status") && !f.values("status").iter().any(|v| v == state) {
            continue;
        }
        if !exited.is_empty() && (state != "exited" || !exited.contains(&l.exit_code)) {
            continue;
        }
        if f.contains("health") && !f.values("health").contains(&l.health) {
            continue;
        }
        if f.contains("ancestor") {
            let image = l.image.as_str();
            let image_id = l.image_id.as_str();
            let hex = image_id.trim_start_matches("sha256:");
            let ok = f.values("ancestor").iter().any(|a| {
                let a_hex = a.trim_start_matches("sha256:");
                a == image
                    || crate::filters::familiar_name_of(a)
                        == crate::filters::familiar_name_of(image)
                        && (a.contains(':') == image.contains(':'))
                    || (a_hex.len() >= 4 && hex.starts_with(a_hex))
                    || format!("{a}:latest") == image
                    || format!("{image}:latest") == *a
            });
            if !ok {
                continue;
            }
        }
        if before.is_some_and(|b| l.created_ns >= b) || since.is_some_and(|t| l.created_ns <= t) {
            continue;
        }
        if f.contains("volume") {
            let ok = f.values("volume").iter().any(|v| {
                l.mounts
                    .iter()
                    .any(|m| (!m.name.is_empty() && m.name == *v) || m.destination == *v)
            });
            if !ok {
                continue;
            }
        }
        if f.contains("network") {
            let ok = f
                .values("network")
                .iter()
                .any(|n| *n == l.network_mode || l.networks.contains(n));
            if !ok {
                continue;
            }
        }
        out.push(l);
    }
    if last > 0 {
        out.truncate(last as usize);
    }
    Ok(out)
}

/// Docker's PORTS text: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ports_text(ports: &[PortEntry]) -> String {
    let mut items: Vec<(u64, String)> = ports
        .iter()
        .map(|p| {
            let (private, proto) = (p.private_port, p.kind.as_str());
            let text = if p.public_port > 0 {
                let ip = p.ip.as_str();
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{}->{private}/{proto}", p.public_port)
            } else {
                format!("{private}/{proto}")
            };
            (private, text)
        })
        .collect();
    items.sort();
    items.dedup();
    items
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The IMAGE column: the image as named, or its short ID when given by ID (docker's rule).
fn image_text(l: &Listed, no_trunc: bool) -> String {
    let image = l.image.as_str();
    if image.is_empty() || image.starts_with("sha256:") {
        if no_trunc {
            l.image_id.clone()
        } else {
            short_id(&l.image_id)
        }
    } else {
        image.to_string()
    }
}

/// The COMMAND column, quoted (and cut to 20 columns unless `--no-trunc`).
fn command_text(l: &Listed, no_trunc: bool) -> String {
    if no_trunc {
        go_quote(&l.command)
    } else {
        go_quote(&crate::table::ellipsis(&l.command, 20))
    }
}

/// The SIZE column (`-s`).
fn size_text(l: &Listed) -> String {
    match (l.size_rw, l.size_root_fs) {
        (None, None) => String::new(),
        (rw, Some(root)) if root > 0 => format!(
            "{} (virtual {})",
            units::human_size_with_precision(rw.unwrap_or(0) as f64, 3),
            units::human_size_with_precision(root as f64, 3)
        ),
        (rw, _) => units::human_size_with_precision(rw.unwrap_or(0) as f64, 3),
    }
}

/// The `--format` fields of one row, as docker's container formatter exposes them.
pub fn row(l: &Listed, a: &PsArgs, now: i64) -> Value {
    let id = id_of(l);
    let labels = l
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mounts: Vec<String> = l
        .mounts
        .iter()
        .map(|m| {
            let n = if m.name.is_empty() {
                m.source.as_str()
            } else {
                m.name.as_str()
            };
            if a.no_trunc {
                n.to_string()
            } else {
                output::truncate(n, 15)
            }
        })
        .collect();
    let local_volumes = l.mounts.iter().filter(|m| m.driver == "local").count();
    json!({
        "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
        "Image": image_text(l, a.no_trunc),
        "Command": command_text(l, a.no_trunc),
        "CreatedAt": units::go_time_string_utc(l.created),
        "RunningFor": units::created_since(l.created, now),
        "Ports": ports_text(&l.ports),
        "State": l.state,
        "Status": l.status,
        "Size": size_text(l),
        "Names": names_of(l).join(","),
        "Labels": labels,
        "Mounts": mounts.join(","),
        "Networks": l.networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

/// The first 12 hex digits of an ID (`sha256:` dropped).
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// Go's `strconv.Quote` for the printable text docker puts in COMMAND.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The default columns (plus SIZE with `-s`).
pub fn columns(size: bool) -> Vec<Column> {
    let mut c = vec![
        Column::new("ID", "CONTAINER ID"),
        Column::new("Image", "IMAGE"),
        Column::new("Command", "COMMAND"),
        Column::new("RunningFor", "CREATED"),
        Column::new("Status", "STATUS"),
        Column::new("Ports", "PORTS"),
        Column::new("Names", "NAMES"),
    ];
    if size {
        c.push(Column::new("Size", "SIZE"));
    }
    c
}

/// Every header docker knows for `ps` templates.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// Renders the listing (table, `--format` or `-q`) to a string.
pub fn render(items: &[Listed], a: &PsArgs, now: i64) -> Result<String> {
    if a.quiet && a.format.is_none() {
        let width = if a.no_trunc { 65 } else { 13 };
        let mut s = String::with_capacity(items.len() * width);
        for l in items {
            if a.no_trunc {
                s.push_str(&l.id);
            } else {
                s.push_str(&short_id(&l.id));
            }
            s.push('\n');
        }
        return Ok(s);
    }
    let cols = columns(a.size);
    if matches!(a.format.as_deref(), None | Some("") | Some("table")) {
        return Ok(default_table(items, a, now, &cols));
    }
    let rows: Vec<Value> = items.iter().map(|l| row(l, a, now)).collect();
    let default = format!(
        "table {}",
        cols.iter()
            .map(|c| format!("{{{{.{}}}}}", c.field))
            .collect::<Vec<_>>()
            .join("\\t")
    );
    let formatter = crate::format::Formatter::new(a.format.as_deref().unwrap_or(""), &default)?;
    let opts = crate::format::ExecOptions {
        root_type: Some("*formatter.ContainerContext".into()),
    };
    Ok(formatter.render(&rows, HEADERS, &opts)?)
}

/// The default table: what the template `table {{.ID}}\t{{.Image}}...` gives, written
/// directly from the plain fields (no template, no JSON object per row).
fn default_table(items: &[Listed], a: &PsArgs, now: i64, cols: &[Column]) -> String {
    let mut w = crate::table::TabWriter::docker();
    let header: Vec<&str> = cols.iter().map(|c| c.header).collect();
    w.write(&header.join("\t"));
    w.write("\n");
    let mut line = String::new();
    for l in items {
        line.clear();
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            match c.field {
                "ID" if a.no_trunc => line.push_str(&l.id),
                "ID" => line.push_str(&short_id(&l.id)),
                "Image" => line.push_str(&image_text(l, a.no_trunc)),
                "Command" => line.push_str(&command_text(l, a.no_trunc)),
                "RunningFor" => line.push_str(&units::created_since(l.created, now)),
                "Status" => line.push_str(&l.status),
                "Ports" => line.push_str(&ports_text(&l.ports)),
                "Names" => push_joined(&mut line, &l.names),
                "Size" => line.push_str(&size_text(l)),
                _ => {}
            }
        }
        line.push('\n');
        w.write(&line);
    }
    w.finish()
}

/// Appends `items` joined with commas.
fn push_joined(out: &mut String, items: &[String]) {
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn inspect(id: &str, name: &str, ago: i64, state: Value) -> Value {
        json!({
            "Id": id,
            "Name": format!("/{name}"),
            "Created": units::rfc3339_utc(NOW - ago),
            "Path": "sh",
            "Args": ["-c", "while true; do sleep 1; done"],
            "Config": {"Image": "busybox", "Labels": {"app": name}},
            "Image": "sha256:aaaabbbbccccdddd",
            "State": state,
            "HostConfig": {"NetworkMode": "none"},
            "NetworkSettings": {"Ports": {"80/tcp": null}},
            "Mounts": [],
        })
    }

    fn sample() -> Vec<Listed> {
        let running =
            json!({"Status": "running", "Running": true, "StartedAt": units::rfc3339_utc(NOW - 3)});
        let exited = json!({"Status": "exited", "Running": false, "ExitCode": 3,
            "StartedAt": units::rfc3339_utc(NOW - 50), "FinishedAt": units::rfc3339_utc(NOW - 2)});
        let created = json!({"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"});
        vec![
            summary_from_inspect(&inspect(&"a".repeat(64), "alpha", 30, running), NOW),
            summary_from_inspect(&inspect(&"b".repeat(64), "beta", 20, exited), NOW),
            summary_from_inspect(&inspect(&"c".repeat(64), "gamma", 10, created), NOW),
        ]
    }

    #[test]
    fn default_table_is_the_templates_output() {
        for size in [false, true] {
            for no_trunc in [false, true] {
                let a = args(|a| {
                    a.size = size;
                    a.no_trunc = no_trunc;
                });
                let fast = render(&sample(), &a, NOW).unwrap();
                let cols = columns(size);
                let template = format!(
                    "table {}",
                    cols.iter()
                        .map(|c| format!("{{{{.{}}}}}", c.field))
                        .collect::<Vec<_>>()
                        .join("\\t")
                );
                let b = args(|b| {
                    b.size = size;
                    b.no_trunc = no_trunc;
                    b.format = Some(template);
                });
                assert_eq!(fast, render(&sample(), &b, NOW).unwrap());
                assert!(fast.starts_with("CONTAINER ID"), "{fast}");
            }
        }
    }

    fn args(f: impl FnOnce(&mut PsArgs)) -> PsArgs {
        let mut a = PsArgs {
            last: -1,
            ..PsArgs::default()
        };
        f(&mut a);
        a
    }

    fn ids(v: &[Listed]) -> Vec<char> {
        v.iter().map(|l| id_of(l).chars().next().unwrap()).collect()
    }

    #[test]
    fn default_table_is_dockers() {
        let a = args(|a| a.all = true);
        let items = select(sample(), &a).unwrap();
        let out = render(&items, &a, NOW).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS                     PORTS     NAMES"
        );
        assert_eq!(
            lines[1],
            "cccccccccccc   busybox   \"sh -c 'while true; …\"   10 seconds ago   Created                    80/tcp    gamma"
        );
        assert!(lines[2].contains("Exited (3) 2 seconds ago"), "{out}");
        assert!(lines[3].contains("Up 3 seconds"), "{out}");
    }

    #[test]
    fn running_only_by_default_and_filters() {
        assert_eq!(ids(&select(sample(), &args(|_| {})).unwrap()), ['a']);
        let st = args(|a| a.filter = vec!["status=exited".into()]);
        assert_eq!(ids(&select(sample(), &st).unwrap()), ['b']);
        let ex = args(|a| {
            a.all = true;
            a.filter = vec!["exited=3".into()];
        });
        assert_eq!(ids(&select(sample(), &ex).unwrap()), ['b']);
        let name = args(|a| {
            a.all = true;
            a.filter = vec!["name=^gam".into()];
        });
        assert_eq!(ids(&select(sample(), &name).unwrap()), ['c']);
        let label = args(|a| {
            a.all = true;
            a.filter = vec!["label=app=beta".into()];
        });
        assert_eq!(ids(&select(sample(), &label).unwrap()), ['b']);
        let before = args(|a| {
            a.all = true;
            a.filter = vec!["before=gamma".into()];
        });
        assert_eq!(ids(&select(sample(), &before).unwrap()), ['b', 'a']);
        let since = args(|a| {
            a.all = true;
            a.filter = vec!["since=alpha".into()];
        });
        assert_eq!(ids(&select(sample(), &since).unwrap()), ['c', 'b']);
        let anc = args(|a| {
            a.all = true;
            a.filter = vec!["ancestor=busybox:latest".into()];
        });
        assert_eq!(select(sample(), &anc).unwrap().len(), 3);
        let health = args(|a| {
            a.all = true;
            a.filter = vec!["health=none".into()];
        });
        assert_eq!(select(sample(), &health).unwrap().len(), 3);
        assert!(select(sample(), &args(|a| a.filter = vec!["bogus=1".into()])).is_err());
        assert!(select(sample(), &args(|a| a.filter = vec!["status=up".into()])).is_err());
    }

    #[test]
    fn last_latest_quiet_format() {
        assert_eq!(
            ids(&select(sample(), &args(|a| a.last = 2)).unwrap()),
            ['c', 'b']
        );
        assert_eq!(
            ids(&select(sample(), &args(|a| a.latest = true)).unwrap()),
            ['c']
        );
        let q = args(|a| {
            a.all = true;
            a.quiet = true;
        });
        let items = select(sample(), &q).unwrap();
        assert_eq!(
            render(&items, &q, NOW).unwrap(),
            "cccccccccccc\nbbbbbbbbbbbb\naaaaaaaaaaaa\n"
        );
        let f = args(|a| {
            a.all = true;
            a.format = Some("{{.Names}} {{.State}} {{.Label \"app\"}}".into());
        });
        let items = select(sample(), &f).unwrap();
        // `.Label` is a method in docker; unknown here, so the render fails cleanly.
        let _ = render(&items, &f, NOW);
        let f = args(|a| {
            a.all = true;
            a.format = Some("table {{.Names}}\\t{{.State}}".into());
        });
        let out = render(&select(sample(), &f).unwrap(), &f, NOW).unwrap();
        assert_eq!(out.lines().next().unwrap(), "NAMES     STATE");
        assert!(out.contains("beta      exited"));
    }

    #[test]
    fn ports_and_quote() {
        let p = |ip: &str, private_port, public_port| PortEntry {
            ip: ip.into(),
            private_port,
            public_port,
            kind: "tcp".into(),
        };
        let ports = [p("", 443, 0), p("0.0.0.0", 80, 8080), p("::", 80, 8080)];
        assert_eq!(
            ports_text(&ports),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp"
        );
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn size_column() {
        let mut l = sample().remove(0);
        l.size_rw = Some(12);
        l.size_root_fs = Some(4_260_000);
        let a = args(|a| a.size = true);
        assert_eq!(row(&l, &a, NOW)["Size"], "12B (virtual 4.26MB)");
    }
}
