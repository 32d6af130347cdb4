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
pub mod render;

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use render::{DocValues, scan, substitute_for_check};

use super::{Texml, validate};

/// The documents slotline serves, by name (`<name>.xml`).
pub const NAMES: [&str; 3] = ["closed", "fallback", "transfer"];

/// Directory of the defaults inside the documents directory.
pub const DEFAULT_DIR: &str = "_default";

/// How often the directory is polled for changes.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// The built-in defaults (the repository's `texml/_default/`).
const BUILT_IN: [(&str, &str); 3] = [
    ("closed", include_str!("../../texml/_default/closed.xml")),
    (
        "fallback",
        include_str!("../../texml/_default/fallback.xml"),
    ),
    (
        "transfer",
        include_str!("../../texml/_default/transfer.xml"),
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

/// A problem in a document file, printed `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// The file, as the operator knows it (`texml/bella-salon/fallback.xml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
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

/// 1-based (line, column) of byte offset `at`, counted as the validator counts.
fn line_col(doc: &str, at: usize) -> (usize, usize) {
    let (mut line, mut col, mut prev_cr) = (1, 1, false);
    for (i, c) in doc.char_indices() {
        if i >= at {
            break;
        }
        match c {
            '\n' if prev_cr => {}
            '\n' | '\r' => (line, col) = (line + 1, 1),
            _ => col += 1,
        }
        prev_cr = c == '\r';
    }
    (line, col)
}

/// Byte offset of 1-based (`line`, `column`) in `doc` (the inverse of [`line_col`]).
fn offset_of(doc: &str, line: usize, column: usize) -> usize {
    let (mut l, mut c, mut prev_cr) = (1, 1, false);
    for (i, ch) in doc.char_indices() {
        if l == line && c == column {
            return i;
        }
        match ch {
            '\n' if prev_cr => {}
            '\n' | '\r' => (l, c) = (l + 1, 1),
            _ => c += 1,
        }
        prev_cr = ch == '\r';
    }
    doc.len()
}

/// Checks one document: its name, its placeholders, and (with sample values in the
/// placeholders) the strict TeXML validator. Every problem names `file`, the line and
/// column in the document as written, and what to fix.
pub fn check_document(file: &str, name: &str, doc: &str) -> Result<(), Vec<FileProblem>> {
    let mut found: Vec<(usize, String)> = Vec::new();
    if !NAMES.contains(&name) {
        found.push((
            0,
            format!(
                "slotline uses no document named {name:?}; the documents are {}; rename or remove this file",
                NAMES.map(|n| format!("{n}.xml")).join(", ")
            ),
        ));
    }
    let (spans, problems) = scan(doc);
    found.extend(problems);
    let (checked, map) = substitute_for_check(doc, &spans, &DocValues::check_sample());
    if let Err(problems) = validate::validate(&checked) {
        for p in problems {
            // Map the position in the substituted text back to the document as written.
            let at = offset_of(&checked, p.line, p.column);
            let mut shift: isize = 0;
            let mut mapped = None;
            for &(doc_at, doc_len, sub_len) in &map {
                let sub_at = (doc_at as isize + shift) as usize;
                if at < sub_at {
                    break;
                }
                if at < sub_at + sub_len {
                    mapped = Some(doc_at);
                    break;
                }
                shift += sub_len as isize - doc_len as isize;
            }
            let doc_at = mapped.unwrap_or_else(|| (at as isize - shift).max(0) as usize);
            found.push((doc_at, p.message));
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort_by_key(|p| p.0);
    found.dedup();
    Err(found
        .into_iter()
        .map(|(at, message)| {
            let (line, column) = line_col(doc, at);
            FileProblem {
                file: file.to_string(),
                line,
                column,
                message,
            }
        })
        .collect())
}

/// Checks every `*.xml` under `dir` (`_default/` and each tenant directory), as
/// `slotline texml check` does; returns the number of files checked, or every problem.
pub fn check_dir(dir: &Path) -> Result<usize, Vec<FileProblem>> {
    let mut problems = Vec::new();
    let mut count = 0;
    let files = match list_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return Err(vec![FileProblem {
                file: dir.display().to_string(),
                line: 1,
                column: 1,
                message: format!("cannot read the directory: {e}"),
            }]);
        }
    };
    for (path, name) in files {
        count += 1;
        let file = path.display().to_string();
        match read_document(&path) {
            Ok(text) => {
                if let Err(p) = check_document(&file, &name, &text) {
                    problems.extend(p);
                }
            }
            Err(message) => problems.push(FileProblem {
                file,
                line: 1,
                column: 1,
                message,
            }),
        }
    }
    if problems.is_empty() {
        Ok(count)
    } else {
        Err(problems)
    }
}

fn read_document(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Every `*.xml` one level below `dir`'s subdirectories, with its document name. Other
/// files and directories whose names are not `[a-z0-9_-]+` are skipped.
fn list_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir)? {
        let sub = sub?;
        let sub_name = sub.file_name().to_string_lossy().into_owned();
        if !sub.file_type()?.is_dir() || !is_valid_name(&sub_name) {
            continue;
        }
        for file in std::fs::read_dir(sub.path())? {
            let file = file?;
            let fname = file.file_name().to_string_lossy().into_owned();
            let Some(name) = fname.strip_suffix(".xml") else {
                continue;
            };
            if file.file_type()?.is_file() && is_valid_name(name) {
                out.push((file.path(), name.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
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
}

impl Library {
    /// Loads every document under `dir` (a missing directory is a warning: the built-in
    /// defaults are served).
    pub fn load(dir: &Path) -> Self {
        let lib = Self {
            dir: dir.to_path_buf(),
            files: Arc::new(RwLock::new(BTreeMap::new())),
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
        if let Some((text, source)) = self.get(slug, name) {
            match render_checked(&text, values) {
                Ok(doc) => return Texml(doc),
                Err(e) => tracing::error!(
                    document = name,
                    tenant = slug.unwrap_or_default(),
                    source = source.as_str(),
                    "TeXML document does not render to valid TeXML with this tenant's values ({e}); serving the built-in default"
                ),
            }
        }
        built_in(name)
            .and_then(|t| render_checked(t, values).ok())
            .map(Texml)
            .unwrap_or_else(|| Texml::apology(None, ""))
    }

    /// Polls the directory every [`POLL_EVERY`] on the blocking pool, for as long as the
    /// runtime runs. Polling was chosen over a file-watching crate: no dependency, the same
    /// behaviour on every filesystem (including network and container mounts), and half a
    /// second is fast enough for an operator's edit.
    pub fn spawn_watcher(&self) {
        let lib = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let lib = lib.clone();
                if tokio::task::spawn_blocking(move || lib.scan())
                    .await
                    .is_err()
                {
                    tracing::error!("scanning the TeXML documents failed");
                }
            }
        });
    }
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
