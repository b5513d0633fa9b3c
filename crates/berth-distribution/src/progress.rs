//! Docker-style progress: one line per layer (`<id>: Downloading [=====>    ]  1.2MB/4.5MB`),
//! redrawn in place on a terminal; plain status lines (no byte counts) otherwise.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct State {
    ids: Vec<String>,
    texts: Vec<String>,
    last: Instant,
    out: Box<dyn Write + Send>,
}

/// A progress display shared by the download threads.
pub struct Progress {
    tty: bool,
    quiet: bool,
    state: Mutex<State>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress").field("tty", &self.tty).finish()
    }
}

impl Progress {
    /// A display writing to `out`; `tty` redraws lines in place; `quiet` prints nothing.
    pub fn new(out: Box<dyn Write + Send>, tty: bool, quiet: bool) -> Progress {
        Progress {
            tty,
            quiet,
            state: Mutex::new(State {
                ids: Vec::new(),
                texts: Vec::new(),
                last: Instant::now() - Duration::from_secs(1),
                out,
            }),
        }
    }

    /// Prints a line that is not a layer's (`Digest: ...`).
    pub fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        let mut st = self.state.lock().expect("not poisoned");
        let _ = writeln!(st.out, "{text}");
        // Lines printed after the layer block end it.
        st.ids.clear();
        st.texts.clear();
        let _ = st.out.flush();
    }

    /// Sets layer `id`'s status. `transient` statuses (byte counts) are throttled on a terminal
    /// and not printed otherwise.
    pub fn update(&self, id: &str, text: &str, transient: bool) {
        if self.quiet || (transient && !self.tty) {
            return;
        }
        let mut st = self.state.lock().expect("not poisoned");
        let st = &mut *st;
        if !self.tty {
            let _ = writeln!(st.out, "{id}: {text}");
            let _ = st.out.flush();
            return;
        }
        match st.ids.iter().position(|i| i == id) {
            None => {
                st.ids.push(id.into());
                st.texts.push(text.into());
                let _ = writeln!(st.out, "{id}: {text}");
            }
            Some(pos) => {
                if transient && st.last.elapsed() < Duration::from_millis(100) {
                    st.texts[pos] = text.into();
                    return;
                }
                st.texts[pos] = text.into();
                let up = st.ids.len() - pos;
                let _ = write!(st.out, "\x1b[{up}A\r\x1b[2K{id}: {text}\x1b[{up}B\r");
            }
        }
        st.last = Instant::now();
        let _ = st.out.flush();
    }
}

/// docker's progress bar: `[=====>      ]  1.2MB/4.5MB`.
pub fn bar(done: u64, total: u64) -> String {
    const WIDTH: usize = 50;
    let filled = if total == 0 {
        0
    } else {
        ((done as f64 / total as f64) * WIDTH as f64) as usize
    }
    .min(WIDTH);
    let mut s = String::from("[");
    if filled > 0 {
        s.push_str(&"=".repeat(filled - 1));
        s.push('>');
    }
    s.push_str(&" ".repeat(WIDTH - filled));
    s.push(']');
    format!("{s}  {}/{}", human(done), human(total))
}

/// Bytes in docker's decimal units (`12.3MB`).
pub fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[u]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_and_units() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_234_567), "1.235MB");
        let b = bar(50, 100);
        assert!(b.starts_with("[========================>"));
        assert!(b.ends_with("50B/100B"));
    }
}
