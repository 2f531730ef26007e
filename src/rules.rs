//! The grammar of profiles: rule sets as users write them, checked once, here.
//!
//! A [`RuleSet`] holds rules in the order they were given, each with its pattern as written,
//! its parsed [`Pattern`] and its action [`Code`]. Two spellings of one pattern are one rule
//! (the canonical spelling is the key). Everything a profile can get wrong is found here and
//! named by where it was written (a file's line, a JSON path, an XML element): malformed
//! patterns, unknown action codes, duplicate rules, equally specific wildcard patterns that
//! overlap with different actions. The loaders of the Python layer only read the syntax of
//! their format (CSV, JSON, XML) and pass rows with their locations.
//!
//! Options: a row of the option form (the eleven columns of Table E.1-1) gives its
//! `basic_profile` action, replaced by each selected option column with a value, in bit order
//! (a higher bit wins), as [`TableRow::action`] does for the shipped table. A rule set knows
//! the options it is the default table of ([`RuleSet::options`]), which decides the
//! de-identification markers it writes.

use std::collections::HashMap;
use std::sync::OnceLock;

use dicom_core::{Tag, VR};

use crate::error::{Error, Result};
use crate::profile::{
    quote, table_e1_1, Action, Code, CompiledProfile, MethodCode, Pattern, TableRow, EDITION,
};

/// One rule: a tag pattern (as written and parsed) and its action code.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The pattern as the user wrote it (trimmed).
    pub written: String,
    pub pattern: Pattern,
    pub code: Code,
}

/// The two forms of a profile file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A pattern and an action per row (Aspose's `TagPattern;Action`).
    Rules,
    /// A pattern and the eleven action columns of Table E.1-1.
    Options,
}

/// A cell of a row: its text and where it is (for errors).
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: String,
    pub location: String,
}

/// A row of a profile, as its file's syntax gives it.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub pattern: String,
    /// Where the pattern is, e.g. `line 4` or `[3].Tag`.
    pub pattern_location: String,
    /// Where the row is.
    pub location: String,
    /// The rule form: one cell (the action). The option form: eleven, in bit order (an absent
    /// column is an empty cell).
    pub cells: Vec<Cell>,
}

/// Codes of CID 7050 (De-identification Method) for (0012,0064), in the bit order of the
/// options: the Basic profile, then each option.
pub const METHOD_CODES: [(&str, &str); 11] = [
    ("113100", "Basic Application Confidentiality Profile"),
    ("113111", "Retain Safe Private Option"),
    ("113110", "Retain UIDs Option"),
    ("113109", "Retain Device Identity Option"),
    ("113112", "Retain Institution Identity Option"),
    ("113108", "Retain Patient Characteristics Option"),
    (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    ("113105", "Clean Descriptors Option"),
    ("113104", "Clean Structured Content Option"),
    ("113103", "Clean Graphics Option"),
];

/// Every option bit, `BASIC_PROFILE` included.
pub const ALL_OPTIONS: u32 = 0x7FF;
const FULL_DATES: u32 = 1 << 6;
const MODIFIED_DATES: u32 = 1 << 7;

/// Rules in the order given, one per pattern.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    index: HashMap<Pattern, usize>,
    /// The options this set is the default table of, once known.
    options: OnceLock<Option<u32>>,
}

impl Clone for RuleSet {
    fn clone(&self) -> Self {
        let options = OnceLock::new();
        if let Some(&known) = self.options.get() {
            let _ = options.set(known);
        }
        RuleSet {
            rules: self.rules.clone(),
            index: self.index.clone(),
            options,
        }
    }
}

/// A tag both of two equally specific wildcard patterns match, or None.
fn overlap(a: &Pattern, b: &Pattern) -> Option<(u16, u16)> {
    match (a, b) {
        (
            Pattern::Masked {
                mask: m1,
                value: v1,
            },
            Pattern::Masked {
                mask: m2,
                value: v2,
            },
        ) if m1.count_ones() == m2.count_ones() && (v1 ^ v2) & m1 & m2 == 0 => {
            let tag = v1 | v2;
            Some(((tag >> 16) as u16, tag as u16))
        }
        _ => None,
    }
}

impl RuleSet {
    /// No rules.
    pub fn new() -> RuleSet {
        RuleSet::default()
    }

    /// PS3.15 Table E.1-1 with `options` (flags as in `ConfidentialityProfileOptions`;
    /// `BASIC_PROFILE` is implied).
    pub fn default_table(options: u32) -> RuleSet {
        let options = (options & ALL_OPTIONS) | 1;
        let mut set = RuleSet::new();
        for row in table_e1_1() {
            let pattern = Pattern::parse(&row.tag).expect("the shipped table parses (tested)");
            let code = Code::parse(row.action(options)).expect("the shipped table's codes");
            set.push(row.tag.clone(), pattern, code);
        }
        set.options = OnceLock::from(Some(options));
        set
    }

    /// Build a rule set from the rows of a profile file, refusing anything wrong and naming
    /// where it is: `source: location: problem`. `options` selects the option columns of
    /// the option form (`BASIC_PROFILE` is implied); the rule form has none.
    pub fn from_rows(rows: &[Row], form: Form, options: u32, source: &str) -> Result<RuleSet> {
        let options = (options & ALL_OPTIONS) | 1;
        let fail = |location: &str, problem: String| Error::Profile {
            source_name: source.to_string(),
            location: location.to_string(),
            problem,
        };
        let mut set = RuleSet::new();
        // where each rule's pattern was written, by the rule's position
        let mut locations: Vec<&str> = Vec::new();
        // every pattern given, rules with no action included, for duplicates
        let mut seen: HashMap<Pattern, (&str, &str)> = HashMap::new();
        for row in rows {
            let written = row.pattern.trim();
            let pattern = Pattern::parse(written).map_err(|p| fail(&row.pattern_location, p))?;
            if let Some((first, first_location)) = seen.get(&pattern) {
                let same = if *first == row.pattern {
                    "is given again".to_string()
                } else {
                    format!("is the same as {}", quote(first))
                };
                return Err(fail(
                    &row.pattern_location,
                    format!(
                        "duplicate rule: {} {same} ({first_location})",
                        quote(&row.pattern)
                    ),
                ));
            }
            seen.insert(pattern.clone(), (&row.pattern, &row.location));
            let parse =
                |cell: &Cell| Code::parse_checked(&cell.text).map_err(|p| fail(&cell.location, p));
            let code = match form {
                Form::Rules => {
                    let cell = row.cells.first().cloned().unwrap_or_default();
                    if cell.text.trim().is_empty() {
                        let location = if cell.location.is_empty() {
                            &row.location
                        } else {
                            &cell.location
                        };
                        return Err(fail(
                            location,
                            format!("no action for {}", quote(&row.pattern)),
                        ));
                    }
                    Some(parse(&cell)?)
                }
                Form::Options => {
                    let mut code = None;
                    for (bit, cell) in row.cells.iter().enumerate().take(11) {
                        if cell.text.trim().is_empty() {
                            continue;
                        }
                        // a bad letter is refused even in a column not selected
                        let cell_code = parse(cell)?;
                        if bit == 0 || options & (1 << bit) != 0 {
                            code = Some(cell_code);
                        }
                    }
                    code
                }
            };
            if let Some(code) = code {
                check_literal(&pattern, code).map_err(|p| fail(&row.location, p))?;
                set.push(written.to_string(), pattern, code);
                locations.push(&row.pattern_location);
            }
        }
        if let Some((a, b, tag)) = set.find_ambiguity() {
            let (first, second) = (&set.rules[a], &set.rules[b]);
            return Err(fail(
                locations[b],
                format!(
                    "{} is ambiguous with {} ({}): both match ({:04x},{:04x}), are equally \
                     specific and have different actions",
                    quote(&second.written),
                    quote(&first.written),
                    locations[a],
                    tag.0,
                    tag.1
                ),
            ));
        }
        if form == Form::Options && set.is_default_table(options) {
            set.options = OnceLock::from(Some(options));
        }
        Ok(set)
    }

    fn push(&mut self, written: String, pattern: Pattern, code: Code) {
        self.index.insert(pattern.clone(), self.rules.len());
        self.rules.push(Rule {
            written,
            pattern,
            code,
        });
    }

    /// Two equally specific wildcard patterns that overlap with different actions: their
    /// positions (in order) and a tag both match.
    fn find_ambiguity(&self) -> Option<(usize, usize, (u16, u16))> {
        let masked: Vec<usize> = (0..self.rules.len())
            .filter(|&i| matches!(self.rules[i].pattern, Pattern::Masked { .. }))
            .collect();
        for (n, &a) in masked.iter().enumerate() {
            for &b in &masked[n + 1..] {
                let (ra, rb) = (&self.rules[a], &self.rules[b]);
                if ra.code != rb.code {
                    if let Some(tag) = overlap(&ra.pattern, &rb.pattern) {
                        return Some((a, b, tag));
                    }
                }
            }
        }
        None
    }

    /// Set the rule for a pattern (the mapping's `profile[pattern] = code`): a new pattern is
    /// added at the end, a pattern already there (in any spelling) gets the new code and
    /// spelling in its place. Errors say what is wrong, without a location.
    pub fn set(&mut self, written: &str, code: &str) -> std::result::Result<(), String> {
        let written = written.trim();
        let pattern = Pattern::parse(written)?;
        let code = Code::parse_checked(code)?;
        check_literal(&pattern, code)?;
        if let Some(&i) = self.index.get(&pattern) {
            let rule = &mut self.rules[i];
            let same = rule.code == code;
            rule.written = written.to_string();
            rule.code = code;
            if !same {
                self.options = OnceLock::new();
            }
            return Ok(());
        }
        for other in &self.rules {
            if other.code != code {
                if let Some(tag) = overlap(&pattern, &other.pattern) {
                    return Err(format!(
                        "ambiguous with {}: both match ({:04x},{:04x}), are equally specific \
                         and have different actions",
                        quote(&other.written),
                        tag.0,
                        tag.1
                    ));
                }
            }
        }
        self.push(written.to_string(), pattern, code);
        self.options = OnceLock::new();
        Ok(())
    }

    /// The rule for a pattern in any spelling; None when there is none or the text is no
    /// pattern.
    pub fn get(&self, written: &str) -> Option<&Rule> {
        let pattern = Pattern::parse(written).ok()?;
        self.index.get(&pattern).map(|&i| &self.rules[i])
    }

    /// Remove the rule for a pattern; true when there was one.
    pub fn remove(&mut self, written: &str) -> bool {
        let Ok(pattern) = Pattern::parse(written) else {
            return false;
        };
        let Some(i) = self.index.remove(&pattern) else {
            return false;
        };
        self.rules.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        self.options = OnceLock::new();
        true
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The same rules (patterns compared by meaning, order and spelling ignored).
    pub fn same_rules(&self, other: &RuleSet) -> bool {
        self.len() == other.len()
            && self
                .rules
                .iter()
                .all(|r| other.index.get(&r.pattern).map(|&i| other.rules[i].code) == Some(r.code))
    }

    /// Are these exactly the rules of the default table with `options`?
    fn is_default_table(&self, options: u32) -> bool {
        let table = table_e1_1();
        self.len() == table.len()
            && table.iter().all(|row| {
                let pattern = Pattern::parse(&row.tag).expect("the shipped table parses");
                self.index.get(&pattern).map(|&i| self.rules[i].code)
                    == Code::parse(row.action(options))
            })
    }

    /// The options whose default table these rules are exactly (with `BASIC_PROFILE`), or
    /// None for a custom profile. When several option sets give the same rules (Retain
    /// Longitudinal Modified Dates overrides every row of Full Dates), the smallest: only
    /// options whose effect is there.
    pub fn options(&self) -> Option<u32> {
        *self.options.get_or_init(|| self.detect_options())
    }

    fn detect_options(&self) -> Option<u32> {
        let table = table_e1_1();
        if self.len() != table.len() {
            return None;
        }
        // per row of the table: the code these rules give it, and the table's cells
        let mut rows: Vec<(Code, [Option<Code>; 11])> = Vec::with_capacity(table.len());
        for row in table {
            let pattern = Pattern::parse(&row.tag).expect("the shipped table parses");
            let &i = self.index.get(&pattern)?;
            rows.push((self.rules[i].code, cells(row)));
        }
        // rows decided by a chosen bit >= lowest must match; the others must stay reachable
        let fits = |chosen: u32, lowest: usize| {
            rows.iter().all(|(seen, cells)| {
                let top = (lowest..11)
                    .rev()
                    .find(|&b| chosen >> b & 1 == 1 && cells[b].is_some());
                match top {
                    Some(b) => cells[b] == Some(*seen),
                    None => cells[0] == Some(*seen) || cells[1..lowest].contains(&Some(*seen)),
                }
            })
        };
        fn search(bit: usize, chosen: u32, fits: &dyn Fn(u32, usize) -> bool) -> Option<u32> {
            if bit == 0 {
                return fits(chosen, 1).then_some(chosen);
            }
            for c in [chosen, chosen | 1 << bit] {
                if fits(c, bit) {
                    if let Some(found) = search(bit - 1, c, fits) {
                        return Some(found);
                    }
                }
            }
            None
        }
        search(10, 1, &fits)
    }

    /// (0012,0063) De-identification Method values and (0012,0064) codes for these rules:
    /// the Basic profile and the options in effect, or "custom profile".
    pub fn method(&self) -> (Vec<String>, Vec<MethodCode>) {
        let version = format!("dicomveil {}", env!("CARGO_PKG_VERSION"));
        let Some(mut options) = self.options() else {
            return (vec![version, "custom profile".into()], Vec::new());
        };
        if options & MODIFIED_DATES != 0 {
            // the two date options are alternatives: with both, dates are modified on every
            // row, so a file claiming full dates too would contradict its own (0028,0303)
            options &= !FULL_DATES;
        }
        let codes = method_codes(options);
        let mut method = vec![version, format!("PS3.15 {EDITION} Basic Profile")];
        method.extend(codes.iter().skip(1).map(|c| c.meaning.clone()));
        (method, codes)
    }

    /// Compile for lookup, with the markers of [`RuleSet::method`], or for a custom profile,
    /// of what [`RuleSet::assess`] finds: a custom profile at least as strong as the Basic
    /// profile (with the options its weaker rules need) is marked as such, one weaker than
    /// that says `NO` in (0012,0062).
    pub fn compile(&self) -> CompiledProfile {
        self.compile_for(crate::profile::Unlisted::default())
    }

    /// [`RuleSet::compile`] for a treatment of the attributes no rule names: with
    /// [`crate::profile::Unlisted::Remove`] they count as removed when the profile is
    /// compared with the Basic profile.
    pub fn compile_for(&self, unlisted: crate::profile::Unlisted) -> CompiledProfile {
        if self.options().is_some() && unlisted != crate::profile::Unlisted::Remove {
            let (method, codes) = self.method();
            let mut profile = CompiledProfile::from_rules(self, method, codes);
            profile.unlisted = unlisted;
            return profile;
        }
        let mut profile = CompiledProfile::from_rules(self, Vec::new(), Vec::new());
        profile.unlisted = unlisted;
        let assessment = self.assess(&profile);
        let version = format!("dicomveil {}", env!("CARGO_PKG_VERSION"));
        if assessment.weaker.is_empty() {
            let codes = method_codes(assessment.options);
            let mut method = vec![
                version,
                format!("custom profile, at least PS3.15 {EDITION} Basic Profile"),
            ];
            method.extend(codes.iter().skip(1).map(|c| c.meaning.clone()));
            profile.method = method;
            profile.codes = codes;
        } else {
            profile.method = vec![version, "custom profile".into()];
            profile.identity_removed = false;
        }
        profile.weaker = assessment.weaker;
        profile
    }

    /// How these rules compare with PS3.15's Basic profile, attribute by attribute of Table
    /// E.1-1 (every row; a pattern row through every rule that decides a tag it covers): an
    /// attribute the rules treat more weakly than the Basic profile (see [`strength`]) is
    /// allowed when an option of the table treats it at least as weakly (the option is then
    /// needed, and named in the markers), and is a [`Weaker`] otherwise.
    pub fn assess(&self, compiled: &CompiledProfile) -> Assessment {
        let mut options = 1u32;
        let mut weaker = Vec::new();
        for row in table_e1_1() {
            let cells = cells(row);
            let Some(basic) = cells[0] else { continue };
            let Ok(pattern) = Pattern::parse(&row.tag) else {
                continue;
            };
            let got = self.weakest_for(&pattern, compiled);
            if strength(got) >= strength(Some(basic)) {
                continue;
            }
            // the option closest to what the rules do: the strongest that still allows it
            // (a C on a date is Modified Dates, not Full Dates); at equal strength, the first
            let option = (1..11)
                .filter(|&b| cells[b].is_some_and(|c| strength(Some(c)) <= strength(got)))
                .min_by_key(|&b| std::cmp::Reverse(strength(cells[b])));
            match option {
                Some(bit) => options |= 1 << bit,
                None => weaker.push(Weaker {
                    pattern: pattern.canonical(),
                    keyword: row.keyword.clone(),
                    code: got,
                    basic,
                }),
            }
        }
        if options & MODIFIED_DATES != 0 {
            options &= !FULL_DATES;
        }
        Assessment { options, weaker }
    }

    /// The weakest code these rules give a tag that `pattern` (a row of Table E.1-1) covers:
    /// `None` when some such tag is named by no rule (kept).
    fn weakest_for(&self, pattern: &Pattern, compiled: &CompiledProfile) -> Option<Code> {
        let weakest = |codes: &mut dyn Iterator<Item = Option<Code>>| {
            codes.min_by_key(|c| strength(*c)).flatten()
        };
        // what no rule names: removed when the profile removes the unlisted attributes
        let removed = |tag: Tag| {
            (compiled.unlisted == crate::profile::Unlisted::Remove
                && compiled.unlisted_action(tag, VR::UN, None, false) == Some(Action::Remove))
            .then_some(Code::X)
        };
        let unnamed = |code: Option<Code>, tag: Tag| code.or_else(|| removed(tag));
        match pattern {
            Pattern::Exact(tag) => unnamed(compiled.decide_code(*tag, None), *tag),
            Pattern::Masked { mask, value } => {
                // the tag of the row's own value decides most; a rule more specific inside
                // the row (an exact tag, a narrower pattern) decides the rest
                let first = Tag((value >> 16) as u16, *value as u16);
                let inside = self.rules.iter().filter_map(|r| match r.pattern {
                    Pattern::Exact(t) if key(t) & mask == *value => Some(Some(r.code)),
                    Pattern::Masked { mask: m, value: v }
                        if m & mask == *mask && v & mask == *value =>
                    {
                        Some(Some(r.code))
                    }
                    _ => None,
                });
                weakest(
                    &mut std::iter::once(unnamed(compiled.decide_code(first, None), first))
                        .chain(inside),
                )
            }
            Pattern::AllPrivate => {
                let all = self
                    .rules
                    .iter()
                    .find(|r| r.pattern == Pattern::AllPrivate)
                    .map(|r| r.code)
                    .or_else(|| removed(Tag(0x0009, 0x1010)));
                let private = self.rules.iter().filter_map(|r| match r.pattern {
                    Pattern::Exact(t) if t.0 % 2 == 1 => Some(Some(r.code)),
                    Pattern::Private { .. } => Some(Some(r.code)),
                    Pattern::Masked { mask, value } if mask & value & 0x1_0000 != 0 => {
                        Some(Some(r.code))
                    }
                    _ => None,
                });
                weakest(&mut std::iter::once(all).chain(private))
            }
            Pattern::Private { .. } => None,
        }
    }
}

/// How much of an attribute an action code lets through, from 0 (all: K, or no rule) to 3
/// (nothing of the original: X, Z, D and the compound codes, which resolve to one of them).
/// C keeps what identifies no one (1); U and X/Z/U* replace UIDs by keyed ones, keeping
/// which instances are the same (2).
pub fn strength(code: Option<Code>) -> u8 {
    match code {
        None | Some(Code::K) => 0,
        Some(Code::C) => 1,
        Some(Code::U | Code::XZU) => 2,
        Some(Code::X | Code::Z | Code::D | Code::XZ | Code::XD | Code::XZD | Code::ZD) => 3,
        Some(Code::Expr(id)) => crate::script::get(id).strength(),
    }
}

/// An attribute of Table E.1-1 that a profile treats more weakly than the Basic profile and
/// every option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weaker {
    /// The row's pattern (canonical).
    pub pattern: String,
    /// Its keyword in the table ("" for a pattern row).
    pub keyword: String,
    /// What the profile does (`None`: kept, no rule).
    pub code: Option<Code>,
    /// What the Basic profile does.
    pub basic: Code,
}

/// What [`RuleSet::assess`] finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// `BASIC_PROFILE` and the options the rules need to be within the table.
    pub options: u32,
    /// The attributes treated more weakly than any option allows.
    pub weaker: Vec<Weaker>,
}

/// A value action that sets a literal value on one attribute: the value must fit the
/// attribute's VR (from the dictionary), or the rule is refused where it is written.
fn check_literal(pattern: &Pattern, code: Code) -> std::result::Result<(), String> {
    let (Pattern::Exact(tag), Code::Expr(id)) = (pattern, code) else {
        return Ok(());
    };
    let Some(literal) = crate::script::get(id).literal() else {
        return Ok(());
    };
    let Some(vr) = crate::dataset::dictionary_vr(*tag) else {
        return Ok(());
    };
    crate::script::check_vr(vr, literal.trim()).map_err(|p| {
        let shown: String = literal.chars().take(32).collect();
        format!(
            "{} sets {p} for ({:04x},{:04x}), of VR {vr:?}",
            quote(&shown),
            tag.0,
            tag.1
        )
    })
}

fn key(tag: Tag) -> u32 {
    (u32::from(tag.0) << 16) | u32::from(tag.1)
}

/// The CID 7050 codes of a set of options.
fn method_codes(options: u32) -> Vec<MethodCode> {
    METHOD_CODES
        .iter()
        .enumerate()
        .filter(|(bit, _)| options >> bit & 1 == 1)
        .map(|(_, (value, meaning))| MethodCode {
            value: value.to_string(),
            meaning: meaning.to_string(),
        })
        .collect()
}

/// A table row's eleven cells as codes.
fn cells(row: &TableRow) -> [Option<Code>; 11] {
    std::array::from_fn(|i| Code::parse(&row.actions[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rules: &[(&str, &str)]) -> Vec<Row> {
        rules
            .iter()
            .enumerate()
            .map(|(i, (p, a))| Row {
                pattern: p.to_string(),
                pattern_location: format!("line {}", i + 2),
                location: format!("line {}", i + 2),
                cells: vec![Cell {
                    text: a.to_string(),
                    location: format!("line {}", i + 2),
                }],
            })
            .collect()
    }

    fn load(rules: &[(&str, &str)]) -> Result<RuleSet> {
        RuleSet::from_rows(&rows(rules), Form::Rules, 1, "p.csv")
    }

    #[test]
    fn codes_parse_and_spell() {
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(code));
        }
        assert_eq!(Code::parse(" x / z / u "), Some(Code::XZU));
        assert_eq!(Code::parse("z/d"), Some(Code::ZD));
        assert_eq!(Code::parse("Q"), None);
        assert_eq!(
            Code::unknown("Q"),
            "unknown action 'Q' (expected X, Z, D, K, C, U or a compound code: X/Z, X/D, \
             X/Z/D, Z/D, X/Z/U*)"
        );
    }

    #[test]
    fn quote_reads_like_python_repr() {
        assert_eq!(quote("a"), "'a'");
        assert_eq!(quote("it's"), "\"it's\"");
        assert_eq!(quote("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(quote("'\""), "'\\'\"'");
    }

    #[test]
    fn errors_name_the_row() {
        let e = load(&[("0010,0010", "Z"), ("PatientName", "X")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.csv: line 3: duplicate rule: 'PatientName' is the same as '0010,0010' (line 2)"
        );
        let e = load(&[("0010,0010", "Z"), ("0010,0010", "X")]).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("'0010,0010' is given again (line 2)"),
            "{e}"
        );
        let e = load(&[("0010,0010", "Q")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("p.csv: line 2: unknown action 'Q'"),
            "{e}"
        );
        let e = load(&[("0010,0010", " ")]).unwrap_err();
        assert_eq!(e.to_string(), "p.csv: line 2: no action for '0010,0010'");
        let e = load(&[("0010,001", "X")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.csv: line 2: malformed tag pattern '0010,001'"
        );
        let e = load(&[("0009,xx10", "Z"), ("0009,10xx", "K")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.csv: line 3: '0009,10xx' is ambiguous with '0009,xx10' (line 2): both match \
             (0009,1010), are equally specific and have different actions"
        );
        // same action, or different specificity: no ambiguity
        load(&[("0009,xx10", "Z"), ("0009,10xx", "Z")]).unwrap();
        load(&[("0009,xx10", "Z"), ("0009,1xxx", "K"), ("00x9,1010", "X")]).unwrap();
    }

    #[test]
    fn the_mapping_replaces_and_refuses_ambiguity() {
        let mut set = RuleSet::new();
        set.set("0010,0010", "Z").unwrap();
        set.set("PatientName", "K").unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.rules()[0].written, "PatientName");
        assert_eq!(set.get("(0010,0010)").unwrap().code, Code::K);
        set.set("0009,xx10", "Z").unwrap();
        let e = set.set("0009,10xx", "K").unwrap_err();
        assert!(
            e.starts_with("ambiguous with '0009,xx10': both match (0009,1010)"),
            "{e}"
        );
        set.set("0009,10xx", "Z").unwrap();
        assert!(set.remove("00100010"));
        assert!(!set.remove("garbage"));
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("0009,10XX").unwrap().written, "0009,10xx");
    }

    #[test]
    fn options_of_the_default_table_are_found() {
        for options in [
            1,
            1 | 4,
            1 | 64,
            1 | 128,
            1 | 64 | 128,
            ALL_OPTIONS,
            1 | 2 | 256,
        ] {
            let table = RuleSet::default_table(options);
            let rows: Vec<(String, String)> = table
                .rules()
                .iter()
                .map(|r| (r.written.clone(), r.code.as_str().to_string()))
                .collect();
            let refs: Vec<(&str, &str)> =
                rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let loaded = load(&refs).unwrap();
            assert!(loaded.same_rules(&table));
            let found = loaded.options().expect("the default table");
            // the smallest set of options giving the same rules
            assert!(
                RuleSet::default_table(found).same_rules(&table),
                "{options}"
            );
            assert_eq!(found & !options, 0, "{options} -> {found}");
        }
        let mut edited = RuleSet::default_table(1);
        edited.set("PatientName", "K").unwrap();
        assert_eq!(edited.options(), None);
        edited.set("PatientName", "Z").unwrap();
        assert_eq!(edited.options(), Some(1));
    }

    #[test]
    fn markers_follow_the_options() {
        let (method, codes) = RuleSet::default_table(1 | 64 | 128).method();
        let values: Vec<&str> = codes.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(values, ["113100", "113107"]); // modified dates win over full dates
        assert_eq!(method[1], format!("PS3.15 {EDITION} Basic Profile"));
        let (method, codes) = load(&[("PatientName", "Z")]).unwrap().method();
        assert_eq!(method[1], "custom profile");
        assert!(codes.is_empty());
    }
}
