//! Mounts the workbench page; the components live in the library.

fn main() {
    leptos::mount::mount_to_body(frontend::App);
}
