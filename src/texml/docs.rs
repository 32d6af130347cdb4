//! Operator-edited TeXML documents under `texml/` (`SLOTLINE_TEXML_DIR`):
//! `_default/<name>.xml` for every tenant and `<tenant-slug>/<name>.xml` overriding one
//! tenant's document of the same name. Built-in copies of the defaults are compiled in, so
//! a missing or broken directory never silences a line.
//!
//! Invariants: a document is served only after [`check_document`] accepted it (validator,
//! placeholders, file name); an edit that fails the check is logged with `file:line:col`
//! and the last good version of that file keeps being served ("last good wins"). Changes
//! are picked up by polling (see [`Library::spawn_watcher`]).

pub mod cards;
mod check;
pub mod owners;
pub mod reminder;
pub mod render;

pub use check::{FileProblem, check_dir, check_document};

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, SystemTime},
};

use check::{list_files, read_document};
use render::DocValues;

use super::{Texml, validate};

/// The documents slotline serves, by name (`<name>.xml`).
pub const NAMES: [&str; 5] = [
    "closed",
    "fallback",
    "transfer",
    "reminder_call",
    "reminder_voicemail",
];

/// Directory of the defaults inside the documents directory.
pub const DEFAULT_DIR: &str = "_default";

/// How often the directory is polled for changes.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// The built-in defaults (the repository's `texml/_default/`).
const BUILT_IN: [(&str, &str); 5] = [
    ("closed", include_str!("../../texml/_default/closed.xml")),
    (
        "fallback",
        include_str!("../../texml/_default/fallback.xml"),
    ),
    (
        "transfer",
        include_str!("../../texml/_default/transfer.xml"),
    ),
    (
        "reminder_call",
        include_str!("../../texml/_default/reminder_call.xml"),
    ),
    (
        "reminder_voicemail",
        include_str!("../../texml/_default/reminder_voicemail.xml"),
    ),
];

/// Where a served document comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `_default/<name>.xml`, or the built-in copy.
    Default,
    /// The tenant's own `<slug>/<name>.xml`.
    Tenant,
}

impl Source {
    /// `"default"` or `"tenant"`, as the admin API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::Tenant => "tenant",
        }
    }
}

/// True for a document or directory name slotline accepts: `[a-z0-9_-]+`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What was seen of one file at the last scan.
#[derive(Debug, Clone)]
struct Entry {
    /// (modification time, length) when last read; a change triggers a re-read.
    stamp: (SystemTime, u64),
    /// The last version that passed the check, if any.
    good: Option<Arc<str>>,
}

/// Loaded documents, keyed by (directory, name): directory `_default` or a tenant slug.
type Files = BTreeMap<(String, String), Entry>;

/// The documents directory, loaded and kept current; cheap to clone.
#[derive(Clone)]
pub struct Library {
    dir: PathBuf,
    files: Arc<RwLock<Files>>,
    /// Held by a scan and by a directory move (see [`owners`]), so neither sees the other
    /// half-done.
    scan_lock: Arc<Mutex<()>>,
}

impl Library {
    /// Loads every document under `dir` (a missing directory is a warning: the built-in
    /// defaults are served).
    pub fn load(dir: &Path) -> Self {
        let lib = Self {
            dir: dir.to_path_buf(),
            files: Arc::new(RwLock::new(BTreeMap::new())),
            scan_lock: Arc::new(Mutex::new(())),
        };
        if !dir.is_dir() {
            tracing::warn!(dir = %dir.display(), "the TeXML documents directory does not exist; serving the built-in defaults (set SLOTLINE_TEXML_DIR)");
        }
        lib.scan();
        lib
    }

    /// The documents directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `name` for `owner` (a slug, or `_default`).
    pub fn path_of(&self, owner: &str, name: &str) -> PathBuf {
        self.dir.join(owner).join(format!("{name}.xml"))
    }

    /// Re-reads files whose modification time or length changed since the last scan.
    /// A file that fails the check is logged and its last good version kept.
    pub fn scan(&self) {
        let _scan = self.scan_lock.lock();
        let listed = list_files(&self.dir).unwrap_or_default();
        let before = self.files.read().map(|f| f.clone()).unwrap_or_default();
        let mut after = Files::new();
        for (path, name) in listed {
            let Some(owner) = path
                .parent()
                .and_then(Path::file_name)
                .map(|o| o.to_string_lossy().into_owned())
            else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let stamp = (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            let key = (owner, name);
            let previous = before.get(&key);
            if let Some(prev) = previous
                && prev.stamp == stamp
            {
                after.insert(key, prev.clone());
                continue;
            }
            let good = previous.and_then(|p| p.good.clone());
            let entry = Entry {
                stamp,
                good: self.read_checked(&path, &key.1, good),
            };
            after.insert(key, entry);
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            tracing::info!(file = %self.path_of(&key.0, &key.1).display(), "TeXML document removed; the default applies");
        }
        if let Ok(mut files) = self.files.write() {
            *files = after;
        }
    }

    /// Reads and checks `path`; returns the new text if it is good, else logs every
    /// problem and returns `last_good`.
    fn read_checked(
        &self,
        path: &Path,
        name: &str,
        last_good: Option<Arc<str>>,
    ) -> Option<Arc<str>> {
        let file = path.display().to_string();
        let result = read_document(path).map_err(|message| {
            vec![FileProblem {
                file: file.clone(),
                line: 1,
                column: 1,
                message,
            }]
        });
        match result.and_then(|text| check_document(&file, name, &text).map(|()| text)) {
            Ok(text) => {
                tracing::info!(file = %file, "TeXML document loaded");
                Some(Arc::from(text))
            }
            Err(problems) => {
                let keeping = if last_good.is_some() {
                    "the last good version keeps being served"
                } else {
                    "the default keeps being served"
                };
                for p in &problems {
                    tracing::error!("{p} (edit refused; {keeping})");
                }
                last_good
            }
        }
    }

    /// Re-reads one file now, whatever its stamp (after the admin API wrote it).
    pub fn reload(&self, owner: &str, name: &str) {
        let path = self.path_of(owner, name);
        let key = (owner.to_string(), name.to_string());
        let Ok(meta) = std::fs::metadata(&path) else {
            return;
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        let last = self
            .files
            .read()
            .ok()
            .and_then(|f| f.get(&key).and_then(|e| e.good.clone()));
        let good = self.read_checked(&path, name, last);
        if let Ok(mut files) = self.files.write() {
            files.insert(key, Entry { stamp, good });
        }
    }

    /// Writes `text` (already checked) as `owner`'s document `name` atomically — a temp
    /// file in the same directory, flushed, then renamed over the old one, so a reader
    /// never sees half a file — and reloads it. Returns the file it replaced, if any, with
    /// its modification time in Unix seconds. Blocking: call on the blocking pool.
    pub fn save(
        &self,
        owner: &str,
        name: &str,
        text: &str,
    ) -> std::io::Result<Option<(String, i64)>> {
        use std::io::Write;
        let dir = self.dir.join(owner);
        std::fs::create_dir_all(&dir)?;
        let path = self.path_of(owner, name);
        let previous = match std::fs::read_to_string(&path) {
            Ok(old) => {
                let modified = std::fs::metadata(&path)?
                    .modified()
                    .ok()
                    .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs() as i64);
                Some((old, modified))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        // Not `*.xml`, so a scan never picks up a half-written temp file.
        let tmp = dir.join(format!(".{name}.xml.{:016x}.tmp", rand::random::<u64>()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written?;
        self.reload(owner, name);
        Ok(previous)
    }

    /// The document `name` for tenant `slug` (`None`: the default), and where it comes from.
    pub fn get(&self, slug: Option<&str>, name: &str) -> Option<(Arc<str>, Source)> {
        let files = self.files.read().ok()?;
        let own = slug.and_then(|s| files.get(&(s.to_string(), name.to_string())));
        if let Some(text) = own.and_then(|e| e.good.clone()) {
            return Some((text, Source::Tenant));
        }
        let default = files.get(&(DEFAULT_DIR.to_string(), name.to_string()));
        if let Some(text) = default.and_then(|e| e.good.clone()) {
            return Some((text, Source::Default));
        }
        built_in(name).map(|t| (Arc::from(t), Source::Default))
    }

    /// Renders document `name` for tenant `slug` with `values` and checks the result; if
    /// the operator's document does not render to valid TeXML with these values, the
    /// built-in default is served instead (and the problem logged), then the apology.
    pub fn serve(&self, slug: Option<&str>, name: &str, values: &DocValues) -> Texml {
        self.serve_used(slug, name, values).0
    }

    /// [`serve`](Self::serve), and which document text it was served from, as
    /// [`used`] names it (the calls page matches it to a saved version).
    pub fn serve_used(
        &self,
        slug: Option<&str>,
        name: &str,
        values: &DocValues,
    ) -> (Texml, String) {
        if let Some((text, source)) = self.get(slug, name) {
            match render_checked(&text, values) {
                Ok(doc) => return (Texml(doc), used(name, source.as_str(), &text)),
                Err(e) => tracing::error!(
                    document = name,
                    tenant = slug.unwrap_or_default(),
                    source = source.as_str(),
                    "TeXML document does not render to valid TeXML with this tenant's values ({e}); serving the built-in default"
                ),
            }
        }
        let built_in = built_in(name).unwrap_or_default();
        let doc = render_checked(built_in, values)
            .map(Texml)
            .unwrap_or_else(|_| Texml::apology(None, ""));
        (doc, used(name, "built-in", built_in))
    }

    /// Polls the directory every [`POLL_EVERY`] on the blocking pool, for as long as the
    /// runtime runs. Polling was chosen over a file-watching crate: no dependency, the same
    /// behaviour on every filesystem (including network and container mounts), and half a
    /// second is fast enough for an operator's edit. Beats `beat` after every poll.
    pub fn spawn_watcher(&self, beat: crate::heartbeat::Beat) -> tokio::task::JoinHandle<()> {
        let lib = self.clone();
        crate::supervise::spawn("document watcher", move || {
            let (lib, beat) = (lib.clone(), beat.clone());
            async move {
                let mut tick = tokio::time::interval(POLL_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    beat.beat();
                    let lib = lib.clone();
                    if tokio::task::spawn_blocking(move || lib.scan())
                        .await
                        .is_err()
                    {
                        tracing::error!("scanning the TeXML documents failed");
                    }
                }
            }
        })
    }
}

/// A document as served, for the record of a call: `name:source:fingerprint`, source
/// `tenant`, `default` or `built-in`.
pub fn used(name: &str, source: &str, text: &str) -> String {
    format!("{name}:{source}:{}", fingerprint(text))
}

/// A stable fingerprint of a document's text: FNV-1a 64 in 16 hex digits (the same in every
/// build, unlike the standard library's hasher).
pub fn fingerprint(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// The compiled-in default document `name`.
pub fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Renders `doc` with `values` and validates the result.
pub fn render_checked(doc: &str, values: &DocValues) -> Result<String, String> {
    let out = render::render(doc, values)?;
    validate::validate(&out).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_defaults_pass_the_check() {
        for (name, text) in BUILT_IN {
            check_document(&format!("{name}.xml"), name, text).unwrap();
            render_checked(text, &DocValues::check_sample()).unwrap();
        }
    }

    #[test]
    fn problems_point_at_the_document_as_written() {
        let doc = "<Response>\n  <Say voice=\"{voice}\">{business}</Say><Dial><Number>{business}</Number></Dial>\n</Response>";
        let problems = check_document("x/transfer.xml", "transfer", doc).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        let col = doc.lines().nth(1).unwrap().find("<Number>").unwrap() + 1 + "<Number>".len();
        assert_eq!((p.line, p.column), (2, col), "{p}");
        assert!(p.to_string().starts_with("x/transfer.xml:2:"), "{p}");
    }

    #[test]
    fn names_are_restricted() {
        assert!(is_valid_name("fallback"));
        assert!(is_valid_name("bella-salon_2"));
        for bad in ["", "../etc", "a/b", "A", "x.xml", "é"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
