//! Checking operator documents: the file name, the placeholders, and the strict TeXML
//! validator run over the document with sample values in its placeholders. Problems are
//! mapped back to the line and column of the document as the operator wrote it.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use super::{
    NAMES, is_valid_name,
    render::{DocValues, scan, substitute_for_check},
};
use crate::texml::validate;

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
    found.extend(super::reminder::problems(name, doc));
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

pub(super) fn read_document(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the file is not UTF-8 (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Every `*.xml` one level below `dir`'s subdirectories, with its document name. Other
/// files, directories whose names are not `[a-z0-9_-]+`, and the archive of old tenant
/// directories (`_archive/`) are skipped.
pub(super) fn list_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir)? {
        let sub = sub?;
        let sub_name = sub.file_name().to_string_lossy().into_owned();
        if !sub.file_type()?.is_dir()
            || !is_valid_name(&sub_name)
            || sub_name == super::owners::ARCHIVE_DIR
        {
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
