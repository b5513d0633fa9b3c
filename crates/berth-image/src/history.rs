//! `docker history` rows of an image: its config's history, newest first, with the size of the
//! layer each step made.

use crate::manifest::ImageConfig;
use berth_oci::Digest;

/// What `docker history` shows for one step of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID for the newest step, `<missing>` for the others (Docker shows the ID of a
    /// local image only when that image is the step's result; Berth records no such link).
    pub id: String,
    /// When the step ran (RFC 3339), if the config says.
    pub created: Option<String>,
    /// The command of the step (`""` if unknown).
    pub created_by: String,
    /// Bytes of the layer the step made (unpacked size), 0 for steps that made none.
    pub size: u64,
    /// The step's comment (`""` if none).
    pub comment: String,
    /// The step made no layer.
    pub empty_layer: bool,
}

/// The ID column value of every row but the newest.
pub const MISSING: &str = "<missing>";

/// The rows of `docker history` for the image `image_id` with `config`, newest first.
/// `layer_sizes` are the unpacked sizes of the image's layers, bottom first: history entries
/// without `empty_layer` are matched to them in order (a size that is not known counts as 0).
/// A config without history gives one row per layer (or one row if it has no layers either).
pub fn history_rows(
    config: &ImageConfig,
    image_id: &Digest,
    layer_sizes: &[u64],
) -> Vec<HistoryRow> {
    let mut rows: Vec<HistoryRow> = if config.history.is_empty() {
        let row = |size| HistoryRow {
            id: MISSING.to_string(),
            created: config.created.clone(),
            created_by: String::new(),
            size,
            comment: String::new(),
            empty_layer: false,
        };
        if layer_sizes.is_empty() {
            vec![row(0)]
        } else {
            layer_sizes.iter().map(|&s| row(s)).collect()
        }
    } else {
        let mut layers = layer_sizes.iter();
        config
            .history
            .iter()
            .map(|h| HistoryRow {
                id: MISSING.to_string(),
                created: h.created.clone(),
                created_by: h.created_by.clone().unwrap_or_default(),
                size: if h.empty_layer {
                    0
                } else {
                    layers.next().copied().unwrap_or(0)
                },
                comment: h.comment.clone().unwrap_or_default(),
                empty_layer: h.empty_layer,
            })
            .collect()
    };
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = image_id.to_string();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::History;

    fn step(created_by: &str, empty: bool) -> History {
        History {
            created: Some(format!("2024-01-0{}T00:00:00Z", created_by.len() % 9 + 1)),
            created_by: Some(created_by.to_string()),
            author: None,
            comment: None,
            empty_layer: empty,
        }
    }

    fn id() -> Digest {
        Digest::sha256_of(b"config")
    }

    #[test]
    fn empty_layers_get_zero_and_layers_match_in_order() {
        let config = ImageConfig {
            history: vec![
                step("ADD rootfs.tar /", false),
                step("ENV A=1", true),
                step("RUN make", false),
                History {
                    comment: Some("note".into()),
                    ..step("CMD [\"sh\"]", true)
                },
            ],
            ..ImageConfig::default()
        };
        let rows = history_rows(&config, &id(), &[100, 200]);
        let got: Vec<(&str, &str, u64, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.id.as_str(),
                    r.created_by.as_str(),
                    r.size,
                    r.comment.as_str(),
                )
            })
            .collect();
        let top = id().to_string();
        assert_eq!(
            got,
            vec![
                (top.as_str(), "CMD [\"sh\"]", 0, "note"),
                (MISSING, "RUN make", 200, ""),
                (MISSING, "ENV A=1", 0, ""),
                (MISSING, "ADD rootfs.tar /", 100, ""),
            ]
        );
        assert!(rows[0].empty_layer && !rows[1].empty_layer);
        assert_eq!(rows[3].created.as_deref(), Some("2024-01-08T00:00:00Z"));
    }

    #[test]
    fn more_steps_than_known_sizes_count_zero() {
        let config = ImageConfig {
            history: vec![step("a", false), step("b", false)],
            ..ImageConfig::default()
        };
        let rows = history_rows(&config, &id(), &[7]);
        assert_eq!(rows.iter().map(|r| r.size).collect::<Vec<_>>(), vec![0, 7]);
    }

    #[test]
    fn no_history_gives_one_row_per_layer() {
        let config = ImageConfig {
            created: Some("2024-05-01T10:00:00Z".into()),
            ..ImageConfig::default()
        };
        let rows = history_rows(&config, &id(), &[1, 2, 3]);
        assert_eq!(
            rows.iter().map(|r| r.size).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(rows[0].id, id().to_string());
        assert!(rows[1..].iter().all(|r| r.id == MISSING));
        assert!(rows
            .iter()
            .all(|r| r.created.as_deref() == Some("2024-05-01T10:00:00Z")));

        let rows = history_rows(&config, &id(), &[]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].size, 0);
        assert_eq!(rows[0].id, id().to_string());
    }
}
