//! Rebuild when a migration is added or edited: the migrations are embedded at compile time.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
