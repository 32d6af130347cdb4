//! A tenant's documents directory follows the tenant: `texml/<old>/` is renamed to
//! `texml/<new>/` when its slug changes, and archived under `texml/_archive/` when the
//! tenant is deleted, or when a new slug names a directory no tenant owns (left by hand or
//! by an earlier tenant), so no tenant ever serves another's documents. The loader and
//! `texml check` never look inside `_archive/`.
//!
//! Each change is a rename (nothing is copied or deleted) done under the library's scan
//! lock, so the poller never sees it half-done; [`Moved::undo`] puts it back when the
//! database write it goes with does not commit.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::Library;

/// Directory under the documents directory that holds archived tenant directories.
pub const ARCHIVE_DIR: &str = "_archive";

/// Renames done by one change, in order, so they can be undone.
#[must_use = "undo the move if the database write it goes with fails"]
pub struct Moved {
    renames: Vec<(PathBuf, PathBuf)>,
    lib: Option<Library>,
}

impl Moved {
    /// No rename at all (the change it would go with was refused).
    pub fn nothing() -> Self {
        Self {
            renames: Vec::new(),
            lib: None,
        }
    }

    /// The archive directory a tenant directory went to, if one was archived.
    pub fn archived(&self) -> Option<&Path> {
        self.renames
            .iter()
            .find(|(_, to)| to.parent().and_then(Path::file_name) == Some(ARCHIVE_DIR.as_ref()))
            .map(|(_, to)| to.as_path())
    }

    /// Reverses every rename (newest first) and reloads the library. Best effort: a
    /// failure is logged, since the caller is already answering with an error.
    pub fn undo(self) {
        let Some(lib) = self.lib else {
            return;
        };
        {
            let _scan = lib.scan_lock.lock();
            for (from, to) in self.renames.iter().rev() {
                if let Err(e) = std::fs::rename(to, from) {
                    tracing::error!(from = %to.display(), to = %from.display(), "could not move a TeXML directory back: {e}");
                }
            }
        }
        lib.scan();
    }
}

impl Library {
    fn owner_dir(&self, owner: &str) -> PathBuf {
        self.dir.join(owner)
    }

    /// Moves `texml/<slug>/`, if there is one, to
    /// `texml/_archive/<slug>-<tag>-<UTC time>/` and stops serving it.
    pub fn archive(&self, slug: &str, tag: &str, now: Timestamp) -> std::io::Result<Moved> {
        let _scan = self.scan_lock.lock();
        let mut moved = Moved {
            renames: Vec::new(),
            lib: Some(self.clone()),
        };
        self.archive_locked(slug, tag, now, &mut moved)?;
        self.forget(slug);
        Ok(moved)
    }

    /// After a slug change: archives any directory already named `to` (no tenant owns it:
    /// the slug was free), then renames `texml/<from>/` to `texml/<to>/`, keeping what is
    /// served for the tenant.
    pub fn follow_slug(&self, from: &str, to: &str, now: Timestamp) -> std::io::Result<Moved> {
        let _scan = self.scan_lock.lock();
        let mut moved = Moved {
            renames: Vec::new(),
            lib: Some(self.clone()),
        };
        if from == to {
            return Ok(moved);
        }
        let result = (|| {
            self.archive_locked(to, "unowned", now, &mut moved)?;
            let (old, new) = (self.owner_dir(from), self.owner_dir(to));
            if old.is_dir() {
                std::fs::rename(&old, &new)?;
                moved.renames.push((old, new));
            }
            Ok(())
        })();
        if let Err(e) = result {
            drop(_scan);
            moved.undo();
            return Err(e);
        }
        if let Ok(mut files) = self.files.write() {
            files.retain(|(owner, _), _| owner != to);
            let keys: Vec<_> = files.keys().filter(|(o, _)| o == from).cloned().collect();
            for key in keys {
                if let Some(entry) = files.remove(&key) {
                    files.insert((to.to_string(), key.1), entry);
                }
            }
        }
        Ok(moved)
    }

    fn archive_locked(
        &self,
        slug: &str,
        tag: &str,
        now: Timestamp,
        moved: &mut Moved,
    ) -> std::io::Result<()> {
        let dir = self.owner_dir(slug);
        if !dir.is_dir() {
            return Ok(());
        }
        let archive = self.dir.join(ARCHIVE_DIR);
        std::fs::create_dir_all(&archive)?;
        let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let base = format!("{slug}-{tag}-{stamp}");
        let mut target = archive.join(&base);
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = archive.join(format!("{base}-{n}"));
        }
        std::fs::rename(&dir, &target)?;
        tracing::warn!(from = %dir.display(), to = %target.display(), "TeXML documents archived");
        moved.renames.push((dir, target));
        Ok(())
    }

    /// Drops every loaded document of `owner`.
    fn forget(&self, owner: &str) {
        if let Ok(mut files) = self.files.write() {
            files.retain(|(o, _), _| o != owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texml::docs::Source;

    const DOC: &str = "<Response><Say>Custom</Say><Hangup/></Response>";

    fn library_with(slug: &str) -> (tempfile::TempDir, Library) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(slug)).unwrap();
        std::fs::write(dir.path().join(slug).join("closed.xml"), DOC).unwrap();
        let lib = Library::load(dir.path());
        (dir, lib)
    }

    fn now() -> Timestamp {
        "2026-11-20T15:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_archived_directory_is_no_longer_served_or_scanned() {
        let (dir, lib) = library_with("bella");
        assert_eq!(lib.get(Some("bella"), "closed").unwrap().1, Source::Tenant);
        let moved = lib.archive("bella", "7", now()).unwrap();
        let to = moved.archived().unwrap().to_path_buf();
        assert_eq!(to, dir.path().join("_archive/bella-7-20261120T150000Z"));
        assert!(to.join("closed.xml").is_file());
        lib.scan();
        assert_eq!(lib.get(Some("bella"), "closed").unwrap().1, Source::Default);
        assert_eq!(crate::texml::docs::check_dir(dir.path()), Ok(0));
    }

    #[test]
    fn a_second_archive_in_the_same_second_gets_its_own_directory() {
        let (dir, lib) = library_with("bella");
        let _ = lib.archive("bella", "7", now()).unwrap();
        std::fs::create_dir_all(dir.path().join("bella")).unwrap();
        let second = lib.archive("bella", "7", now()).unwrap();
        assert_eq!(
            second.archived().unwrap(),
            dir.path().join("_archive/bella-7-20261120T150000Z-2")
        );
    }

    #[test]
    fn a_slug_change_keeps_serving_the_documents_and_undo_puts_them_back() {
        let (dir, lib) = library_with("bella");
        std::fs::create_dir_all(dir.path().join("bella-2")).unwrap();
        std::fs::write(dir.path().join("bella-2/transfer.xml"), DOC).unwrap();
        lib.scan();
        let moved = lib.follow_slug("bella", "bella-2", now()).unwrap();
        assert_eq!(
            lib.get(Some("bella-2"), "closed").unwrap().1,
            Source::Tenant
        );
        assert_eq!(
            lib.get(Some("bella-2"), "transfer").unwrap().1,
            Source::Default,
            "the unowned directory that was there is archived, not inherited"
        );
        lib.scan();
        assert_eq!(
            lib.get(Some("bella-2"), "closed").unwrap().1,
            Source::Tenant
        );
        moved.undo();
        assert_eq!(lib.get(Some("bella"), "closed").unwrap().1, Source::Tenant);
        assert_eq!(
            lib.get(Some("bella-2"), "transfer").unwrap().1,
            Source::Tenant
        );
    }

    #[test]
    fn a_tenant_without_a_directory_moves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::load(&dir.path().join("missing"));
        let moved = lib.follow_slug("a", "b", now()).unwrap();
        assert!(moved.archived().is_none());
        assert!(lib.archive("a", "1", now()).unwrap().archived().is_none());
    }
}
