//! The `shardwamp` command line. The router runtime and its `run`, `check`,
//! `init` and `ctl` subcommands arrive with the runtime issue; today the
//! binary reports what it is built from.
use shardwamp::codec::Serializer;

fn main() {
    println!("shardwamp {}", env!("CARGO_PKG_VERSION"));
    let serializers: Vec<&str> = Serializer::ALL.iter().map(|s| s.subprotocol()).collect();
    println!("serializers: {}", serializers.join(", "));
    println!("the router runtime (shardwamp run) is not built yet: see docs/ARCHITECTURE.md");
}
