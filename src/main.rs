//! The `shardwamp` command line.
fn main() {
    println!("shardwamp {}", env!("CARGO_PKG_VERSION"));
}
