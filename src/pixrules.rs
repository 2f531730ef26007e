//! Pixel rules for Clean Pixel Data: which files carry text burned into their pixels, told by
//! their header values, and which regions of the pixels to blank.
//!
//! A rule is a [`Selector`] (an expression over header values) and a list of [`Region`]s. The
//! rules of a profile are tried in order; the first whose selector matches the file's original
//! header decides ([`PixelRules::first_match`]).
//!
//! # The syntax: RSNA CTP's DicomPixelAnonymizer script
//!
//! Read from CTP's sources (`PixelScript.java`, `Signature.java`, `Regions.java`, and the
//! matcher of `DicomObject.java`), not from its documentation:
//!
//! - A script file is prose with rules in it: `{ selector }` followed by regions `(x,y,w,h)`.
//!   Everything outside braces and regions is ignored (CTP has no comment syntax there: any text
//!   is a comment). The last line of prose before a rule is taken as its name (a leading `//`
//!   is dropped; lines without a letter or digit, such as `*****`, are skipped).
//! - Inside braces, `//` starts a comment that runs to the end of the line (CTP's tokenizer).
//! - Operands are `Attribute.method("value")`; the attribute is a keyword (`Modality`), a tag
//!   in square brackets (`[0008,0070]`, `[00080070]`, or CTP's short hex forms such as
//!   `[8,70]`), a private attribute as `[gggg[creator]ee]` (odd group, the creator's text, the
//!   element's low byte), or a path through sequences, `Seq::Attribute` (first item of each
//!   sequence, as CTP). A `root:` prefix is accepted and means nothing here (the top level).
//!   Group 0002 attributes are read from the file meta information, as CTP does.
//! - Methods (CTP's whole list): `equals`, `equalsIgnoreCase`, `contains`,
//!   `containsIgnoreCase`, `startsWith`, `startsWithIgnoreCase`, `endsWith`,
//!   `endsWithIgnoreCase`, `matches` (Java's `String.matches`: the regular expression must
//!   match the whole value), `isLessThan`, `isGreaterThan` (CTP's numeric comparison: every
//!   character but digits and `.` is removed from both sides, then both are read as numbers;
//!   a value that is not a number is never less nor greater).
//! - Strings are in double quotes with no escapes at all (CTP has none): a backslash is a
//!   backslash, so `ImageType.equals("ORIGINAL\PRIMARY")` and `matches("\d+")` read as
//!   written, and a string cannot hold a double quote.
//! - `*` is and, `+` is or, `!` is not, with parentheses; `!` binds tightest, then `*`, then
//!   `+`, all left to right (CTP's precedences). The words `and`, `or`, `not` are accepted as
//!   aliases (a dicomveil extension, any case). `true` and `false` are constant operands.
//!
//! # Values
//!
//! A value is compared as the text CTP sees: text values decoded in the file's character set,
//! padding trimmed, several values joined by a backslash; binary numbers (US, SS, UL, SL, FL, FD,
//! in the file's byte order) as decimal text (`Rows.equals("480")`); floats as Java prints them
//! (`1.5`, `2.0`, `1.0E-4`). An attribute that is absent is the empty string, as in CTP (its
//! `getElementValue` returns `""`): `X.equals("")` is true for an absent X, `X.contains("A")` is
//! false. Sequences and bulk binary values (OB, OW, ...) read as the empty string too.
//! Case-insensitive methods compare Unicode case (`É` equals `é`).
//!
//! # Regions, and what dicomveil adds or refuses
//!
//! - `(x,y,w,h)` is a rectangle from the top-left corner: four non-negative integers.
//!   dicomveil extends the region list with `(frame)` (the whole frame) and
//!   `(outside-us-regions)` (everything outside the Sequence of Ultrasound Regions); CTP itself
//!   skips both with a warning.
//! - Refused with an error where CTP would silently do something else: negative coordinates
//!   (CTP counts them from the right or bottom edge), an empty rectangle (width or height 0),
//!   a parenthesised group after a rule that looks like a region (it holds a comma, or only
//!   digits) but is not four integers (CTP skips it with a log line), an unknown keyword or
//!   method (CTP logs and treats the test as false), a selector that does not parse (CTP logs
//!   and treats the whole rule as false), and `{` inside a rule.
//! - A `}` inside a string or a `//` comment does not end a rule here (it does in CTP, which
//!   cannot parse such a rule at all).
//!
//! [`PixelRules::to_ctp_script`] writes each rule as written, preceded by a `// name` line, so
//! that parsing the text again gives the same rules.

use std::fmt;

use dicom_core::{Tag, VR};
use regex::Regex;

use crate::dataset::{is_text_vr, value_vr, DataSet, DicomFile, Element, Value};
use crate::profile::{quote, Pattern};
use crate::value::{decode, Plain};

/// A problem in rule text: where (the line of a script, when there are lines) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line of the script or of a selector of several lines; `None` for one-line text.
    pub line: Option<usize>,
    pub problem: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "line {n}: {}", self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for RuleError {}

/// What to blank in every frame of a file a rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// A rectangle in pixel coordinates from the top-left corner (clipped to the image).
    Rect { x: u32, y: u32, w: u32, h: u32 },
    /// The whole frame.
    WholeFrame,
    /// Everything outside the regions of the Sequence of Ultrasound Regions (0018,6011).
    OutsideUsRegions,
}

const FRAME: &str = "frame";
const OUTSIDE_US_REGIONS: &str = "outside-us-regions";

impl fmt::Display for Region {
    /// The region as written in a script: `(x,y,w,h)`, `(frame)`, `(outside-us-regions)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Region::Rect { x, y, w, h } => write!(f, "({x},{y},{w},{h})"),
            Region::WholeFrame => write!(f, "({FRAME})"),
            Region::OutsideUsRegions => write!(f, "({OUTSIDE_US_REGIONS})"),
        }
    }
}

/// One rule: a selector on header values and the regions to blank.
#[derive(Debug, Clone, PartialEq)]
pub struct PixelRule {
    pub name: String,
    pub when: Selector,
    /// Empty only for a CTP rule written without regions (CTP: it matches, and blanks nothing).
    pub regions: Vec<Region>,
    /// The rule's text as written (`{ selector } (x,y,w,h) ...`), for export and messages.
    pub source: String,
}

/// Pixel rules in the order they are tried.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PixelRules {
    pub rules: Vec<PixelRule>,
}

impl PixelRules {
    /// Parse a CTP DicomPixelAnonymizer script (a whole `.script` file); see the module
    /// documentation for the syntax. Errors carry the line of the script.
    pub fn parse_ctp_script(text: &str) -> Result<PixelRules, RuleError> {
        let lines = LineIndex::new(text);
        let err = |at: usize, problem: String| RuleError {
            line: Some(lines.line(at)),
            problem,
        };
        let b = text.as_bytes();
        let mut rules: Vec<PixelRule> = Vec::new();
        // where the current rule's text starts, and where the prose that names the next starts
        let mut rule_start = 0;
        let mut prose_from = 0;
        let mut pos = 0;
        while pos < b.len() {
            match b[pos] {
                b'{' => {
                    let close = rule_end(text, pos).map_err(|(at, p)| err(at, p))?;
                    let when = Selector::parse_lines(&text[pos + 1..close], lines.line(pos))?;
                    rules.push(PixelRule {
                        name: name_from(&text[prose_from..pos]),
                        when,
                        regions: Vec::new(),
                        source: text[pos..=close].to_string(),
                    });
                    rule_start = pos;
                    pos = close + 1;
                    prose_from = pos;
                }
                b'}' => return Err(err(pos, "'}' without a '{' that opens a rule".into())),
                // before the first rule, parentheses are prose (CTP looks for regions only
                // after a rule)
                b'(' if !rules.is_empty() => match region_group(text, pos) {
                    Group::Prose => pos += 1,
                    Group::Unclosed => {
                        return Err(err(
                            pos,
                            format!(
                                "the region {} has no closing ')'",
                                clip(text[pos..].lines().next().unwrap_or(""))
                            ),
                        ))
                    }
                    Group::Region(end) => {
                        let region = region_from(&text[pos + 1..end])
                            .map_err(|p| err(pos, p.for_region(&text[pos..=end])))?;
                        let rule = rules.last_mut().expect("a rule precedes");
                        rule.regions.push(region);
                        rule.source = text[rule_start..=end].to_string();
                        pos = end + 1;
                        prose_from = pos;
                    }
                },
                _ => pos += 1,
            }
        }
        Ok(PixelRules { rules })
    }

    /// One rule from its parts, as the CSV, JSON and XML profile forms give it: `when` in the
    /// selector grammar, `regions` as `(0,0,640,40) (0,460,640,20)`, `frame` (the whole frame)
    /// or `outside-us-regions`, one or more, separated by spaces (or commas).
    pub fn rule(name: &str, when: &str, regions: &str) -> Result<PixelRule, RuleError> {
        let name = name.trim();
        check_name(name)?;
        let selector = Selector::parse(when)?;
        let regions = parse_regions(regions)?;
        let text = selector.source();
        // a `//` comment would swallow the closing brace
        let close = if text.contains("//") { "\n}" } else { " }" };
        let written: Vec<String> = regions.iter().map(Region::to_string).collect();
        let source = format!("{{ {text}{close} {}", written.join(" "));
        Ok(PixelRule {
            name: name.to_string(),
            when: selector,
            regions,
            source,
        })
    }

    /// The first rule (index, rule) whose selector matches the file's header (the original one,
    /// not yet de-identified).
    pub fn first_match(&self, file: &DicomFile) -> Option<(usize, &PixelRule)> {
        let mut values = Values::new(file);
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.when.expr.eval(&mut values))
    }

    /// The rules as CTP script text: each rule as written, after a `// name` line.
    /// [`PixelRules::parse_ctp_script`] reads it back to the same rules.
    pub fn to_ctp_script(&self) -> String {
        let mut out = String::new();
        for rule in &self.rules {
            if rule.name.is_empty() {
                out.push_str("//\n");
            } else {
                out.push_str("// ");
                out.push_str(&rule.name);
                out.push('\n');
            }
            out.push_str(&rule.source);
            out.push_str("\n\n");
        }
        out
    }
}

/// Where each line starts, to turn byte offsets into 1-based line numbers.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }

    fn line(&self, at: usize) -> usize {
        self.0.partition_point(|&s| s <= at)
    }
}

/// Text for a message: quoted, and clipped when long.
fn clip(text: &str) -> String {
    const MAX: usize = 60;
    let t = text.trim();
    if t.chars().count() <= MAX {
        quote(t)
    } else {
        let cut: String = t.chars().take(MAX).collect();
        format!("{}...", quote(&cut))
    }
}

/// The offset of the `}` that closes the rule opened at `open`: the first one outside a string
/// or a `//` comment. Errors are (offset, problem).
fn rule_end(text: &str, open: usize) -> Result<usize, (usize, String)> {
    let b = text.as_bytes();
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'}' => return Ok(i),
            b'"' => match text[i + 1..].find('"') {
                Some(n) => i += n + 2,
                None => return Err((i, "a string has no closing '\"'".into())),
            },
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i = text[i..].find('\n').map_or(b.len(), |n| i + n + 1);
            }
            b'{' => {
                return Err((
                    i,
                    "'{' inside a rule: the '}' of the rule opened before it is missing".into(),
                ))
            }
            _ => i += 1,
        }
    }
    Err((open, "the rule's '{' has no closing '}'".into()))
}

/// What a `(` after a rule opens.
enum Group {
    /// Prose: CTP skips it (words without commas or numbers, or a parenthesis spanning a rule).
    Prose,
    /// A region attempt that is never closed.
    Unclosed,
    /// A region attempt closed at this offset.
    Region(usize),
}

fn region_group(text: &str, open: usize) -> Group {
    let rest = &text[open + 1..];
    match rest.find(')') {
        Some(n) if !rest[..n].contains(['{', '}']) => {
            if looks_like_region(&rest[..n]) {
                Group::Region(open + 1 + n)
            } else {
                Group::Prose
            }
        }
        _ => {
            let line = rest.lines().next().unwrap_or("");
            if looks_like_region(line) {
                Group::Unclosed
            } else {
                Group::Prose
            }
        }
    }
}

/// Whether the text in a parenthesis is meant as a region: it names one of the extension
/// regions, holds a comma, or only digits, signs and spaces.
fn looks_like_region(inner: &str) -> bool {
    let t = inner.trim();
    t.eq_ignore_ascii_case(FRAME)
        || t.eq_ignore_ascii_case(OUTSIDE_US_REGIONS)
        || t.contains(',')
        || (!t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c.is_whitespace() || c == '-' || c == '+'))
}

/// Why a region's text is not a region.
struct BadRegion(String);

impl BadRegion {
    fn for_region(self, written: &str) -> String {
        format!("region {}: {}", clip(written), self.0)
    }
}

/// A region from the text inside its parentheses.
fn region_from(inner: &str) -> Result<Region, BadRegion> {
    let t = inner.trim();
    if t.eq_ignore_ascii_case(FRAME) {
        return Ok(Region::WholeFrame);
    }
    if t.eq_ignore_ascii_case(OUTSIDE_US_REGIONS) {
        return Ok(Region::OutsideUsRegions);
    }
    let parts: Vec<&str> = t.split(',').map(str::trim).collect();
    if parts.len() != 4 {
        return Err(BadRegion(format!(
            "expected four integers x,y,w,h (or {FRAME}, {OUTSIDE_US_REGIONS}), found {}",
            parts.len()
        )));
    }
    let mut n = [0u32; 4];
    for (slot, (part, what)) in n
        .iter_mut()
        .zip(parts.iter().zip(["x", "y", "width", "height"]))
    {
        if part.starts_with('-') && part[1..].chars().all(|c| c.is_ascii_digit()) {
            return Err(BadRegion(format!(
                "negative {what} {part}: CTP counts negative coordinates from the right or \
                 bottom edge, which dicomveil does not support; give them from the top-left \
                 corner"
            )));
        }
        if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
            return Err(BadRegion(format!(
                "{what} {} is not a non-negative integer",
                quote(part)
            )));
        }
        *slot = part
            .parse()
            .map_err(|_| BadRegion(format!("{what} {part} is too large")))?;
    }
    let [x, y, w, h] = n;
    if w == 0 || h == 0 {
        return Err(BadRegion(
            "the rectangle is empty (width or height 0)".into(),
        ));
    }
    Ok(Region::Rect { x, y, w, h })
}

/// Regions as the profile forms write them: `(x,y,w,h)`, `frame`, `outside-us-regions` (bare
/// or in parentheses), separated by spaces, commas or semicolons.
fn parse_regions(text: &str) -> Result<Vec<Region>, RuleError> {
    let err = |problem: String| RuleError {
        line: None,
        problem,
    };
    let is_sep = |c: char| c.is_whitespace() || c == ',' || c == ';';
    let mut regions = Vec::new();
    let mut rest = text.trim_start_matches(is_sep);
    while !rest.is_empty() {
        let (item, inner, after) = if rest.starts_with('(') {
            let end = rest
                .find(')')
                .ok_or_else(|| err(format!("regions: {} has no closing ')'", clip(rest))))?;
            (&rest[..=end], &rest[1..end], &rest[end + 1..])
        } else {
            let end = rest
                .find(|c: char| is_sep(c) || c == '(')
                .unwrap_or(rest.len());
            let word = &rest[..end];
            if !(word.eq_ignore_ascii_case(FRAME) || word.eq_ignore_ascii_case(OUTSIDE_US_REGIONS))
            {
                return Err(err(format!(
                    "regions: expected '(x,y,w,h)', '{FRAME}' or '{OUTSIDE_US_REGIONS}', found {}",
                    clip(word)
                )));
            }
            (word, word, &rest[end..])
        };
        regions.push(region_from(inner).map_err(|p| err(p.for_region(item)))?);
        rest = after.trim_start_matches(is_sep);
    }
    // none: as a CTP rule without regions, it matches and blanks nothing (the file is then
    // not claimed clean: the burned-in policy applies)
    Ok(regions)
}

/// A rule's name from the prose before it: the last line that is a `//` comment or holds a
/// letter or digit.
fn name_from(prose: &str) -> String {
    for line in prose.lines().rev() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("//") {
            return rest.trim().to_string();
        }
        if t.chars().any(char::is_alphanumeric) {
            return t.to_string();
        }
    }
    String::new()
}

/// A name must survive as a prose line of a CTP script.
fn check_name(name: &str) -> Result<(), RuleError> {
    let region_like = name.match_indices('(').any(|(i, _)| {
        let rest = &name[i + 1..];
        rest.find(')').is_none_or(|n| looks_like_region(&rest[..n]))
    });
    if name.contains(['{', '}', '\n', '\r']) || region_like {
        return Err(RuleError {
            line: None,
            problem: format!(
                "rule name {}: a name cannot hold '{{', '}}', a line break, or parentheses with \
                 commas or numbers (a CTP script would read them as rule text)",
                clip(name)
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Selectors

/// A boolean expression over header values, parsed once; compared by its text.
#[derive(Clone, Debug)]
pub struct Selector {
    source: String,
    expr: Expr,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Selector) -> bool {
        self.source == other.source
    }
}

impl Eq for Selector {}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Selector {
    /// Parse a selector (the text between a CTP rule's braces). Errors name a line only when
    /// the text has several.
    pub fn parse(text: &str) -> Result<Selector, RuleError> {
        let lines = text.trim().contains('\n');
        Parser::new(text, lines.then_some(1)).selector()
    }

    /// Parse a selector whose text starts on line `first_line` of a script.
    fn parse_lines(text: &str, first_line: usize) -> Result<Selector, RuleError> {
        Parser::new(text, Some(first_line)).selector()
    }

    /// Whether the file's header matches.
    pub fn matches(&self, file: &DicomFile) -> bool {
        self.expr.eval(&mut Values::new(file))
    }

    /// The selector's text as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }
}

#[derive(Clone, Debug)]
enum Expr {
    Const(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Test(Box<Test>),
}

impl Expr {
    fn eval<'a>(&'a self, values: &mut Values<'a>) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Not(e) => !e.eval(values),
            Expr::And(a, b) => a.eval(values) && b.eval(values),
            Expr::Or(a, b) => a.eval(values) || b.eval(values),
            Expr::Test(t) => t.eval(values),
        }
    }
}

/// `Attribute.method("value")`.
#[derive(Clone, Debug)]
struct Test {
    attr: Attr,
    method: Method,
    value: String,
    /// `value` in lower case, for the IgnoreCase methods.
    lower: String,
    /// For `matches`: the expression anchored at both ends.
    regex: Option<Regex>,
    /// For `isLessThan` and `isGreaterThan`.
    number: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Equals,
    EqualsIgnoreCase,
    Contains,
    ContainsIgnoreCase,
    StartsWith,
    StartsWithIgnoreCase,
    EndsWith,
    EndsWithIgnoreCase,
    Matches,
    IsLessThan,
    IsGreaterThan,
}

/// CTP's methods, by name (CTP's spelling, case-sensitive).
const METHODS: [(&str, Method); 11] = [
    ("equals", Method::Equals),
    ("equalsIgnoreCase", Method::EqualsIgnoreCase),
    ("contains", Method::Contains),
    ("containsIgnoreCase", Method::ContainsIgnoreCase),
    ("startsWith", Method::StartsWith),
    ("startsWithIgnoreCase", Method::StartsWithIgnoreCase),
    ("endsWith", Method::EndsWith),
    ("endsWithIgnoreCase", Method::EndsWithIgnoreCase),
    ("matches", Method::Matches),
    ("isLessThan", Method::IsLessThan),
    ("isGreaterThan", Method::IsGreaterThan),
];

impl Method {
    fn ignores_case(self) -> bool {
        matches!(
            self,
            Method::EqualsIgnoreCase
                | Method::ContainsIgnoreCase
                | Method::StartsWithIgnoreCase
                | Method::EndsWithIgnoreCase
        )
    }
}

/// CTP's reading of a number for isLessThan / isGreaterThan: keep digits and dots only.
fn ctp_number(text: &str) -> Option<f64> {
    let kept: String = text
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    kept.parse().ok()
}

impl Test {
    fn eval<'a>(&'a self, values: &mut Values<'a>) -> bool {
        let v = values.get(&self.attr, self.method.ignores_case());
        match self.method {
            Method::Equals => v.text == self.value,
            Method::EqualsIgnoreCase => java_equals_ignore_case(&v.text, &self.value),
            Method::Contains => v.text.contains(&self.value),
            Method::StartsWith => v.text.starts_with(&self.value),
            Method::EndsWith => v.text.ends_with(&self.value),
            Method::ContainsIgnoreCase => v.lower().contains(&self.lower),
            Method::StartsWithIgnoreCase => v.lower().starts_with(&self.lower),
            Method::EndsWithIgnoreCase => v.lower().ends_with(&self.lower),
            Method::Matches => self.regex.as_ref().is_some_and(|re| re.is_match(&v.text)),
            Method::IsLessThan => ctp_number(&v.text).is_some_and(|n| n < self.number),
            Method::IsGreaterThan => ctp_number(&v.text).is_some_and(|n| n > self.number),
        }
    }
}

/// Java's `String.equalsIgnoreCase`: the same length, and each pair of characters equal, or
/// equal in upper case, or equal in the lower case of their upper case (one-character case
/// mappings, as Java's `Character.toUpperCase`).
fn java_equals_ignore_case(a: &str, b: &str) -> bool {
    fn one(mut mapped: impl Iterator<Item = char>, c: char) -> char {
        match (mapped.next(), mapped.next()) {
            (Some(m), None) => m,
            _ => c,
        }
    }
    let upper = |c: char| one(c.to_uppercase(), c);
    let lower = |c: char| one(c.to_lowercase(), c);
    let (mut x, mut y) = (a.chars(), b.chars());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) => {
                let same = c == d || {
                    let (u, v) = (upper(c), upper(d));
                    u == v || lower(u) == lower(v)
                };
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// A reference to an attribute: a path of steps through the first item of each sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Attr(Vec<Step>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Tag(Tag),
    /// A private attribute: its group, its block's creator and the element's low byte.
    Private {
        group: u16,
        creator: String,
        element: u8,
    },
}

impl Step {
    fn tag_in(&self, ds: &DataSet) -> Option<Tag> {
        match self {
            Step::Tag(tag) => Some(*tag),
            Step::Private {
                group,
                creator,
                element,
            } => (0x10..=0xFFu16)
                .find(|&block| ds.text(Tag(*group, block)) == Some(creator.as_bytes()))
                .map(|block| Tag(*group, (block << 8) | *element as u16)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values as CTP sees them

/// The values of one file, each read once however many rules test it.
struct Values<'a> {
    file: &'a DicomFile,
    seen: Vec<(&'a Attr, Text)>,
}

struct Text {
    text: String,
    lower: Option<String>,
}

impl Text {
    fn lower(&self) -> &str {
        self.lower.as_deref().expect("computed when asked for")
    }
}

impl<'a> Values<'a> {
    fn new(file: &'a DicomFile) -> Values<'a> {
        Values {
            file,
            seen: Vec::new(),
        }
    }

    fn get(&mut self, attr: &'a Attr, lower: bool) -> &Text {
        let i = match self.seen.iter().position(|(a, _)| *a == attr) {
            Some(i) => i,
            None => {
                let text = attr_text(self.file, attr);
                self.seen.push((attr, Text { text, lower: None }));
                self.seen.len() - 1
            }
        };
        let t = &mut self.seen[i].1;
        if lower && t.lower.is_none() {
            t.lower = Some(t.text.to_lowercase());
        }
        t
    }
}

/// Values longer than this are not read for a comparison (they are bulk data, not text).
const MAX_TEXT: u64 = 1 << 16;

/// The text of an attribute as CTP sees it; empty when absent.
fn attr_text(file: &DicomFile, attr: &Attr) -> String {
    let mut ds = &file.dataset;
    let last = attr.0.len() - 1;
    for (i, step) in attr.0.iter().enumerate() {
        let Some(tag) = step.tag_in(ds) else {
            return String::new();
        };
        let el = if i == 0 && tag.0 == 0x0002 {
            file.meta.get(tag)
        } else {
            ds.get(tag)
        };
        let Some(el) = el else {
            return String::new();
        };
        if i == last {
            return element_text(file, el);
        }
        match &el.value {
            Value::Sequence(items) if !items.is_empty() => ds = &items[0],
            _ => return String::new(),
        }
    }
    String::new()
}

fn element_text(file: &DicomFile, el: &Element) -> String {
    let Value::Primitive(data) = &el.value else {
        return String::new();
    };
    if data.len() > MAX_TEXT {
        return String::new();
    }
    let vr = value_vr(el);
    let number = matches!(
        vr,
        VR::US | VR::SS | VR::UL | VR::SL | VR::SV | VR::UV | VR::FL | VR::FD | VR::AT
    );
    // an attribute of unknown VR (private, implicit VR) is read as text, as CTP does
    let as_text;
    let el = if vr == VR::UN {
        as_text = Element::new(el.tag, VR::LO, Value::Primitive(data.clone()));
        &as_text
    } else if is_text_vr(vr) || number {
        el
    } else {
        return String::new();
    };
    let joined = |items: Vec<String>| items.join("\\");
    match decode(file, &file.dataset, el) {
        Ok(Plain::Text(v)) => joined(v),
        Ok(Plain::Int(v)) => joined(v.iter().map(i64::to_string).collect()),
        Ok(Plain::UInt(v)) => joined(v.iter().map(u64::to_string).collect()),
        Ok(Plain::Float(v)) if vr == VR::FL => {
            joined(v.iter().map(|&x| java_float(x as f32)).collect())
        }
        Ok(Plain::Float(v)) => joined(v.iter().map(|&x| java_float(x)).collect()),
        Ok(Plain::Tags(v)) => joined(v.iter().map(|t| format!("{t:08X}")).collect()),
        _ => String::new(),
    }
}

/// A float as Java's `Float.toString` / `Double.toString` print it: shortest digits, at least
/// one decimal (`2.0`), computerized scientific notation below 10^-3 and from 10^7 (`1.0E-4`).
fn java_float<T>(x: T) -> String
where
    T: fmt::Display + fmt::LowerExp + Into<f64> + Copy,
{
    let f: f64 = x.into();
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let with_point = |s: String| if s.contains('.') { s } else { s + ".0" };
    if f == 0.0 || (1e-3..1e7).contains(&f.abs()) {
        with_point(format!("{x}"))
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').expect("LowerExp writes an exponent");
        format!("{}E{exp}", with_point(mantissa.to_string()))
    }
}

// ---------------------------------------------------------------------------------------------
// The selector parser

#[derive(Debug)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Const(bool),
    Test(Box<Test>),
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// The line of the text's start, when errors are to name lines.
    first_line: Option<usize>,
    toks: Vec<(Tok, usize, usize)>,
    next: usize,
}

type Parsed<T> = Result<T, RuleError>;

impl<'t> Parser<'t> {
    fn new(text: &'t str, first_line: Option<usize>) -> Parser<'t> {
        Parser {
            text,
            pos: 0,
            first_line,
            toks: Vec::new(),
            next: 0,
        }
    }

    fn err(&self, at: usize, problem: String) -> RuleError {
        let line = self
            .first_line
            .map(|first| first + self.text[..at.min(self.text.len())].matches('\n').count());
        RuleError { line, problem }
    }

    fn selector(mut self) -> Parsed<Selector> {
        self.tokenize()?;
        if self.toks.is_empty() {
            return Err(self.err(
                self.text.len(),
                "empty selector (write true to select every file)".into(),
            ));
        }
        let expr = self.or()?;
        if let Some((tok, at, _)) = self.toks.get(self.next) {
            let problem = match tok {
                Tok::RParen => "')' without a '(' before it".to_string(),
                _ => format!(
                    "expected '*' (and) or '+' (or) between {} and {}",
                    self.spelled(self.next - 1),
                    self.spelled(self.next)
                ),
            };
            return Err(self.err(*at, problem));
        }
        Ok(Selector {
            source: self.text.trim().to_string(),
            expr,
        })
    }

    /// How token `i` is written, for messages.
    fn spelled(&self, i: usize) -> String {
        let (_, start, end) = &self.toks[i];
        clip(&self.text[*start..*end])
    }

    fn or(&mut self) -> Parsed<Expr> {
        let mut e = self.and()?;
        while let Some((Tok::Or, _, _)) = self.toks.get(self.next) {
            self.next += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Parsed<Expr> {
        let mut e = self.unary()?;
        while let Some((Tok::And, _, _)) = self.toks.get(self.next) {
            self.next += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Parsed<Expr> {
        if let Some((Tok::Not, _, _)) = self.toks.get(self.next) {
            self.next += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let i = self.next;
        let after = || {
            if i == 0 {
                String::new()
            } else {
                format!(" after {}", self.spelled(i - 1))
            }
        };
        let Some((tok, at, _)) = self.toks.get(i) else {
            return Err(self.err(
                self.text.len(),
                format!(
                    "expected an attribute test{} but the selector ends",
                    after()
                ),
            ));
        };
        let at = *at;
        match tok {
            Tok::LParen => {
                self.next += 1;
                let e = self.or()?;
                match self.toks.get(self.next) {
                    Some((Tok::RParen, _, _)) => {
                        self.next += 1;
                        Ok(e)
                    }
                    other => {
                        let (where_, found) = match other {
                            Some((_, at, _)) => {
                                (*at, format!(", found {}", self.spelled(self.next)))
                            }
                            None => (self.text.len(), String::new()),
                        };
                        Err(self.err(
                            where_,
                            format!(
                                "expected ')' after {} to close the '(' at {}{found}",
                                self.spelled(self.next - 1),
                                clip(&self.text[at..self.toks[self.next - 1].2]),
                            ),
                        ))
                    }
                }
            }
            Tok::Const(b) => {
                self.next += 1;
                Ok(Expr::Const(*b))
            }
            Tok::Test(_) => {
                self.next += 1;
                let Tok::Test(t) = std::mem::replace(&mut self.toks[i].0, Tok::Const(false)) else {
                    unreachable!("matched above")
                };
                Ok(Expr::Test(t))
            }
            Tok::RParen | Tok::And | Tok::Or | Tok::Not => Err(self.err(
                at,
                format!(
                    "expected an attribute test, '(' or '!'{}, found {}",
                    after(),
                    self.spelled(i)
                ),
            )),
        }
    }

    // -- tokens

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    /// Skip white space and `//` comments.
    fn skip_space(&mut self) {
        loop {
            let rest = self.rest();
            let t = rest.trim_start();
            self.pos += rest.len() - t.len();
            if t.starts_with("//") {
                self.pos += t.find('\n').unwrap_or(t.len());
            } else {
                return;
            }
        }
    }

    fn tokenize(&mut self) -> Parsed<()> {
        loop {
            self.skip_space();
            let Some(c) = self.peek() else {
                return Ok(());
            };
            let start = self.pos;
            let simple = match c {
                b'(' => Some(Tok::LParen),
                b')' => Some(Tok::RParen),
                b'*' => Some(Tok::And),
                b'+' => Some(Tok::Or),
                b'!' => Some(Tok::Not),
                _ => None,
            };
            let tok = match simple {
                Some(tok) => {
                    self.pos += 1;
                    tok
                }
                None if c == b'[' || c.is_ascii_alphabetic() => self.operand()?,
                None => return Err(self.unexpected()),
            };
            self.toks.push((tok, start, self.pos));
        }
    }

    fn unexpected(&self) -> RuleError {
        let c = self.rest().chars().next().expect("not at the end");
        let hint = match c {
            '&' | '|' => ": and is '*' (or the word and), or is '+' (or the word or)",
            '#' => ": comments inside a selector start with //",
            '/' => ": comments inside a selector start with //",
            '"' => ": a string is the argument of a method, as in Modality.equals(\"US\")",
            '0'..='9' => {
                ": an attribute is a keyword (Modality) or a tag in square brackets ([0008,0060])"
            }
            '{' | '}' => ": braces only open and close a rule in a script",
            _ => "",
        };
        self.err(
            self.pos,
            format!("unexpected {}{hint}", quote(&c.to_string())),
        )
    }

    /// A word of ASCII letters and digits at the cursor.
    fn word(&mut self) -> &'t str {
        let rest = self.rest();
        let n = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }

    fn skip_inline_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// An operand (`Attribute.method("value")`, `true`, `false`) or an operator word.
    fn operand(&mut self) -> Parsed<Tok> {
        let start = self.pos;
        if self.peek() != Some(b'[') {
            let word = self.word();
            let save = self.pos;
            self.skip_inline_space();
            let attribute_follows = matches!(self.peek(), Some(b'.') | Some(b':'));
            self.pos = save;
            if !attribute_follows {
                let op = match word.to_ascii_lowercase().as_str() {
                    "and" => Some(Tok::And),
                    "or" => Some(Tok::Or),
                    "not" => Some(Tok::Not),
                    "true" => Some(Tok::Const(true)),
                    "false" => Some(Tok::Const(false)),
                    _ => None,
                };
                if let Some(op) = op {
                    return Ok(op);
                }
            }
            self.pos = start;
        }
        let attr = self.attr()?;
        let attr_text = self.text[start..self.pos].trim_end().to_string();
        self.skip_space();
        if self.peek() != Some(b'.') {
            return Err(self.err(
                self.pos,
                format!(
                    "expected '.' and a method after {} (as in {}.equals(\"...\"))",
                    clip(&attr_text),
                    attr_text
                ),
            ));
        }
        self.pos += 1;
        self.skip_space();
        let method_at = self.pos;
        let name = self.word();
        let method = match METHODS.iter().find(|(n, _)| *n == name) {
            Some((_, m)) => *m,
            None => return Err(self.unknown_method(method_at, &attr_text, name)),
        };
        let called = format!("{attr_text}.{name}");
        self.skip_space();
        if self.peek() != Some(b'(') {
            return Err(self.err(self.pos, format!("expected '(' after {}", clip(&called))));
        }
        self.pos += 1;
        self.skip_space();
        if self.peek() != Some(b'"') {
            return Err(self.err(
                self.pos,
                format!(
                    "expected a string in double quotes after {}",
                    clip(&format!("{called}("))
                ),
            ));
        }
        let open = self.pos;
        let Some(len) = self.text[open + 1..].find('"') else {
            return Err(self.err(
                open,
                format!(
                    "the string after {} has no closing '\"'",
                    clip(&format!("{called}("))
                ),
            ));
        };
        let value = self.text[open + 1..open + 1 + len].to_string();
        self.pos = open + len + 2;
        self.skip_space();
        if self.peek() != Some(b')') {
            return Err(self.err(
                self.pos,
                format!(
                    "expected ')' after {}",
                    clip(&format!("{called}(\"{value}\""))
                ),
            ));
        }
        self.pos += 1;
        let regex = match method {
            Method::Matches => Some(Regex::new(&format!(r"\A(?:{value})\z")).map_err(|e| {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim();
                let why = why.strip_prefix("error: ").unwrap_or(why);
                self.err(
                    open,
                    format!(
                        "bad regular expression {} in {called}: {why}",
                        quote(&value)
                    ),
                )
            })?),
            _ => None,
        };
        let number = match method {
            Method::IsLessThan | Method::IsGreaterThan => ctp_number(&value).ok_or_else(|| {
                self.err(
                    open,
                    format!("{called} needs a number, found {}", quote(&value)),
                )
            })?,
            _ => 0.0,
        };
        Ok(Tok::Test(Box::new(Test {
            attr,
            method,
            lower: value.to_lowercase(),
            value,
            regex,
            number,
        })))
    }

    fn unknown_method(&self, at: usize, attr: &str, name: &str) -> RuleError {
        if name.is_empty() {
            return self.err(
                at,
                format!("expected a method name after {}", clip(&format!("{attr}."))),
            );
        }
        let names: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
        let hint = if let Some((n, _)) = METHODS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            format!(" (did you mean '{n}'? methods are case-sensitive)")
        } else if ["exists", "isblank", "isempty", "isnull"]
            .contains(&name.to_ascii_lowercase().as_str())
        {
            " (an absent attribute reads as \"\": test it with equals(\"\"))".to_string()
        } else {
            format!(" ({})", names.join(", "))
        };
        self.err(at, format!("unknown method {}{hint}", quote(name)))
    }

    /// `[root:]step(::step)*`.
    fn attr(&mut self) -> Parsed<Attr> {
        if self.rest().starts_with("root:") && !self.rest().starts_with("root::") {
            self.pos += "root:".len();
            self.skip_inline_space();
        }
        let mut steps = vec![self.step()?];
        loop {
            let save = self.pos;
            self.skip_inline_space();
            if self.rest().starts_with("::") {
                self.pos += 2;
                self.skip_inline_space();
                steps.push(self.step()?);
            } else {
                self.pos = save;
                return Ok(Attr(steps));
            }
        }
    }

    fn step(&mut self) -> Parsed<Step> {
        let start = self.pos;
        match self.peek() {
            Some(b'[') => {
                // the closing bracket, past a nested [creator]
                let mut depth = 0;
                let end = self.rest().char_indices().find_map(|(i, c)| {
                    match c {
                        '[' => depth += 1,
                        ']' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(i)
                });
                let Some(end) = end else {
                    return Err(self.err(
                        start,
                        format!(
                            "the tag {} has no closing ']'",
                            clip(self.rest().lines().next().unwrap_or(""))
                        ),
                    ));
                };
                let inner = &self.text[start + 1..start + end];
                self.pos = start + end + 1;
                bracketed(inner).map_err(|p| self.err(start, p))
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                keyword(word).map(Step::Tag).map_err(|p| self.err(start, p))
            }
            _ => Err(self.err(
                start,
                "expected an attribute (a keyword, or a tag as [gggg,eeee]) after '::'".into(),
            )),
        }
    }
}

/// A standard attribute's tag from its keyword (the dictionary's, through the profile's tag
/// patterns).
fn keyword(word: &str) -> Result<Tag, String> {
    if let Ok(Pattern::Exact(tag)) = Pattern::parse(word) {
        if word.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            return Ok(tag);
        }
    }
    let mut chars = word.chars();
    let capitalised: String = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .into_iter()
        .chain(chars)
        .collect();
    let hint = match Pattern::parse(&capitalised) {
        Ok(Pattern::Exact(_)) if capitalised != word => {
            format!(" (did you mean '{capitalised}'? keywords are case-sensitive)")
        }
        _ => " (keywords are the DICOM standard's, as ManufacturerModelName; or give the tag \
              as [gggg,eeee])"
            .to_string(),
    };
    Err(format!("unknown attribute keyword {}{hint}", quote(word)))
}

/// The inside of `[...]`: a keyword, a tag in CTP's hex forms, or a private attribute
/// `gggg[creator]ee`.
fn bracketed(inner: &str) -> Result<Step, String> {
    let t = inner.trim();
    let hex = |s: &str, max: usize| {
        (!s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(s, 16).expect("hex digits"))
    };
    if let Some((group, rest)) = t.split_once('[') {
        let (creator, element) = rest.split_once(']').unwrap_or((rest, ""));
        let group = group.trim().trim_end_matches(',').trim();
        let element = element.trim().trim_start_matches(',').trim();
        let form = "a private attribute is [gggg[creator]ee]: an odd group, the creator, \
                    the element's last two hex digits";
        let (Some(g), Some(e)) = (hex(group, 4), hex(element, 2)) else {
            return Err(format!("{}: {form}", quote(t)));
        };
        let creator = creator.trim();
        if g % 2 == 0 || creator.is_empty() {
            return Err(format!("{}: {form}", quote(t)));
        }
        return Ok(Step::Private {
            group: g as u16,
            creator: creator.to_string(),
            element: e as u8,
        });
    }
    if t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && t.chars().all(|c| c.is_ascii_alphanumeric())
    {
        if let Ok(tag) = keyword(t) {
            return Ok(Step::Tag(tag));
        }
    }
    let tag = match t.split_once(',') {
        Some((g, e)) => match (
            hex(g.trim(), 4).or((g.trim().is_empty()).then_some(0)),
            hex(e.trim(), 4),
        ) {
            (Some(g), Some(e)) => Some((g << 16) | e),
            _ => None,
        },
        None => hex(t, 8),
    };
    match tag {
        Some(v) => Ok(Step::Tag(Tag((v >> 16) as u16, v as u16))),
        None if t.chars().all(|c| c.is_ascii_alphanumeric()) && !t.is_empty() => {
            keyword(t).map(Step::Tag)
        }
        None => Err(format!(
            "malformed tag [{t}]: expected [gggg,eeee], [ggggeeee], a keyword, or \
             [gggg[creator]ee]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::tags;

    fn file(big_endian: bool) -> DicomFile {
        crate::dataset::test_file(big_endian)
    }

    fn text(f: &mut DicomFile, tag: Tag, vr: VR, values: &[&str]) {
        f.dataset.put(Element::text(tag, vr, values));
    }

    fn us(f: &mut DicomFile, tag: Tag, v: u16) {
        let bytes = if f.transfer_syntax.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        f.dataset.put(Element::bytes(tag, VR::US, bytes.to_vec()));
    }

    /// An ultrasound file of a made-up vendor, 480 rows.
    fn us_file(big_endian: bool) -> DicomFile {
        let mut f = file(big_endian);
        text(&mut f, tags::MODALITY, VR::CS, &["US"]);
        text(&mut f, tags::MANUFACTURER, VR::LO, &["Acme Medical "]);
        text(&mut f, tags::MANUFACTURER_MODEL_NAME, VR::LO, &["Sono 7"]);
        text(
            &mut f,
            tags::IMAGE_TYPE,
            VR::CS,
            &["DERIVED", "SECONDARY", "SCREEN"],
        );
        us(&mut f, tags::ROWS, 480);
        us(&mut f, tags::COLUMNS, 640);
        f
    }

    fn sel(text: &str) -> Selector {
        Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn yes(f: &DicomFile, text: &str) -> bool {
        sel(text).matches(f)
    }

    fn problem(text: &str) -> RuleError {
        match Selector::parse(text) {
            Ok(s) => panic!("{text} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    fn script_error(text: &str) -> String {
        match PixelRules::parse_ctp_script(text) {
            Ok(r) => panic!("parsed: {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn rect(x: u32, y: u32, w: u32, h: u32) -> Region {
        Region::Rect { x, y, w, h }
    }

    const SCRIPT: &str = r#"Burned-in text of the devices of our site
(written for the tests: prose, with (parentheses, commas) before the first rule)

**************
     US
**************
Acme Sono 7, 480 rows
  { Modality.equals("US") *
    Manufacturer.containsIgnoreCase("acme") *   // the vendor writes it in several cases
    Rows.equals("480") }
  (0,0,640,40) (0,440,640,40)
  ( 10 , 50 , 20 , 20 )

  { [0008,1090].startsWith("Sono") * !ImageType.contains("PRIMARY") }
  (0,0,640,60)

Other vendor (Zeta)
{ (Manufacturer.equals("Zeta") + Manufacturer.equals("ZETA"))
  * ( !(Rows.equals("600")) ) } (0,0,800,50)
//    Whole frame of screen captures
{true}(frame)
"#;

    #[test]
    fn ctp_script_rules_regions_and_names() {
        let rules = PixelRules::parse_ctp_script(SCRIPT).unwrap();
        assert_eq!(rules.rules.len(), 4);
        let r = &rules.rules;
        assert_eq!(r[0].name, "Acme Sono 7, 480 rows");
        assert_eq!(
            r[0].regions,
            vec![
                rect(0, 0, 640, 40),
                rect(0, 440, 640, 40),
                rect(10, 50, 20, 20)
            ]
        );
        assert!(r[0].source.starts_with("{ Modality.equals(\"US\") *"));
        assert!(r[0].source.ends_with("( 10 , 50 , 20 , 20 )"));
        assert!(r[0].when.source().ends_with("Rows.equals(\"480\")"));
        // no prose between the first rule's regions and the second rule
        assert_eq!(r[1].name, "");
        assert_eq!(r[1].regions, vec![rect(0, 0, 640, 60)]);
        // "(Zeta)" is prose: no comma, not a number
        assert_eq!(r[2].name, "Other vendor (Zeta)");
        assert_eq!(r[2].regions, vec![rect(0, 0, 800, 50)]);
        assert_eq!(r[3].name, "Whole frame of screen captures");
        assert_eq!(r[3].regions, vec![Region::WholeFrame]);
        assert_eq!(r[3].source, "{true}(frame)");
    }

    #[test]
    fn ctp_script_matching_in_order() {
        let rules = PixelRules::parse_ctp_script(SCRIPT).unwrap();
        let f = us_file(false);
        assert_eq!(rules.first_match(&f).map(|(i, _)| i), Some(0));
        let mut g = us_file(false);
        us(&mut g, tags::ROWS, 600);
        // rule 1: model starts with Sono and the image is not PRIMARY
        assert_eq!(rules.first_match(&g).map(|(i, _)| i), Some(1));
        let mut z = file(false);
        text(&mut z, tags::MANUFACTURER, VR::LO, &["ZETA"]);
        us(&mut z, tags::ROWS, 512);
        assert_eq!(rules.first_match(&z).map(|(i, _)| i), Some(2));
        us(&mut z, tags::ROWS, 600);
        // only the catch-all is left
        let (i, rule) = rules.first_match(&z).unwrap();
        assert_eq!((i, rule.regions.as_slice()), (3, &[Region::WholeFrame][..]));
        assert_eq!(PixelRules::default().first_match(&z), None);
    }

    #[test]
    fn the_first_matching_rule_wins_not_the_most_specific() {
        let rules = PixelRules {
            rules: vec![
                PixelRules::rule("broad", "Modality.equals(\"US\")", "(0,0,10,10)").unwrap(),
                PixelRules::rule(
                    "narrow",
                    "Modality.equals(\"US\") * Rows.equals(\"480\")",
                    "(0,0,20,20)",
                )
                .unwrap(),
            ],
        };
        let (i, rule) = rules.first_match(&us_file(false)).unwrap();
        assert_eq!((i, rule.name.as_str()), (0, "broad"));
        let reversed = PixelRules {
            rules: rules.rules.iter().rev().cloned().collect(),
        };
        assert_eq!(reversed.first_match(&us_file(false)).unwrap().0, 0);
        assert_eq!(reversed.rules[0].name, "narrow");
    }

    #[test]
    fn precedence_is_ctps() {
        let f = us_file(false);
        let t = "Modality.equals(\"US\")";
        let no = "Modality.equals(\"CT\")";
        // + is weaker than *: true + (false * false)
        assert!(yes(&f, &format!("{t} + {no} * {no}")));
        // and left to right: (false * false) + true
        assert!(yes(&f, &format!("{no} * {no} + {t}")));
        // ! binds tighter than *: (!false) * true
        assert!(yes(&f, &format!("!{no} * {t}")));
        assert!(!yes(&f, &format!("!{t} * {t}")));
        assert!(!yes(&f, &format!("!({no} + {t})")));
        assert!(yes(&f, &format!("!!{t}")));
        assert!(yes(&f, &format!("(({t}))")));
        assert!(!yes(&f, &format!("({t}) * (({no}) + !({t}))")));
        // words
        assert!(yes(&f, &format!("{no} or {t} and not {no}")));
        assert!(yes(&f, &format!("{no} OR {t} AND NOT {no}")));
        assert!(!yes(&f, &format!("not {t}")));
        assert!(yes(&f, "true"));
        assert!(!yes(&f, "false"));
        assert!(yes(&f, "false + true"));
        assert!(!yes(&f, "true * !true"));
    }

    #[test]
    fn comments_and_layout_inside_a_selector() {
        let f = us_file(false);
        let s = "// the vendor\n  Manufacturer\n  .startsWith ( \"Acme\" )  // trailing\n *\n\tRows.equals(\"480\")\n";
        assert!(yes(&f, s));
        assert_eq!(
            sel(s).source(),
            s.trim(),
            "the source is the text as written, trimmed"
        );
    }

    #[test]
    fn keywords_tags_and_numbers() {
        for big in [false, true] {
            let f = us_file(big);
            assert!(yes(&f, r#"Rows.equals("480")"#), "big endian {big}");
            assert!(yes(&f, r#"Columns.equals("640")"#), "big endian {big}");
            assert!(yes(&f, r#"[0028,0010].equals("480")"#));
            assert!(yes(&f, r#"[00280010].equals("480")"#));
            assert!(yes(&f, r#"[28,10].equals("480")"#), "CTP's short hex form");
            assert!(
                yes(&f, r#"[ Rows ].equals("480")"#),
                "a keyword in brackets"
            );
            assert!(yes(&f, r#"Rows.isGreaterThan("479")"#));
            assert!(!yes(&f, r#"Rows.isGreaterThan("480")"#));
            assert!(yes(&f, r#"Rows.isLessThan("480.5")"#));
        }
        let f = us_file(false);
        assert!(
            yes(&f, r#"[0008,0070].equals("Acme Medical")"#),
            "padding trimmed"
        );
        assert!(yes(&f, r#"Manufacturer.endsWith("Medical")"#));
        assert!(yes(&f, r#"[0008,1090].contains("no 7")"#));
        // a value that is not a number is neither less nor greater
        assert!(!yes(&f, r#"Modality.isLessThan("5")"#));
        assert!(!yes(&f, r#"Modality.isGreaterThan("5")"#));
    }

    #[test]
    fn binary_numbers_as_ctp_prints_them() {
        let mut f = file(true);
        f.dataset.put(Element::bytes(
            Tag(0x0028, 0x0106),
            VR::SS,
            (-5i16).to_be_bytes().to_vec(),
        ));
        let mut fl = 1.5f32.to_be_bytes().to_vec();
        fl.extend(0.1f32.to_be_bytes());
        f.dataset.put(Element::bytes(
            tags::RECOMMENDED_DISPLAY_FRAME_RATE_IN_FLOAT,
            VR::FL,
            fl,
        ));
        f.dataset.put(Element::bytes(
            tags::SHUTTER_PRESENTATION_VALUE,
            VR::US,
            [0, 1, 0, 2].to_vec(),
        ));
        assert!(yes(&f, r#"[0028,0106].equals("-5")"#));
        assert!(yes(
            &f,
            r#"RecommendedDisplayFrameRateInFloat.equals("1.5\0.1")"#
        ));
        assert!(yes(&f, r#"ShutterPresentationValue.equals("1\2")"#));
        assert_eq!(java_float(2.0f32), "2.0");
        assert_eq!(java_float(0.1f32), "0.1");
        assert_eq!(java_float(1e-4f64), "1.0E-4");
        assert_eq!(java_float(1.5e7f64), "1.5E7");
        assert_eq!(java_float(-0.0f64), "-0.0");
        assert_eq!(java_float(1234567.0f64), "1234567.0");
    }

    #[test]
    fn multi_valued_text_is_joined_by_backslash() {
        let f = us_file(false);
        assert!(yes(&f, r#"ImageType.contains("SECONDARY")"#));
        assert!(yes(&f, r#"ImageType.equals("DERIVED\SECONDARY\SCREEN")"#));
        assert!(!yes(&f, r#"ImageType.equals("SECONDARY")"#));
        assert!(yes(&f, r#"ImageType.containsIgnoreCase("screen")"#));
        assert!(yes(&f, r#"ImageType.matches("DERIVED\\SECONDARY\\.*")"#));
        assert!(!yes(&f, r#"ImageType.contains("PRIMARY")"#));
    }

    #[test]
    fn matches_is_a_whole_value_match() {
        let f = us_file(false);
        assert!(yes(&f, r#"ManufacturerModelName.matches("Sono \d")"#));
        assert!(yes(
            &f,
            r#"ManufacturerModelName.matches("(?i)sono [0-9]+")"#
        ));
        assert!(
            !yes(&f, r#"ManufacturerModelName.matches("Sono")"#),
            "prefix only"
        );
        assert!(
            !yes(&f, r#"ManufacturerModelName.matches("\d")"#),
            "part only"
        );
        assert!(yes(&f, r#"ManufacturerModelName.matches("Sono 7|x")"#));
        assert!(
            yes(&f, r#"Modality.matches("CT|US")"#),
            "alternation stays anchored"
        );
        assert!(!yes(&f, r#"Modality.matches("U|XUS")"#));
    }

    #[test]
    fn case_insensitive_methods_know_unicode() {
        // UTF-8 declared
        let mut f = file(false);
        text(
            &mut f,
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            &["ISO_IR 192"],
        );
        text(&mut f, tags::STATION_NAME, VR::SH, &["ÉCHO-SÜD"]);
        assert!(yes(&f, r#"StationName.equalsIgnoreCase("écho-süd")"#));
        assert!(yes(&f, r#"StationName.containsIgnoreCase("süd")"#));
        assert!(yes(&f, r#"StationName.startsWithIgnoreCase("éc")"#));
        assert!(yes(&f, r#"StationName.endsWithIgnoreCase("O-SÜd")"#));
        assert!(!yes(&f, r#"StationName.equals("écho-süd")"#));
        assert!(!yes(&f, r#"StationName.equalsIgnoreCase("echo-sud")"#));
        // Latin-1, the fallback when nothing is declared
        let mut g = file(false);
        g.dataset.put(Element::bytes(
            tags::STATION_NAME,
            VR::SH,
            b"\xC9CHO ".to_vec(),
        ));
        assert!(yes(&g, r#"StationName.equalsIgnoreCase("écho")"#));
        assert!(yes(&g, r#"StationName.equals("ÉCHO")"#));
        assert!(java_equals_ignore_case("ΣΊΣΥΦΟΣ", "σίσυφος"));
        assert!(!java_equals_ignore_case("a", "ab"));
    }

    #[test]
    fn an_absent_attribute_reads_as_empty_text_as_in_ctp() {
        let f = us_file(false);
        assert!(!yes(&f, r#"StationName.contains("A")"#));
        assert!(!yes(&f, r#"StationName.equalsIgnoreCase("x")"#));
        assert!(!yes(&f, r#"StationName.isLessThan("5")"#));
        assert!(yes(&f, r#"!StationName.equals("X")"#));
        assert!(yes(&f, r#"StationName.equals("")"#));
        assert!(yes(&f, r#"StationName.matches(".*")"#));
        // an empty value reads the same
        let mut g = us_file(false);
        text(&mut g, tags::STATION_NAME, VR::SH, &["  "]);
        assert!(yes(&g, r#"StationName.equals("")"#));
    }

    #[test]
    fn sequences_private_attributes_and_meta() {
        let mut f = us_file(false);
        let mut item = DataSet::new();
        item.put(Element::text(tags::CODE_MEANING, VR::LO, &["Dose Report"]));
        f.dataset.put(Element::new(
            tags::CONCEPT_NAME_CODE_SEQUENCE,
            VR::SQ,
            Value::Sequence(vec![item]),
        ));
        f.dataset
            .put(Element::text(Tag(0x0009, 0x0011), VR::LO, &["ACME 1"]));
        f.dataset
            .put(Element::text(Tag(0x0009, 0x1105), VR::UN, &["SCREEN"]));
        f.meta.put(Element::text(
            tags::TRANSFER_SYNTAX_UID,
            VR::UI,
            &["1.2.840.10008.1.2.1\0"],
        ));
        assert!(yes(
            &f,
            r#"ConceptNameCodeSequence::CodeMeaning.equals("Dose Report")"#
        ));
        assert!(yes(&f, r#"[0040,A043]::[0008,0104].contains("Dose")"#));
        assert!(yes(&f, r#"root:Modality.equals("US")"#));
        // a path through something that is not a sequence reads as empty
        assert!(yes(&f, r#"Modality::CodeMeaning.equals("")"#));
        assert!(yes(&f, r#"[0009[ACME 1]05].equals("SCREEN")"#));
        assert!(yes(&f, r#"[0009,[ACME 1],05].equals("SCREEN")"#));
        assert!(!yes(&f, r#"[0009[OTHER]05].contains("S")"#));
        assert!(yes(
            &f,
            r#"TransferSyntaxUID.equals("1.2.840.10008.1.2.1")"#
        ));
        // a sequence itself reads as empty
        assert!(yes(&f, r#"ConceptNameCodeSequence.equals("")"#));
    }

    #[test]
    fn selector_errors_name_what_and_where() {
        let e = problem(r#"Manufactuer.equals("GE")"#);
        assert_eq!(e.line, None);
        assert!(
            e.problem
                .starts_with("unknown attribute keyword 'Manufactuer'"),
            "{e}"
        );
        let e = problem(r#"modality.equals("US")"#);
        assert!(e.problem.contains("did you mean 'Modality'?"), "{e}");
        let e = problem(r#"Modality.equal("US")"#);
        assert!(
            e.problem
                .starts_with("unknown method 'equal' (equals, equalsIgnoreCase, contains,"),
            "{e}"
        );
        let e = problem(r#"Modality.Equals("US")"#);
        assert!(e.problem.contains("did you mean 'equals'?"), "{e}");
        let e = problem(r#"Modality.exists("")"#);
        assert!(e.problem.contains("equals(\"\")"), "{e}");
        let e = problem(r#"(Modality.equals("US") * Rows.equals("480")"#);
        assert!(
            e.problem
                .starts_with("expected ')' after 'Rows.equals(\"480\")' to close the '('"),
            "{e}"
        );
        let e = problem(r#"Modality.equals("US""#);
        assert!(
            e.problem
                .starts_with("expected ')' after 'Modality.equals(\"US\"'"),
            "{e}"
        );
        let e = problem(r#"Modality.equals("US)"#);
        assert!(e.problem.contains("no closing '\"'"), "{e}");
        let e = problem(r#"Modality.equals(US)"#);
        assert!(
            e.problem.starts_with("expected a string in double quotes"),
            "{e}"
        );
        let e = problem(r#"Modality("US")"#);
        assert!(
            e.problem
                .starts_with("expected '.' and a method after 'Modality'"),
            "{e}"
        );
        let e = problem(r#"Modality.matches("(US")"#);
        assert!(
            e.problem
                .starts_with("bad regular expression '(US' in Modality.matches:"),
            "{e}"
        );
        let e = problem(r#"Modality.matches("(?<=U)S")"#);
        assert!(e.problem.contains("look-around"), "{e}");
        let e = problem(r#"Modality.equals("US") Rows.equals("1")"#);
        assert!(
            e.problem
                .starts_with("expected '*' (and) or '+' (or) between"),
            "{e}"
        );
        let e = problem(r#"Modality.equals("US") && Rows.equals("1")"#);
        assert!(e.problem.starts_with("unexpected '&': and is '*'"), "{e}");
        let e = problem(r#"Modality.equals("US") *"#);
        assert!(e.problem.contains("after '*' but the selector ends"), "{e}");
        let e = problem(r#"* Modality.equals("US")"#);
        assert!(e.problem.starts_with("expected an attribute test"), "{e}");
        let e = problem(r#"Modality.equals("US"))"#);
        assert!(e.problem.starts_with("')' without a '('"), "{e}");
        let e = problem(r#"(0008,0070).equals("GE")"#);
        assert!(e.problem.contains("square brackets"), "{e}");
        let e = problem(r#"[0008,00x0].equals("GE")"#);
        assert!(e.problem.starts_with("malformed tag [0008,00x0]"), "{e}");
        let e = problem(r#"[0008[ACME]10].equals("GE")"#);
        assert!(e.problem.contains("an odd group"), "{e}");
        let e = problem(r#"Rows.isLessThan("many")"#);
        assert!(e.problem.contains("needs a number"), "{e}");
        let e = problem(r#"Modality.equals("US") # comment"#);
        assert!(e.problem.contains("start with //"), "{e}");
        assert!(problem("   ").problem.starts_with("empty selector"));
        // several lines: the line is named
        let e = problem("Modality.equals(\"US\") *\n  Rows.equls(\"480\")");
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().starts_with("line 2: unknown method 'equls'"),
            "{e}"
        );
    }

    #[test]
    fn script_errors_carry_the_line() {
        let e = script_error(
            "header\n\n{ Modality.equals(\"US\") *\n  Manufactuer.equals(\"GE\") }\n(0,0,1,1)\n",
        );
        assert!(
            e.starts_with("line 4: unknown attribute keyword 'Manufactuer'"),
            "{e}"
        );
        let e = script_error("{ Modality.equals(\"US\") }\n(0,0,-1,1)\n");
        assert!(
            e.starts_with("line 2: region '(0,0,-1,1)': negative width"),
            "{e}"
        );
        let e = script_error("{ Modality.equals(\"US\") }\n(-10,0,10,10)\n");
        assert!(e.contains("from the right or bottom edge"), "{e}");
        let e = script_error("{ Modality.equals(\"US\") }\n\n(0,0,640)\n");
        assert!(
            e.starts_with("line 3: region '(0,0,640)': expected four integers"),
            "{e}"
        );
        let e = script_error("{ Modality.equals(\"US\") }\n(0,0,64O,40)\n");
        assert!(
            e.contains("width '64O' is not a non-negative integer"),
            "{e}"
        );
        let e = script_error("{ Modality.equals(\"US\") }\n(0,0,0,40)\n");
        assert!(e.contains("empty"), "{e}");
        let e = script_error("{ Modality.equals(\"US\") }\n(0,0,10,40\n");
        assert!(
            e.starts_with("line 2: the region '(0,0,10,40' has no closing ')'"),
            "{e}"
        );
        let e = script_error("a\n{ Modality.equals(\"US\")\n(0,0,10,40)\n\n{ Rows.equals(\"1\") }");
        assert!(e.starts_with("line 5: '{' inside a rule"), "{e}");
        let e = script_error("a\nb\n{ Modality.equals(\"US\")\n(0,0,10,40)\n");
        assert!(
            e.starts_with("line 3: the rule's '{' has no closing '}'"),
            "{e}"
        );
        let e = script_error("{ Modality.equals(\"US\") }}\n");
        assert!(e.starts_with("line 1: '}' without a '{'"), "{e}");
        let e = script_error("x\n{ Modality.equals(\"US) }\n");
        assert!(e.starts_with("line 2: a string has no closing"), "{e}");
        let e = script_error("{ Modality.equals(\"US\") }\n(GE, Philips)\n");
        assert!(e.starts_with("line 2: region '(GE, Philips)'"), "{e}");
        // the same rule without the mistakes
        assert_eq!(
            PixelRules::parse_ctp_script("{ Modality.equals(\"US\") }\n(0,0,10,40)\n")
                .unwrap()
                .rules
                .len(),
            1
        );
    }

    #[test]
    fn strings_are_raw_and_may_hold_braces() {
        let mut f = file(false);
        text(&mut f, tags::STATION_NAME, VR::SH, &["A}B//C"]);
        let rules = PixelRules::parse_ctp_script(
            "{ StationName.equals(\"A}B//C\") // a comment with } and \"\n }\n(0,0,1,1)",
        )
        .unwrap();
        assert_eq!(rules.first_match(&f).unwrap().0, 0);
        assert_eq!(rules.rules[0].regions, vec![rect(0, 0, 1, 1)]);
    }

    #[test]
    fn a_ctp_rule_without_regions_is_kept() {
        let rules = PixelRules::parse_ctp_script("Exempt\n{ Modality.equals(\"MR\") }\n").unwrap();
        assert_eq!(rules.rules[0].regions, vec![]);
        assert_eq!(rules.rules[0].name, "Exempt");
        assert_eq!(
            PixelRules::parse_ctp_script("no rules (at all)\n").unwrap(),
            PixelRules::default()
        );
    }

    #[test]
    fn rule_from_parts() {
        let r = PixelRules::rule(
            " Banner ",
            "Modality.equals(\"US\")",
            "(0,0,640,40) (0,460,640,20)",
        )
        .unwrap();
        assert_eq!(r.name, "Banner");
        assert_eq!(r.regions, vec![rect(0, 0, 640, 40), rect(0, 460, 640, 20)]);
        assert_eq!(
            r.source,
            "{ Modality.equals(\"US\") } (0,0,640,40) (0,460,640,20)"
        );
        let r = PixelRules::rule("all", "true", "frame").unwrap();
        assert_eq!(r.regions, vec![Region::WholeFrame]);
        let r = PixelRules::rule("us", "true", "outside-us-regions, (0,0,5,5);(FRAME)").unwrap();
        assert_eq!(
            r.regions,
            vec![
                Region::OutsideUsRegions,
                rect(0, 0, 5, 5),
                Region::WholeFrame
            ]
        );
        assert!(PixelRules::rule("n", "true", " ")
            .unwrap()
            .regions
            .is_empty());
        for (regions, start) in [
            ("everything", "regions: expected '(x,y,w,h)', 'frame' or 'outside-us-regions', found 'everything'"),
            ("(0,0,1,1", "regions: '(0,0,1,1' has no closing ')'"),
            ("(0,0,1)", "region '(0,0,1)': expected four integers"),
        ] {
            let e = PixelRules::rule("n", "true", regions).unwrap_err();
            assert_eq!(e.line, None);
            assert!(e.problem.starts_with(start), "{regions}: {e}");
        }
        for name in ["a {b}", "two\nlines", "Philips (0,0)", "x (480)"] {
            let e = PixelRules::rule(name, "true", "frame").unwrap_err();
            assert!(e.problem.starts_with("rule name"), "{e}");
        }
        assert!(PixelRules::rule("Philips (iU22)", "true", "frame").is_ok());
        let e = PixelRules::rule("n", "Modality.equals(\"US\") *", "frame").unwrap_err();
        assert!(e.problem.contains("but the selector ends"), "{e}");
    }

    #[test]
    fn round_trip_through_ctp_script() {
        let parsed = PixelRules::parse_ctp_script(SCRIPT).unwrap();
        let text = parsed.to_ctp_script();
        assert_eq!(
            PixelRules::parse_ctp_script(&text).unwrap(),
            parsed,
            "{text}"
        );
        let mut built = PixelRules {
            rules: vec![
                PixelRules::rule("", "Modality.equals(\"US\")", "(0,0,640,40)").unwrap(),
                PixelRules::rule(
                    "Acme (Sono)",
                    "Manufacturer.equals(\"Acme\") // the vendor\n* Rows.equals(\"480\")",
                    "outside-us-regions (0,0,10,10)",
                )
                .unwrap(),
                PixelRules::rule("// odd name", "not Modality.equals(\"}\")", "frame").unwrap(),
            ],
        };
        built.rules.extend(parsed.rules.iter().cloned());
        let text = built.to_ctp_script();
        let back = PixelRules::parse_ctp_script(&text).unwrap();
        assert_eq!(back, built, "{text}");
        assert_eq!(back.to_ctp_script(), text);
        assert_eq!(PixelRules::default().to_ctp_script(), "");
    }

    #[test]
    fn selectors_compare_by_text() {
        assert_eq!(
            sel(" Modality.equals(\"US\") "),
            sel("Modality.equals(\"US\")")
        );
        assert_ne!(
            sel("Modality.equals(\"US\")"),
            sel("Modality.equals( \"US\" )")
        );
        assert_eq!(sel("true").to_string(), "true");
    }
}
