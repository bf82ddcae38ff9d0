//! Copies a captured sysfs tree whose symlinks were flattened into files (as the trees under
//! `../shared/fixtures` are) into a directory with real symlinks, ready for `hostwatt --root`.
//!
//! ```text
//! cargo run -q --example fixture_tree -- ../shared/fixtures/sysfs/node_exporter /tmp/node_exporter
//! cargo run -q -- once --root /tmp/node_exporter
//! ```

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst] = args.as_slice() else {
        eprintln!("usage: fixture_tree SRC DST");
        std::process::exit(2);
    };
    match hostwatt::fixture::copy_tree(src.as_ref(), dst.as_ref()) {
        Ok(n) => println!("{dst}: copied, {n} flattened symlinks restored"),
        Err(e) => {
            eprintln!("fixture_tree: {e}");
            std::process::exit(1);
        }
    }
}
