fn main() {
    // Migrations are embedded at compile time.
    println!("cargo:rerun-if-changed=migrations");
}
