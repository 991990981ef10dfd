//! The same program as `node`, under a name that does not collide with
//! Node.js's `node`.

fn main() {
    sledchain::app::main()
}
