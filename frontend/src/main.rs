//! Mounts the page; the components live in the library.

fn main() {
    frontend::mount();
}
