// The engine's migrations are embedded by `sqlx::migrate!` (src/migrations.rs): rebuild when one
// is added or changed, not only when Rust code changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
