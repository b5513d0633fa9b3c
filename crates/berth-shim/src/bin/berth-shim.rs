//! `berth-shim shim ...`: the shim alone (for tests and setups that keep it apart from the CLI);
//! `berth shim ...` in the berth binary is the same code.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rest = match args.get(1).map(String::as_str) {
        Some("shim") => &args[2..],
        _ => &args[1..],
    };
    std::process::exit(berth_shim::main_from_args(rest));
}
