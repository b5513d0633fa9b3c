//! `commit_layer`: an overlay upper dir becomes a new top layer with the container's config.

use berth_image::{CommitOptions, Driver, ImageStore};
use serde_json::json;

#[test]
fn commit_upper_dir_on_hello_world() {
    for driver in [Driver::Overlay, Driver::Copy] {
        let root = tempfile::tempdir().unwrap();
        let store = ImageStore::open_with(root.path(), driver).unwrap();
        let parent = store.bootstrap_hello().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/added"), "new\n").unwrap();
        if nix::unistd::geteuid().is_root() {
            // An overlay whiteout for /hello: a 0:0 character device.
            nix::sys::stat::mknod(
                &upper.path().join("hello"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::empty(),
                0,
            )
            .unwrap();
        }
        let opts = CommitOptions {
            container_config: json!({"Cmd": ["/bin/other"], "Env": ["A=1"], "Hostname": "x", "Tty": true}),
            changes: vec!["LABEL k=v".into(), "WORKDIR /etc".into()],
            author: Some("tester".into()),
            comment: Some("my change".into()),
            created_by: "/hello".into(),
            tag: Some("committed:v1".into()),
        };
        let id = store.commit_layer(&parent, upper.path(), &opts).unwrap();
        assert_ne!(id, parent);
        assert_eq!(store.resolve("committed:v1").unwrap(), id);
        let rec = store.image(&id).unwrap();
        let parent_rec = store.image(&parent).unwrap();
        assert_eq!(rec.layers.len(), parent_rec.layers.len() + 1);
        assert_eq!(rec.parent.as_ref(), Some(&parent));
        let config: serde_json::Value =
            serde_json::from_slice(&store.read_blob(&id).unwrap()).unwrap();
        assert_eq!(config["config"]["Cmd"], json!(["/bin/other"]));
        assert_eq!(config["config"]["WorkingDir"], "/etc");
        assert_eq!(config["config"]["Labels"]["k"], "v");
        assert!(
            config["config"].get("Hostname").is_none(),
            "container-only fields dropped"
        );
        assert_eq!(config["author"], "tester");
        assert_eq!(config["comment"], "my change");
        let history = config["history"].as_array().unwrap();
        assert_eq!(history.last().unwrap()["comment"], "my change");
        assert!(store.check(false).unwrap().is_clean());
    }
}
