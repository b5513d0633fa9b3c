//! The local store runs the shared conformance suite.

#[test]
fn local_store_conforms() {
    berth_content::conformance::run_all(&berth_content::conformance::local_fixture);
}
