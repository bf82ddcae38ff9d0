//! Helpers for collectors that walk many small sysfs attributes of many items (EDAC controllers,
//! thermal zones): read optional attributes while turning each failure into a `Fault` of its item,
//! and group numbered attribute files (`ch0_ce_count`, `trip_point_1_temp`) by their number.

use super::{CollectError, Fault};
use crate::host::root::Root;
use crate::parse::ParseError;

/// Reads optional attributes under a `Root` and collects the faults of one walk.
pub struct Attrs<'a> {
    root: &'a Root,
    hint: &'static str,
    /// Items that failed so far, in walk order.
    pub faults: Vec<Fault>,
}

impl<'a> Attrs<'a> {
    /// A walk over `root`; `hint` goes with any EACCES.
    pub fn new(root: &'a Root, hint: &'static str) -> Self {
        Self {
            root,
            hint,
            faults: Vec::new(),
        }
    }

    fn fault(&mut self, item: &str, error: CollectError) {
        self.faults.push(Fault {
            item: item.to_owned(),
            error,
        });
    }

    /// The parsed value of an optional attribute. A missing file is `None` (that driver does not
    /// have it); a failed read or parse is a fault of `item`, and `None`.
    pub fn value<T>(
        &mut self,
        rel: &str,
        item: &str,
        parse: impl FnOnce(&str) -> Result<T, ParseError>,
    ) -> Option<T> {
        let text = match self.root.read_optional(rel) {
            Ok(t) => t?,
            Err(e) => {
                let error = CollectError::from_read(e, self.hint);
                self.fault(item, error);
                return None;
            }
        };
        match parse(&text) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fault(item, CollectError::parse(rel, e));
                None
            }
        }
    }

    /// The trimmed text of an optional attribute.
    pub fn text(&mut self, rel: &str, item: &str) -> Option<String> {
        self.value(rel, item, |t| Ok(t.to_owned()))
    }

    /// Entries of an item's directory; a failure is a fault of `item` and `None`. Listing an
    /// item first means an item that is not a directory is one fault, not one per attribute.
    pub fn list(&mut self, rel: &str, item: &str) -> Option<Vec<String>> {
        match self.root.list(rel) {
            Ok(v) => Some(v),
            Err(e) => {
                let error = CollectError::from_read(e, self.hint);
                self.fault(item, error);
                None
            }
        }
    }
}

/// The decimal digits after `prefix` in `name`, when that is all that follows (`cpu12` → `12`);
/// the one rule behind the numbered sysfs names below.
fn digits_after<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
    let digits = name.strip_prefix(prefix)?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `name` is `prefix` followed by a decimal number (`mc0`, `csrow12`, `thermal_zone3`).
pub fn is_numbered(name: &str, prefix: &str) -> bool {
    digits_after(name, prefix).is_some()
}

/// `<prefix><N>` → N, for the numbered sysfs dirs (`cpu3`, `state3`, `policy3`); `None` for
/// other names and for numbers past `u32`.
pub fn parse_numbered(name: &str, prefix: &str) -> Option<u32> {
    digits_after(name, prefix)?.parse().ok()
}

/// Splits `<prefix><N>_<attr>` into `N` and `attr` (`"ch"`, `ch1_ce_count` → (1, `ce_count`)).
pub fn split_indexed<'n>(name: &'n str, prefix: &str) -> Option<(u32, &'n str)> {
    let (n, attr) = name.strip_prefix(prefix)?.split_once('_')?;
    Some((digits_after(n, "")?.parse().ok()?, attr))
}

/// The entries that `parse` recognises, grouped by their number in ascending order, each with the
/// entry name to read: `[(0, [(Ce, "ch0_ce_count"), (Label, "ch0_dimm_label")]), (1, ...)]`.
pub fn group_indexed<A>(
    names: Vec<String>,
    parse: impl Fn(&str) -> Option<(u32, A)>,
) -> Vec<(u32, Vec<(A, String)>)> {
    let mut found: Vec<(u32, A, String)> = names
        .into_iter()
        .filter_map(|name| parse(&name).map(|(n, a)| (n, a, name)))
        .collect();
    found.sort_by_key(|(n, _, _)| *n);
    let mut groups: Vec<(u32, Vec<(A, String)>)> = Vec::new();
    for (n, attr, name) in found {
        match groups.last_mut() {
            Some((last, attrs)) if *last == n => attrs.push((attr, name)),
            _ => groups.push((n, vec![(attr, name)])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_numbered_attributes_by_number() {
        let names = [
            "ch1_ce_count",
            "ce_count",
            "ch0_ue_count",
            "ch10_x",
            "ch1_dimm_label",
        ]
        .map(String::from)
        .to_vec();
        let groups = group_indexed(names, |n| {
            split_indexed(n, "ch").map(|(i, attr)| (i, attr.to_owned()))
        });
        assert_eq!(
            groups,
            [
                (0, vec![("ue_count".to_owned(), "ch0_ue_count".to_owned())]),
                (
                    1,
                    vec![
                        ("ce_count".to_owned(), "ch1_ce_count".to_owned()),
                        ("dimm_label".to_owned(), "ch1_dimm_label".to_owned())
                    ]
                ),
                (10, vec![("x".to_owned(), "ch10_x".to_owned())]),
            ]
        );
        assert_eq!(
            split_indexed("trip_point_2_hyst", "trip_point_"),
            Some((2, "hyst"))
        );
        for bad in ["ch_ce_count", "chx_ce_count", "ch0", "cooling"] {
            assert_eq!(split_indexed(bad, "ch"), None, "{bad}");
        }
        assert!(is_numbered("rank7", "rank"));
        assert!(!is_numbered("mc", "mc") && !is_numbered("mcx", "mc"));
        assert_eq!(parse_numbered("policy12", "policy"), Some(12));
        // Past u32: a name that is numbered but no number hostwatt can index by.
        assert!(is_numbered("cpu4294967296", "cpu"));
        assert_eq!(parse_numbered("cpu4294967296", "cpu"), None);
        for bad in ["cpu", "cpu-1", "cpu1a", "cpufreq"] {
            assert_eq!(parse_numbered(bad, "cpu"), None, "{bad}");
        }
    }

    #[test]
    fn missing_is_none_and_garbage_is_a_fault_of_its_item() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("n"), "x\n").unwrap();
        let root = Root::new(dir.path());
        let mut attrs = Attrs::new(&root, "hint");
        let parse = |t: &str| crate::parse::parse_u64("n", t);
        assert_eq!(attrs.value("missing", "a", parse), None);
        assert!(attrs.faults.is_empty());
        assert_eq!(attrs.value("n", "b", parse), None);
        assert_eq!(attrs.list("nodir", "c"), None);
        let faults: Vec<_> = attrs
            .faults
            .iter()
            .map(|f| {
                (
                    f.item.as_str(),
                    f.error.kind().as_str(),
                    f.error.to_string(),
                )
            })
            .collect();
        assert_eq!(
            faults,
            [
                (
                    "b",
                    "parse",
                    "n: n, line 1: not an unsigned integer: \"x\"".to_owned()
                ),
                (
                    "c",
                    "io",
                    "nodir: No such file or directory (os error 2)".to_owned()
                )
            ]
        );
    }
}
