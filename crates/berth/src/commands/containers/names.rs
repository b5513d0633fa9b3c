//! Random container names in docker's `adjective_surname` shape (`quirky_lovelace`), from
//! Berth's own short word lists: adjectives, and surnames of people who shaped computing,
//! mathematics and science.

/// Adjectives for the left half.
const LEFT: &[&str] = &[
    "agile", "amber", "ample", "ardent", "awake", "bold", "brave", "breezy", "bright", "brisk",
    "calm", "candid", "cheerful", "clever", "cosmic", "crisp", "curious", "daring", "dapper",
    "deft", "eager", "earnest", "elated", "epic", "fearless", "fervent", "festive", "fluent",
    "frank", "gallant", "gentle", "gifted", "glad", "graceful", "hardy", "hearty", "humble",
    "jolly", "jovial", "keen", "kind", "lively", "loyal", "lucid", "lucky", "merry", "mellow",
    "mindful", "modest", "nifty", "nimble", "noble", "patient", "placid", "plucky", "polite",
    "proud", "quiet", "quirky", "radiant", "rapid", "ready", "serene", "sharp", "sleek", "snappy",
    "sober", "spry", "steady", "stoic", "sunny", "swift", "tender", "thrifty", "tidy", "trusty",
    "upbeat", "valiant", "vivid", "warm", "wise", "witty", "zany", "zealous", "zesty",
];

/// Surnames for the right half.
const RIGHT: &[&str] = &[
    "agnesi",
    "allen",
    "babbage",
    "backus",
    "bartik",
    "bell",
    "boole",
    "borg",
    "cantor",
    "cerf",
    "church",
    "codd",
    "conway",
    "curie",
    "dijkstra",
    "easley",
    "engelbart",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "gauss",
    "goldberg",
    "hamilton",
    "hertz",
    "hilbert",
    "hopper",
    "hypatia",
    "jackson",
    "jemison",
    "johnson",
    "kahan",
    "kay",
    "keller",
    "kepler",
    "knuth",
    "kowalevski",
    "lamarr",
    "lamport",
    "leavitt",
    "liskov",
    "lovelace",
    "mccarthy",
    "meitner",
    "minsky",
    "mirzakhani",
    "napier",
    "neumann",
    "newton",
    "noether",
    "nygaard",
    "pascal",
    "perlman",
    "planck",
    "poincare",
    "ramanujan",
    "ritchie",
    "sammet",
    "shannon",
    "shaw",
    "somerville",
    "stallman",
    "sutherland",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "vaughan",
    "volta",
    "wilkes",
    "wirth",
    "wozniak",
    "yalow",
    "yonath",
    "zuse",
];

/// A random name; `retry > 0` appends a digit as docker does after a collision.
pub fn random_name(retry: u32) -> String {
    let r = random_u64();
    let left = LEFT[(r % LEFT.len() as u64) as usize];
    let right = RIGHT[((r >> 20) % RIGHT.len() as u64) as usize];
    let mut name = format!("{left}_{right}");
    // Steve Wozniak is not boring; docker skips this one too, in its own words.
    if name == "boring_wozniak" {
        return random_name(retry);
    }
    if retry > 0 {
        name.push_str(&((r >> 40) % 10).to_string());
    }
    name
}

/// 64 random bits from the kernel (falls back to the clock if /dev/urandom is unreadable).
fn random_u64() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return u64::from_le_bytes(buf);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_docker_shape() {
        for retry in 0..50 {
            let n = random_name(retry % 2);
            let (l, r) = n.split_once('_').unwrap();
            assert!(LEFT.contains(&l), "{n}");
            let r = r.trim_end_matches(|c: char| c.is_ascii_digit());
            assert!(RIGHT.contains(&r), "{n}");
            assert!(n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()));
        }
    }

    #[test]
    fn names_vary() {
        let names: std::collections::HashSet<String> = (0..20).map(|_| random_name(0)).collect();
        assert!(names.len() > 5);
    }
}
