//! Media types of the OCI image spec and of Docker's image manifest schema 2, with helpers that
//! classify them and map one family onto the other.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index (a list of manifests, e.g. one per platform).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed tar.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip-compressed tar.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd-compressed tar.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable layer, uncompressed (deprecated by the spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip (deprecated by the spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd (deprecated by the spec, still seen).
pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// The OCI empty descriptor's media type (the blob is `{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The content of the OCI empty blob.
pub const OCI_EMPTY_DATA: &[u8] = b"{}";
/// `imageLayoutVersion` written to an OCI layout's `oci-layout` file.
pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
/// The file at the root of an OCI layout that marks it as one.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The index file at the root of an OCI layout.
pub const OCI_LAYOUT_INDEX_FILE: &str = "index.json";

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform), schema 2.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker layer, uncompressed tar.
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker layer, gzip-compressed tar.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker layer, zstd-compressed tar (written by containerd/moby for zstd).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign layer (fetched from its `urls`, e.g. Windows base layers), uncompressed.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/// Docker foreign layer, gzip-compressed.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker schema 1 manifest (unsupported; named to reject it clearly).
pub const DOCKER_MANIFEST_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1 signed manifest (unsupported; named to reject it clearly).
pub const DOCKER_MANIFEST_SCHEMA1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Annotation: the tag or name of an image in an OCI layout's index.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation: when the image was created (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Annotation containerd (and nerdctl, buildkit) writes with the full image name.
pub const ANNOTATION_CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// `mt` without parameters (`; charset=...`) and surrounding spaces.
pub fn essence(mt: &str) -> &str {
    mt.split(';').next().unwrap_or(mt).trim()
}

/// Whether `mt` is an image manifest (OCI or Docker schema 2).
pub fn is_manifest(mt: &str) -> bool {
    matches!(essence(mt), OCI_MANIFEST | DOCKER_MANIFEST)
}

/// Whether `mt` is an index or manifest list.
pub fn is_index(mt: &str) -> bool {
    matches!(essence(mt), OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// Whether `mt` is an image config.
pub fn is_config(mt: &str) -> bool {
    matches!(essence(mt), OCI_CONFIG | DOCKER_CONFIG)
}

/// Whether `mt` is a Docker schema 1 manifest.
pub fn is_schema1(mt: &str) -> bool {
    matches!(
        essence(mt),
        DOCKER_MANIFEST_SCHEMA1 | DOCKER_MANIFEST_SCHEMA1_SIGNED
    )
}

/// Whether `mt` is a layer (a tar stream, plain or compressed, OCI or Docker).
pub fn is_layer(mt: &str) -> bool {
    matches!(
        essence(mt),
        OCI_LAYER
            | OCI_LAYER_GZIP
            | OCI_LAYER_ZSTD
            | OCI_LAYER_NONDISTRIBUTABLE
            | OCI_LAYER_NONDISTRIBUTABLE_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_ZSTD
            | DOCKER_LAYER
            | DOCKER_LAYER_GZIP
            | DOCKER_LAYER_ZSTD
            | DOCKER_FOREIGN_LAYER
            | DOCKER_FOREIGN_LAYER_GZIP
    )
}

/// Whether `mt` is a layer whose blob is not distributed with the image (Docker foreign, OCI
/// non-distributable).
pub fn is_foreign_layer(mt: &str) -> bool {
    matches!(
        essence(mt),
        DOCKER_FOREIGN_LAYER
            | DOCKER_FOREIGN_LAYER_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE
            | OCI_LAYER_NONDISTRIBUTABLE_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_ZSTD
    )
}

/// The OCI media type for `mt`; types with no OCI counterpart are returned unchanged.
pub fn to_oci_media_type(mt: &str) -> &str {
    match essence(mt) {
        DOCKER_MANIFEST => OCI_MANIFEST,
        DOCKER_MANIFEST_LIST => OCI_INDEX,
        DOCKER_CONFIG => OCI_CONFIG,
        DOCKER_LAYER => OCI_LAYER,
        DOCKER_LAYER_GZIP => OCI_LAYER_GZIP,
        DOCKER_LAYER_ZSTD => OCI_LAYER_ZSTD,
        DOCKER_FOREIGN_LAYER => OCI_LAYER_NONDISTRIBUTABLE,
        DOCKER_FOREIGN_LAYER_GZIP => OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        _ => mt,
    }
}

/// The Docker schema 2 media type for `mt`; types with no Docker counterpart are returned
/// unchanged.
pub fn to_docker_media_type(mt: &str) -> &str {
    match essence(mt) {
        OCI_MANIFEST => DOCKER_MANIFEST,
        OCI_INDEX => DOCKER_MANIFEST_LIST,
        OCI_CONFIG => DOCKER_CONFIG,
        OCI_LAYER => DOCKER_LAYER,
        OCI_LAYER_GZIP => DOCKER_LAYER_GZIP,
        OCI_LAYER_ZSTD => DOCKER_LAYER_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE => DOCKER_FOREIGN_LAYER,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP => DOCKER_FOREIGN_LAYER_GZIP,
        _ => mt,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYERS: &[&str] = &[
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_GZIP,
    ];

    #[test]
    fn classifies() {
        for mt in LAYERS {
            assert!(is_layer(mt), "{mt}");
            assert!(!is_manifest(mt) && !is_index(mt) && !is_config(mt), "{mt}");
        }
        for mt in [OCI_MANIFEST, DOCKER_MANIFEST] {
            assert!(is_manifest(mt) && !is_index(mt) && !is_layer(mt), "{mt}");
        }
        for mt in [OCI_INDEX, DOCKER_MANIFEST_LIST] {
            assert!(is_index(mt) && !is_manifest(mt), "{mt}");
        }
        for mt in [OCI_CONFIG, DOCKER_CONFIG] {
            assert!(is_config(mt) && !is_layer(mt), "{mt}");
        }
        assert!(is_schema1(DOCKER_MANIFEST_SCHEMA1) && is_schema1(DOCKER_MANIFEST_SCHEMA1_SIGNED));
        assert!(!is_manifest(DOCKER_MANIFEST_SCHEMA1));
        assert!(is_foreign_layer(DOCKER_FOREIGN_LAYER_GZIP) && !is_foreign_layer(OCI_LAYER_GZIP));
        assert!(!is_layer("application/octet-stream") && !is_layer(OCI_EMPTY));
        // Parameters and spaces do not change the type.
        assert!(is_manifest(
            " application/vnd.oci.image.manifest.v1+json; charset=utf-8"
        ));
    }

    #[test]
    fn maps_between_families() {
        let pairs = [
            (DOCKER_MANIFEST, OCI_MANIFEST),
            (DOCKER_MANIFEST_LIST, OCI_INDEX),
            (DOCKER_CONFIG, OCI_CONFIG),
            (DOCKER_LAYER, OCI_LAYER),
            (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP),
            (DOCKER_LAYER_ZSTD, OCI_LAYER_ZSTD),
            (DOCKER_FOREIGN_LAYER, OCI_LAYER_NONDISTRIBUTABLE),
            (DOCKER_FOREIGN_LAYER_GZIP, OCI_LAYER_NONDISTRIBUTABLE_GZIP),
        ];
        for (docker, oci) in pairs {
            assert_eq!(to_oci_media_type(docker), oci);
            assert_eq!(to_oci_media_type(oci), oci);
            assert_eq!(to_docker_media_type(oci), docker);
            assert_eq!(to_docker_media_type(docker), docker);
        }
        assert_eq!(to_oci_media_type("text/plain"), "text/plain");
        assert_eq!(to_docker_media_type(OCI_EMPTY), OCI_EMPTY);
        assert_eq!(
            to_docker_media_type(OCI_LAYER_NONDISTRIBUTABLE_ZSTD),
            OCI_LAYER_NONDISTRIBUTABLE_ZSTD
        );
    }
}
