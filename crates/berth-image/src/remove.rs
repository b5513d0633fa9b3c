//! `rmi` and `image prune`, with docker's rules for tags, children and containers.

use crate::error::{ImageError, Result};
use crate::store::ImageStore;
use berth_oci::{Digest, Reference};

/// One thing a removal did, printed like docker (`Untagged: busybox:latest`, `Deleted: sha256:...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A tag was removed (full reference).
    Untagged(String),
    /// An image record was deleted.
    Deleted(Digest),
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removed::Untagged(t) => {
                let shown = Reference::parse(t)
                    .map(|r| r.familiar())
                    .unwrap_or_else(|_| t.clone());
                write!(f, "Untagged: {shown}")
            }
            Removed::Deleted(d) => write!(f, "Deleted: {d}"),
        }
    }
}

/// What `image prune` removed and the space it gave back.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Tags and images removed.
    pub removed: Vec<Removed>,
    /// Bytes of blobs and unpacked layers freed.
    pub reclaimed: u64,
}

impl ImageStore {
    /// Removes the image `name` like `docker rmi`: a tag of an image with other tags only loses
    /// the tag; an ID with several tags needs `force`; an image a container uses needs `force`;
    /// one with child images cannot be removed. Unreferenced blobs and layers go too.
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<Removed>> {
        let id = self.resolve(name)?;
        let tags = self.meta.tags_of(&id)?;
        let by_tag = Reference::parse(name)
            .ok()
            .map(|r| r.to_string())
            .filter(|full| tags.contains(full));
        let short = short_id(&id);
        let users = self.meta.containers_using(&id)?;
        let mut removed = Vec::new();
        if let Some(tag) = &by_tag {
            if tags.len() > 1 || !users.is_empty() && !force {
                if tags.len() == 1 {
                    let c = &users[0];
                    return Err(ImageError::Conflict(format!(
                        "unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {short}",
                        short_str(&c.id)
                    )));
                }
                self.meta.untag(tag)?;
                removed.push(Removed::Untagged(tag.clone()));
                return Ok(removed);
            }
        } else if !force {
            if tags.len() > 1 {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                )));
            }
            if let Some(c) = users.first() {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {short} (must be forced) - image is being used by container {}",
                    short_str(&c.id)
                )));
            }
        }
        if !self.meta.children(&id)?.is_empty() {
            return Err(ImageError::Conflict(format!(
                "unable to delete {short} (cannot be forced) - image has dependent child images"
            )));
        }
        if !users.is_empty() {
            // Forced while a container uses it: docker untags and keeps the image.
            for t in tags {
                self.meta.untag(&t)?;
                removed.push(Removed::Untagged(t));
            }
            return Ok(removed);
        }
        for t in &tags {
            removed.push(Removed::Untagged(t.clone()));
        }
        self.meta.delete_image(&id)?;
        removed.push(Removed::Deleted(id));
        self.collect_garbage()?;
        Ok(removed)
    }

    /// Removes dangling images (untagged, no children), or with `all` every image no container
    /// uses, then collects garbage.
    pub fn prune(&self, all: bool) -> Result<PruneReport> {
        self.prune_matching(all, &|_| true)
    }

    /// Like [`ImageStore::prune`], only for images `selected` accepts (the `--filter`s).
    pub fn prune_matching(
        &self,
        all: bool,
        selected: &dyn Fn(&berth_meta::ImageRecord) -> bool,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        // Removing a child can leave its parent prunable: repeat until nothing changes.
        loop {
            let mut changed = false;
            for img in self.meta.images()? {
                let tags = self.meta.tags_of(&img.id)?;
                if (!all && !tags.is_empty())
                    || !selected(&img)
                    || !self.meta.children(&img.id)?.is_empty()
                    || !self.meta.containers_using(&img.id)?.is_empty()
                {
                    continue;
                }
                for t in tags {
                    report.removed.push(Removed::Untagged(t));
                }
                self.meta.delete_image(&img.id)?;
                report.removed.push(Removed::Deleted(img.id));
                changed = true;
            }
            if !changed {
                break;
            }
        }
        let gc = self.collect_garbage()?;
        report.reclaimed = gc.reclaimed_bytes;
        Ok(report)
    }
}

/// The 12-hex short form of an image ID.
pub fn short_id(id: &Digest) -> String {
    id.hex()[..12.min(id.hex().len())].to_string()
}

fn short_str(s: &str) -> &str {
    &s[..12.min(s.len())]
}
