//! Value actions: what a rule computes for an element, beyond PS3.15's letters.
//!
//! A value action is written in the function language of RSNA CTP's DicomAnonymizer (the one
//! grammar for it, here): literal text and `@name(args)` calls, concatenated, e.g.
//! `@always()ANONYMOUS`, `@incrementdate(this,-30)`, `@hash(this,10)`, `@hashuid(,this)`,
//! `@if(this,isblank){@remove()}{@keep()}`. The text of a rule's action is a value action when
//! it starts with `@`; anything else is a PS3.15 code. A value action is parsed once, checked
//! (unknown functions, wrong arguments, a literal that does not fit the attribute's VR), and
//! interned: [`intern`] gives a small copyable id, and the same text always the same id, so
//! that a [`crate::profile::Code`] stays a plain value. The interned texts live for the
//! process (a profile loaded again reuses them; only distinct texts take memory).
//!
//! Evaluation follows CTP (`DICOMAnonymizer.makeReplacement`): each call gives text, the
//! texts are concatenated, and the result is read as CTP reads it: it contains `@remove()`
//! (remove), is `@keep()` (keep), starts with `@blank(n)` (n spaces), is `@empty()` (empty),
//! or is the new value (trimmed). `@skip()` and `@quarantine()` refuse the file, as does a
//! `@lookup` whose key the table lacks. Where CTP hashes with MD5 or keys nothing, we use the
//! run's secret key (HMAC-SHA256): see docs/ctp.md for every difference.
//!
//! [`ctp`] reads the parts of a CTP script (`<p>`, `<e>`, `<k>`, `<r>`, already taken out of
//! the XML by the Python layer's parser) into rules.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::profile::quote;

/// An interned value action: the same text is always the same expression, so identity is the
/// address (no lock to read it).
#[derive(Debug, Clone, Copy)]
pub struct ExprId(&'static Expr);

impl PartialEq for ExprId {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for ExprId {}

impl std::hash::Hash for ExprId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state)
    }
}

/// A parsed value action: its parts, and its canonical text.
#[derive(Debug)]
pub struct Expr {
    pub parts: Vec<Part>,
    pub text: &'static str,
}

#[derive(Debug, Clone)]
pub enum Part {
    Lit(String),
    Call(Call),
}

/// An element a function reads: `this` (the element the rule is for) or another, by keyword
/// or tag, in the same dataset (the same item inside a sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ref {
    This,
    Tag(Tag),
}

#[derive(Debug, Clone)]
pub enum Cond {
    IsBlank,
    Contains(String),
    Equals(String),
    Matches(regex::Regex),
    Exists,
    GreaterThan(i64),
}

/// How far @incrementdate moves a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Days(i64),
    /// Back by the keyed per-patient offset (the one C uses on dates).
    Keyed,
}

/// What @lookup does when the key is missing.
#[derive(Debug, Clone)]
pub enum Fallback {
    Refuse,
    Keep,
    Remove,
    Empty,
    Default(String),
}

/// The functions supported: CTP's names, CTP's arguments.
#[derive(Debug, Clone)]
pub enum Call {
    Keep,
    Remove,
    Empty,
    Blank(usize),
    Always,
    Process,
    Skip,
    Quarantine,
    Append(Vec<Part>),
    If {
        el: Ref,
        cond: Cond,
        then: Vec<Part>,
        els: Vec<Part>,
    },
    Contents {
        el: Ref,
        pattern: Option<regex::Regex>,
        with: String,
    },
    Value {
        el: Ref,
        default: String,
    },
    Truncate {
        el: Ref,
        n: Option<i64>,
    },
    Lowercase(Ref),
    Uppercase(Ref),
    Initials(Ref),
    HashUid(Ref),
    Hash {
        el: Ref,
        len: Option<usize>,
    },
    HashName {
        el: Ref,
        len: usize,
        words: usize,
    },
    HashPtId {
        site: String,
        el: Ref,
        len: Option<usize>,
    },
    IncrementDate {
        el: Ref,
        by: Shift,
    },
    HashDate {
        el: Ref,
        by: Ref,
    },
    Round {
        el: Ref,
        size: u32,
    },
    Lookup {
        els: Vec<Ref>,
        keytype: String,
        fallback: Fallback,
        upper: bool,
    },
    Require {
        el: Option<Ref>,
        default: String,
    },
    Date(String),
    Time(String),
}

/// The functions that are supported, for the error of one that is not.
pub const FUNCTIONS: &str = "set, keep, remove, empty, blank, always, process, skip, quarantine, \
    append, if, contents, value, truncate, lowercase, uppercase, initials, param, hashuid, \
    hash, hashname, hashptid, incrementdate, hashdate, round, lookup, require, date, time";

struct Interner {
    by_text: HashMap<&'static str, &'static Expr>,
}

fn interner() -> &'static Mutex<Interner> {
    static I: OnceLock<Mutex<Interner>> = OnceLock::new();
    I.get_or_init(|| {
        Mutex::new(Interner {
            by_text: HashMap::new(),
        })
    })
}

/// The value action of an id.
pub fn get(id: ExprId) -> &'static Expr {
    id.0
}

/// Parse a value action (text starting with `@`, parameters given as `@NAME` resolved from
/// `params`) and intern it. Errors say what is wrong, for the caller to place.
pub fn intern(text: &str, params: &HashMap<String, String>) -> Result<ExprId, String> {
    let parts = Parser { params }.parse(text.trim(), false)?;
    let canonical = print(&parts);
    let mut i = interner().lock().expect("not poisoned");
    if let Some(&expr) = i.by_text.get(canonical.as_str()) {
        return Ok(ExprId(expr));
    }
    let text: &'static str = Box::leak(canonical.into_boxed_str());
    let expr: &'static Expr = Box::leak(Box::new(Expr { parts, text }));
    i.by_text.insert(text, expr);
    Ok(ExprId(expr))
}

impl Expr {
    /// Does it start with `@always()` (the element is created when absent)?
    pub fn always(&self) -> bool {
        matches!(self.parts.first(), Some(Part::Call(Call::Always)))
    }

    /// The trivial actions, which are PS3.15 letters: `@remove()` X, `@empty()` Z,
    /// `@keep()` K.
    pub fn letter(&self) -> Option<&'static str> {
        match self.parts.as_slice() {
            [Part::Call(Call::Remove)] => Some("X"),
            [Part::Call(Call::Empty)] => Some("Z"),
            [Part::Call(Call::Keep)] => Some("K"),
            _ => None,
        }
    }

    /// How much of the original it lets through, on the scale of `rules::strength`: 0 when
    /// some branch may keep it or write its text, 1 for a shifted date, 2 for a keyed UID,
    /// 3 when nothing of it stays (removed, emptied, a literal, a keyed hash).
    pub fn strength(&self) -> u8 {
        strength_of(&self.parts)
    }

    /// The elements it reads besides its own.
    pub fn references(&self) -> Vec<Tag> {
        let mut out = Vec::new();
        refs(&self.parts, &mut out);
        out
    }

    /// The literal value it sets, when it is nothing but a literal (after `@always()`).
    pub fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Call(Call::Always) => {}
                _ => return None,
            }
        }
        Some(out)
    }
}

fn refs(parts: &[Part], out: &mut Vec<Tag>) {
    fn add(r: &Ref, out: &mut Vec<Tag>) {
        if let Ref::Tag(t) = r {
            out.push(*t);
        }
    }
    for part in parts {
        let Part::Call(c) = part else { continue };
        match c {
            Call::If { el, then, els, .. } => {
                add(el, out);
                refs(then, out);
                refs(els, out);
            }
            Call::Append(inner) => refs(inner, out),
            Call::Contents { el, .. }
            | Call::Value { el, .. }
            | Call::Truncate { el, .. }
            | Call::Lowercase(el)
            | Call::Uppercase(el)
            | Call::Initials(el)
            | Call::HashUid(el)
            | Call::Hash { el, .. }
            | Call::HashName { el, .. }
            | Call::HashPtId { el, .. }
            | Call::IncrementDate { el, .. }
            | Call::Round { el, .. } => add(el, out),
            Call::HashDate { el, by } => {
                add(el, out);
                add(by, out);
            }
            Call::Lookup { els, .. } => els.iter().for_each(|r| add(r, out)),
            Call::Require { el: Some(el), .. } => add(el, out),
            _ => {}
        }
    }
}

fn strength_of(parts: &[Part]) -> u8 {
    let mut s = 3u8;
    for part in parts {
        let p = match part {
            Part::Lit(_) => 3,
            Part::Call(c) => match c {
                Call::Keep | Call::Process | Call::Require { .. } => 0,
                Call::Contents { .. }
                | Call::Value { .. }
                | Call::Truncate { .. }
                | Call::Lowercase(_)
                | Call::Uppercase(_)
                | Call::Initials(_)
                | Call::Round { .. }
                | Call::Append(_) => 0,
                Call::If { then, els, .. } => strength_of(then).min(strength_of(els)),
                Call::IncrementDate { .. } | Call::HashDate { .. } => 1,
                Call::HashUid(_) => 2,
                _ => 3,
            },
        };
        s = s.min(p);
    }
    s
}

struct Parser<'a> {
    params: &'a HashMap<String, String>,
}

/// A function call's name, arguments and clauses, as CTP's FnCall splits them.
struct RawCall {
    name: String,
    args: Vec<String>,
    clauses: Vec<String>,
}

impl Parser<'_> {
    fn parse(&self, text: &str, _inner: bool) -> Result<Vec<Part>, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' {
                if let Some(&n) = chars.get(i + 1) {
                    lit.push(n);
                }
                i += 2;
                continue;
            }
            if c != '@' {
                lit.push(c);
                i += 1;
                continue;
            }
            let (raw, used) = split_call(&chars[i + 1..])?;
            i += 1 + used;
            if raw.name == "param" {
                lit.push_str(&self.param(raw.args.first().map_or("", String::as_str))?);
                continue;
            }
            if raw.name == "set" {
                // dicomveil's: its argument as literal text (a value action that sets a value
                // starts with @, unlike CTP's bare text)
                if raw.args.len() > 1 {
                    return Err("@set takes one argument (escape a comma as \\,)".into());
                }
                lit.push_str(unquote(raw.args.first().map_or("", String::as_str)));
                continue;
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Call(self.call(raw)?));
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(parts)
    }

    /// An argument's value: a parameter reference (`@NAME`) replaced by the parameter's
    /// value; quotes around it removed.
    fn param(&self, arg: &str) -> Result<String, String> {
        let arg = unquote(arg);
        match arg.strip_prefix('@').or_else(|| arg.strip_prefix('$')) {
            Some(name) => self
                .params
                .get(name.trim())
                .cloned()
                .ok_or_else(|| format!("unknown parameter @{}", name.trim())),
            None => Ok(arg.to_string()),
        }
    }

    fn element(&self, arg: &str) -> Result<Ref, String> {
        let arg = unquote(arg);
        if arg.is_empty() || arg == "this" {
            return Ok(Ref::This);
        }
        element_tag(arg).map(Ref::Tag)
    }

    fn number<T: std::str::FromStr>(&self, arg: &str, what: &str) -> Result<T, String> {
        let v = self.param(arg)?;
        v.trim()
            .parse()
            .map_err(|_| format!("{what} must be a number, not {}", quote(&v)))
    }

    fn call(&self, raw: RawCall) -> Result<Call, String> {
        let args = &raw.args;
        let arg = |k: usize| args.get(k).map(String::as_str).unwrap_or("");
        let need = |n: usize| {
            if args.len() < n {
                Err(format!(
                    "@{} needs at least {n} argument(s), has {}",
                    raw.name,
                    args.len()
                ))
            } else {
                Ok(())
            }
        };
        let clause = |k: usize| -> Result<Vec<Part>, String> {
            match raw.clauses.get(k) {
                Some(c) => self.parse(c, true),
                None => Err(format!("@{} needs its {{...}} clause(s)", raw.name)),
            }
        };
        let opt_len = |k: usize| -> Result<Option<usize>, String> {
            match args.get(k) {
                None => Ok(None),
                Some(a) if self.param(a)?.trim().is_empty() => Ok(None),
                Some(a) => self.number(a, "a length").map(Some),
            }
        };
        Ok(match raw.name.as_str() {
            "keep" => Call::Keep,
            "remove" => Call::Remove,
            "empty" => Call::Empty,
            "blank" => Call::Blank(if args.is_empty() {
                0
            } else {
                self.number::<usize>(arg(0), "@blank's count")?.min(55)
            }),
            "always" => Call::Always,
            "process" => Call::Process,
            "skip" => Call::Skip,
            "quarantine" => Call::Quarantine,
            "append" => Call::Append(clause(0)?),
            "if" => {
                need(2)?;
                let el = self.element(arg(0))?;
                let value = || self.param(arg(2));
                let cond = match unquote(arg(1)) {
                    "isblank" => Cond::IsBlank,
                    "exists" => Cond::Exists,
                    "contains" => Cond::Contains(value()?.to_lowercase()),
                    "equals" => Cond::Equals(value()?.to_lowercase()),
                    "matches" => {
                        let re = value()?;
                        Cond::Matches(
                            regex::Regex::new(&format!("^(?:{})$", re.trim()))
                                .map_err(|e| format!("bad regular expression: {e}"))?,
                        )
                    }
                    "greaterthan" => Cond::GreaterThan(digits(&value()?)),
                    other => {
                        return Err(format!(
                            "unknown condition {} (isblank, exists, contains, equals, \
                             matches, greaterthan)",
                            quote(other)
                        ))
                    }
                };
                Call::If {
                    el,
                    cond,
                    then: clause(0)?,
                    els: clause(1)?,
                }
            }
            "contents" => {
                need(1)?;
                let pattern = match args.get(1) {
                    Some(p) => Some(
                        regex::Regex::new(&self.param(p)?)
                            .map_err(|e| format!("bad regular expression: {e}"))?,
                    ),
                    None => None,
                };
                Call::Contents {
                    el: self.element(arg(0))?,
                    pattern,
                    with: self.param(arg(2))?,
                }
            }
            "value" => {
                need(1)?;
                Call::Value {
                    el: self.element(arg(0))?,
                    default: self.param(arg(1))?,
                }
            }
            "truncate" => {
                need(1)?;
                Call::Truncate {
                    el: self.element(arg(0))?,
                    n: match args.get(1) {
                        Some(a) => Some(self.number(a, "@truncate's count")?),
                        None => None,
                    },
                }
            }
            "lowercase" => Call::Lowercase(self.element(arg(0))?),
            "uppercase" => Call::Uppercase(self.element(arg(0))?),
            "initials" => {
                if args.len() > 1 {
                    return Err("@initials with a cipher offset (a second argument) is not \
                                supported"
                        .into());
                }
                Call::Initials(self.element(arg(0))?)
            }
            "hashuid" => {
                need(2)?;
                if args.len() > 2 {
                    return Err("@hashuid with a third argument is not supported".into());
                }
                self.param(arg(0))?; // the root: checked, not used (see docs/ctp.md)
                Call::HashUid(self.element(arg(1))?)
            }
            "hash" => {
                need(1)?;
                Call::Hash {
                    el: self.element(arg(0))?,
                    len: opt_len(1)?,
                }
            }
            "hashname" => {
                need(2)?;
                Call::HashName {
                    el: self.element(arg(0))?,
                    len: self.number(arg(1), "@hashname's length")?,
                    words: match args.get(2) {
                        Some(a) => match self.number::<usize>(a, "@hashname's word count")? {
                            0 => usize::MAX,
                            n => n,
                        },
                        None => usize::MAX,
                    },
                }
            }
            "hashptid" => {
                need(2)?;
                Call::HashPtId {
                    site: self.param(arg(0))?,
                    el: self.element(arg(1))?,
                    len: opt_len(2)?,
                }
            }
            "incrementdate" => {
                if args.len() != 2 {
                    return Err(
                        "@incrementdate takes (element, days): the lookup form (three \
                         arguments) is not supported"
                            .into(),
                    );
                }
                let by = self.param(arg(1))?;
                Call::IncrementDate {
                    el: self.element(arg(0))?,
                    by: if by.trim() == "keyed" {
                        Shift::Keyed
                    } else {
                        Shift::Days(self.number(&by, "@incrementdate's days")?)
                    },
                }
            }
            "hashdate" => {
                need(2)?;
                Call::HashDate {
                    el: self.element(arg(0))?,
                    by: self.element(arg(1))?,
                }
            }
            "round" => {
                need(2)?;
                let size: u32 = self.number(arg(1), "@round's group size")?;
                if size == 0 {
                    return Err("@round's group size must be at least 1".into());
                }
                Call::Round {
                    el: self.element(arg(0))?,
                    size,
                }
            }
            "lookup" => {
                need(2)?;
                let els = unquote(arg(0))
                    .split('|')
                    .map(|n| self.element(n.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                let action = unquote(arg(2)).trim().to_string();
                let fallback = match action.as_str() {
                    "" | "UC" => Fallback::Refuse,
                    "keep" => Fallback::Keep,
                    "remove" => Fallback::Remove,
                    "empty" => Fallback::Empty,
                    "default" => Fallback::Default(self.param(arg(3))?.trim().to_string()),
                    other => {
                        return Err(format!(
                            "@lookup's third argument {} is not supported (UC, keep, remove, \
                             empty, default)",
                            quote(other)
                        ))
                    }
                };
                Call::Lookup {
                    els,
                    keytype: self.param(arg(1))?.trim().to_string(),
                    fallback,
                    upper: action == "UC",
                }
            }
            "require" => Call::Require {
                el: match args.first() {
                    Some(a) => Some(self.element(a)?),
                    None => None,
                },
                default: self.param(arg(1))?,
            },
            "date" => Call::Date(self.param(arg(0))?),
            "time" => Call::Time(self.param(arg(0))?),
            other => {
                return Err(format!(
                    "unsupported function @{other} (supported: {FUNCTIONS})"
                ))
            }
        })
    }
}

fn unquote(arg: &str) -> &str {
    let a = arg.trim();
    if a.len() >= 2 && a.starts_with('"') && a.ends_with('"') {
        &a[1..a.len() - 1]
    } else {
        a
    }
}

fn digits(s: &str) -> i64 {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    d.parse().unwrap_or(0)
}

/// The tag of an element named in a script: a keyword (`PatientID`), 8 hex digits
/// (`00100020`), or `(0010,0020)` / `0010,0020` / `[0010,0020]`.
pub fn element_tag(name: &str) -> Result<Tag, String> {
    let n = name.trim();
    let hex: String = n
        .chars()
        .filter(|c| !matches!(c, '(' | ')' | '[' | ']' | ',' | ' '))
        .collect();
    if hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        let v = u32::from_str_radix(&hex, 16).expect("hex digits");
        return Ok(Tag((v >> 16) as u16, v as u16));
    }
    StandardDataDictionary
        .by_name(n)
        .map(|e| e.tag())
        .ok_or_else(|| format!("unknown element {}", quote(n)))
}

/// Split `name(args){clause}{clause}` (after the `@`) as CTP's FnCall does: arguments end at
/// `,` or `)` outside quotes, brackets and parentheses, `\` escapes a character; `if` and
/// `select` take two clauses, `append` one. Gives the call and the characters it took.
fn split_call(chars: &[char]) -> Result<(RawCall, usize), String> {
    let open = chars
        .iter()
        .position(|&c| c == '(')
        .ok_or_else(|| "a function call without '(' (write a literal @ as \\@)".to_string())?;
    let name: String = chars[..open]
        .iter()
        .filter(|c| !c.is_whitespace())
        .collect();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "malformed function call @{}",
            chars[..open.min(24)].iter().collect::<String>()
        ));
    }
    let mut i = open + 1;
    let mut args = Vec::new();
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return Err(format!("@{name}( has no closing ')'"));
        }
        if chars[i] == ')' {
            break;
        }
        let (mut quoted, mut depth_b, mut depth_p) = (false, 0i32, 0i32);
        let mut arg = String::new();
        while i < chars.len() {
            let c = chars[i];
            if !quoted && depth_b == 0 && depth_p == 0 && (c == ',' || c == ')') {
                break;
            }
            if c == '\\' {
                if let Some(&n) = chars.get(i + 1) {
                    arg.push(n);
                }
                i += 2;
                continue;
            }
            arg.push(c);
            match c {
                '"' => quoted = !quoted,
                '[' if !quoted => depth_b += 1,
                ']' if !quoted && depth_b > 0 => depth_b -= 1,
                '(' if !quoted => depth_p += 1,
                ')' if !quoted && depth_p > 0 => depth_p -= 1,
                _ => {}
            }
            i += 1;
        }
        if i >= chars.len() {
            return Err(format!("@{name}( has no closing ')'"));
        }
        args.push(arg.trim().to_string());
        if chars[i] == ',' {
            i += 1;
        }
    }
    i += 1; // ')'
    let wanted = match name.as_str() {
        "if" | "select" => 2,
        "append" => 1,
        _ => 0,
    };
    let mut clauses = Vec::new();
    for _ in 0..wanted {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if chars.get(i) != Some(&'{') {
            return Err(format!("@{name} needs {wanted} {{...}} clause(s)"));
        }
        let mut depth = 1;
        let mut j = i + 1;
        while j < chars.len() {
            match chars[j] {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        if j >= chars.len() {
            return Err(format!("@{name}'s clause has no closing '}}'"));
        }
        clauses.push(
            chars[i + 1..j]
                .iter()
                .collect::<String>()
                .trim()
                .to_string(),
        );
        i = j + 1;
    }
    Ok((
        RawCall {
            name,
            args,
            clauses,
        },
        i,
    ))
}

// ----- canonical text -----

fn esc(text: &str, special: &[char]) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || c == '@' || special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn arg_text(s: &str) -> String {
    esc(s, &[',', '(', ')', '"', '[', ']', '{', '}'])
}

fn ref_text(r: Ref) -> String {
    match r {
        Ref::This => "this".into(),
        Ref::Tag(t) => format!("{:04X}{:04X}", t.0, t.1),
    }
}

/// The canonical text: it starts with `@` (a leading literal is written `@set(...)`), so that
/// it never reads as a PS3.15 code.
fn print(parts: &[Part]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        match part {
            Part::Lit(s) if i == 0 => out.push_str(&format!("@set({})", arg_text(s))),
            Part::Lit(s) => out.push_str(&esc(s, &['{', '}'])),
            Part::Call(c) => out.push_str(&print_call(c)),
        }
    }
    out
}

fn print_call(c: &Call) -> String {
    let f = |name: &str, args: &[String]| format!("@{name}({})", args.join(","));
    let len = |l: &Option<usize>| l.map(|n| n.to_string()).unwrap_or_default();
    match c {
        Call::Keep => "@keep()".into(),
        Call::Remove => "@remove()".into(),
        Call::Empty => "@empty()".into(),
        Call::Blank(n) => format!("@blank({n})"),
        Call::Always => "@always()".into(),
        Call::Process => "@process()".into(),
        Call::Skip => "@skip()".into(),
        Call::Quarantine => "@quarantine()".into(),
        Call::Append(inner) => format!("@append(){{{}}}", print(inner)),
        Call::If {
            el,
            cond,
            then,
            els,
        } => {
            let (name, value) = match cond {
                Cond::IsBlank => ("isblank", None),
                Cond::Exists => ("exists", None),
                Cond::Contains(v) => ("contains", Some(arg_text(v))),
                Cond::Equals(v) => ("equals", Some(arg_text(v))),
                Cond::Matches(r) => {
                    let s = r.as_str();
                    let inner = &s[4..s.len() - 2]; // ^(?:...)$
                    ("matches", Some(arg_text(inner)))
                }
                Cond::GreaterThan(n) => ("greaterthan", Some(n.to_string())),
            };
            let mut args = vec![ref_text(*el), name.to_string()];
            args.extend(value);
            format!("{}{{{}}}{{{}}}", f("if", &args), print(then), print(els))
        }
        Call::Contents { el, pattern, with } => {
            let mut args = vec![ref_text(*el)];
            if let Some(p) = pattern {
                args.push(arg_text(p.as_str()));
                if !with.is_empty() {
                    args.push(arg_text(with));
                }
            }
            f("contents", &args)
        }
        Call::Value { el, default } => {
            let mut args = vec![ref_text(*el)];
            if !default.is_empty() {
                args.push(arg_text(default));
            }
            f("value", &args)
        }
        Call::Truncate { el, n } => {
            let mut args = vec![ref_text(*el)];
            args.extend(n.map(|n| n.to_string()));
            f("truncate", &args)
        }
        Call::Lowercase(r) => f("lowercase", &[ref_text(*r)]),
        Call::Uppercase(r) => f("uppercase", &[ref_text(*r)]),
        Call::Initials(r) => f("initials", &[ref_text(*r)]),
        Call::HashUid(r) => f("hashuid", &[String::new(), ref_text(*r)]),
        Call::Hash { el, len: l } => {
            let mut args = vec![ref_text(*el)];
            if l.is_some() {
                args.push(len(l));
            }
            f("hash", &args)
        }
        Call::HashName { el, len, words } => {
            let mut args = vec![ref_text(*el), len.to_string()];
            if *words != usize::MAX {
                args.push(words.to_string());
            }
            f("hashname", &args)
        }
        Call::HashPtId { site, el, len: l } => {
            let mut args = vec![arg_text(site), ref_text(*el)];
            if l.is_some() {
                args.push(len(l));
            }
            f("hashptid", &args)
        }
        Call::IncrementDate { el, by } => f(
            "incrementdate",
            &[
                ref_text(*el),
                match by {
                    Shift::Days(n) => n.to_string(),
                    Shift::Keyed => "keyed".into(),
                },
            ],
        ),
        Call::Round { el, size } => f("round", &[ref_text(*el), size.to_string()]),
        Call::HashDate { el, by } => f("hashdate", &[ref_text(*el), ref_text(*by)]),
        Call::Lookup {
            els,
            keytype,
            fallback,
            upper,
        } => {
            let names: Vec<String> = els.iter().map(|r| ref_text(*r)).collect();
            let mut args = vec![names.join("|"), arg_text(keytype)];
            match fallback {
                Fallback::Refuse if *upper => args.push("UC".into()),
                Fallback::Refuse => {}
                Fallback::Keep => args.push("keep".into()),
                Fallback::Remove => args.push("remove".into()),
                Fallback::Empty => args.push("empty".into()),
                Fallback::Default(d) => {
                    args.push("default".into());
                    args.push(arg_text(d));
                }
            }
            f("lookup", &args)
        }
        Call::Require { el, default } => {
            let mut args = Vec::new();
            if let Some(r) = el {
                args.push(ref_text(*r));
                if !default.is_empty() {
                    args.push(arg_text(default));
                }
            }
            f("require", &args)
        }
        Call::Date(sep) => f("date", &[arg_text(sep)]),
        Call::Time(sep) => f("time", &[arg_text(sep)]),
    }
}

// ----- evaluation -----

/// What the evaluation of a value action needs from the walk: the elements around, the keys.
pub trait Context {
    /// The text of an element of the dataset being walked (the original value, padding
    /// trimmed, values joined with `\`), `None` when absent.
    fn text(&self, tag: Tag) -> Option<String>;
    /// A keyed digest of `value` for `purpose`: 128 bits.
    fn digest(&self, purpose: &[u8], value: &str) -> u128;
    /// A UID mapped by the run's keyed UID mapping.
    fn map_uid(&self, uid: &str) -> String;
    /// The keyed per-patient date offset, in days back.
    fn date_offset(&self) -> u64;
    /// The lookup table's value for `keytype/key`.
    fn lookup(&self, keytype: &str, key: &str) -> Option<String>;
}

/// The outcome of a value action on one element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Remove,
    Set(String),
}

/// Why a file is refused by a value action (`@skip`, `@quarantine`, a lookup that fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// Evaluate `expr` for the element `this` (present or not), read as CTP reads the result.
pub fn evaluate(expr: &Expr, this: Tag, ctx: &dyn Context) -> Result<Outcome, Refusal> {
    let value = run(&expr.parts, this, ctx)?;
    let value = value.trim();
    Ok(if value.contains("@remove()") {
        Outcome::Remove
    } else if value == "@keep()" {
        Outcome::Keep
    } else if let Some(rest) = value.strip_prefix("@blank(") {
        let n: String = rest
            .split(')')
            .next()
            .unwrap_or("")
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        Outcome::Set(" ".repeat(n.parse::<usize>().unwrap_or(0).min(55)))
    } else if value == "@empty()" {
        Outcome::Set(String::new())
    } else {
        Outcome::Set(value.to_string())
    })
}

fn contents(r: Ref, this: Tag, ctx: &dyn Context) -> Option<String> {
    ctx.text(match r {
        Ref::This => this,
        Ref::Tag(t) => t,
    })
}

fn decimal(n: u128, len: Option<usize>) -> String {
    let s = n.to_string();
    match len {
        Some(l) if l > 0 && l < s.len() => s[..l].to_string(),
        _ => s,
    }
}

fn run(parts: &[Part], this: Tag, ctx: &dyn Context) -> Result<String, Refusal> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Call(c) => out.push_str(&call(c, this, ctx)?),
        }
    }
    Ok(out)
}

fn call(c: &Call, this: Tag, ctx: &dyn Context) -> Result<String, Refusal> {
    let text = |r: Ref| contents(r, this, ctx);
    Ok(match c {
        Call::Keep | Call::Process => "@keep()".into(),
        Call::Remove => "@remove()".into(),
        Call::Empty => "@empty()".into(),
        Call::Blank(n) => format!("@blank({n})"),
        Call::Always => String::new(),
        Call::Skip => return Err(Refusal("the profile's script says @skip()".into())),
        Call::Quarantine => return Err(Refusal("the profile's script says @quarantine()".into())),
        Call::Append(inner) => {
            let value = run(inner, this, ctx)?;
            match ctx.text(this) {
                Some(v) if !v.is_empty() => format!("{v}\\{value}"),
                _ => value,
            }
        }
        Call::If {
            el,
            cond,
            then,
            els,
        } => {
            let v = text(*el);
            let holds = match cond {
                Cond::IsBlank => v.as_deref().is_none_or(|v| v.trim().is_empty()),
                Cond::Exists => v.is_some(),
                Cond::Contains(s) => v.is_some_and(|v| v.to_lowercase().contains(s.as_str())),
                Cond::Equals(s) => v.is_some_and(|v| v.to_lowercase() == *s),
                Cond::Matches(re) => v.is_some_and(|v| re.is_match(&v)),
                Cond::GreaterThan(n) => v.is_some_and(|v| digits(&v) > *n),
            };
            run(if holds { then } else { els }, this, ctx)?
        }
        Call::Contents { el, pattern, with } => {
            let v = text(*el).unwrap_or_default();
            match pattern {
                Some(re) => re.replace_all(&v, with.as_str()).into_owned(),
                None => v,
            }
        }
        Call::Value { el, default } => match text(*el) {
            Some(v) if !v.is_empty() => v,
            _ => default.clone(),
        },
        Call::Truncate { el, n } => {
            let v = text(*el).unwrap_or_default();
            match n {
                None => v,
                Some(n) if *n >= 0 => v.chars().take(*n as usize).collect(),
                Some(n) => {
                    let v: Vec<char> = v.trim().chars().collect();
                    let start = v.len().saturating_sub(n.unsigned_abs() as usize);
                    v[start..].iter().collect()
                }
            }
        }
        Call::Lowercase(r) => text(*r).unwrap_or_default().to_lowercase(),
        Call::Uppercase(r) => text(*r).unwrap_or_default().to_uppercase(),
        Call::Initials(r) => initials(text(*r).as_deref()),
        Call::HashUid(r) => match text(*r) {
            None => "@remove()".into(),
            Some(v) => v
                .split('\\')
                .map(|u| ctx.map_uid(u.trim()))
                .collect::<Vec<_>>()
                .join("\\"),
        },
        Call::Hash { el, len } => match text(*el) {
            None => "@remove()".into(),
            Some(v) => decimal(ctx.digest(b"dicomveil/ctp-hash", &v), *len),
        },
        Call::HashName { el, len, words } => {
            let v = text(*el).unwrap_or_default();
            let joined: String = v.split('^').take(*words).collect();
            let name: String = joined
                .chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, ',' | '\'' | '^' | '.'))
                .collect::<String>()
                .to_uppercase();
            decimal(ctx.digest(b"dicomveil/ctp-hash", &name), Some(*len))
        }
        Call::HashPtId { site, el, len } => {
            let id = text(*el).unwrap_or_else(|| "null".into());
            let v = format!("[{}]{}", site.trim(), id.trim());
            decimal(ctx.digest(b"dicomveil/ctp-hash", &v), *len)
        }
        Call::IncrementDate { el, by } => match text(*el) {
            None => "@remove()".into(),
            Some(v) if v.len() < 8 => "@empty()".into(),
            Some(v) => {
                let days = match by {
                    Shift::Days(n) => *n,
                    Shift::Keyed => -(ctx.date_offset() as i64),
                };
                let shifted: Option<Vec<String>> =
                    v.split('\\').map(|d| increment_date(d, days)).collect();
                shifted.map_or_else(|| "@empty()".into(), |s| s.join("\\"))
            }
        },
        Call::Round { el, size } => round_age(&text(*el).unwrap_or_default(), *size),
        Call::HashDate { el, by } => match (text(*el), text(*by)) {
            (None, _) | (_, None) => "@remove()".into(),
            (Some(v), _) if v.len() < 8 => "@empty()".into(),
            (Some(v), Some(key)) => {
                // CTP: the last four digits of the hash, modulo ten years, back (never 0)
                let h = ctx.digest(b"dicomveil/ctp-hash", &key).to_string();
                let last: i64 = h[h.len().saturating_sub(4)..].parse().unwrap_or(0);
                let days = match -(last % 3650) {
                    0 => -1,
                    d => d,
                };
                let shifted: Option<Vec<String>> =
                    v.split('\\').map(|d| increment_date(d, days)).collect();
                shifted.map_or_else(|| "@empty()".into(), |s| s.join("\\"))
            }
        },
        Call::Lookup {
            els,
            keytype,
            fallback,
            upper,
        } => {
            let key: Vec<String> = els.iter().map(|r| text(*r).unwrap_or_default()).collect();
            let mut key = key.join("|").replace('\\', "");
            if *upper {
                key = key.to_uppercase();
            }
            match ctx.lookup(keytype, key.trim()) {
                Some(v) => v,
                None => match fallback {
                    Fallback::Keep => "@keep()".into(),
                    Fallback::Remove => "@remove()".into(),
                    Fallback::Empty => "@empty()".into(),
                    Fallback::Default(d) => d.clone(),
                    Fallback::Refuse => {
                        return Err(Refusal(format!(
                            "@lookup found no {} key for this file in the lookup table",
                            quote(keytype)
                        )))
                    }
                },
            }
        }
        Call::Require { el, default } => {
            if ctx.text(this).is_some() {
                return Ok("@keep()".into());
            }
            let value = match el {
                None => String::new(),
                Some(r) => text(*r).unwrap_or_else(|| default.clone()),
            };
            if value.trim().is_empty() {
                format!("@blank({})", value.len())
            } else {
                value
            }
        }
        Call::Date(sep) => {
            let now = chrono::Local::now().date_naive();
            now.format(&format!("%Y{sep}%m{sep}%d")).to_string()
        }
        Call::Time(sep) => {
            let now = chrono::Local::now().time();
            now.format(&format!("%H{sep}%M{sep}%S")).to_string()
        }
    })
}

/// CTP's initials: the first letter of each word of the name (`^` and `,` separate words),
/// the family name's last, upper-case; "X" for no name.
fn initials(name: Option<&str>) -> String {
    let Some(name) = name else { return "X".into() };
    let s = name.replace(['^', ','], " ");
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.is_empty() {
        return "X".into();
    }
    let mut letters: Vec<char> = words.iter().filter_map(|w| w.chars().next()).collect();
    if letters.len() > 1 {
        letters.rotate_left(1);
    }
    letters.into_iter().collect::<String>().to_uppercase()
}

/// A date (`YYYYMMDD`, or ISO `YYYY-MM-DD`, anything after it kept: a DT's time) moved by
/// `days`; `None` when it is no date.
fn increment_date(date: &str, days: i64) -> Option<String> {
    let date = date.trim();
    let iso = date.contains('-');
    let n = if iso { 10 } else { 8 };
    let head = date.get(..n)?;
    let format = if iso { "%Y-%m-%d" } else { "%Y%m%d" };
    let d = chrono::NaiveDate::parse_from_str(head, format).ok()?;
    let moved = d.checked_add_signed(chrono::TimeDelta::try_days(days)?)?;
    Some(format!("{}{}", moved.format(format), &date[n..]))
}

/// CTP's round: an age (`027Y`) into groups of `size`, the unit kept, even length.
fn round_age(age: &str, size: u32) -> String {
    let age = age.trim();
    if age.is_empty() {
        return String::new();
    }
    let number: String = age.chars().filter(char::is_ascii_digit).collect();
    let Ok(n) = number.parse::<f32>() else {
        return String::new();
    };
    let rounded = ((n / size as f32).round() as i64) * i64::from(size);
    let unit: String = age.chars().filter(|c| !c.is_ascii_digit()).collect();
    let mut out = format!("{rounded}{unit}");
    if out.len() % 2 == 1 {
        out.insert(0, '0');
    }
    out
}

/// Is `value` valid for `vr` (PS3.5 6.2, as far as a value action can break it)? The problem
/// when it is not. Text only; values of other VRs are refused.
pub fn check_vr(vr: VR, value: &str) -> Result<(), String> {
    let values: Vec<&str> = value.split('\\').collect();
    let each = |ok: &dyn Fn(&str) -> bool, what: &str| -> Result<(), String> {
        match values.iter().find(|v| !v.is_empty() && !ok(v)) {
            Some(_) => Err(format!("a value that is not {what}")),
            None => Ok(()),
        }
    };
    if let Some(max) = crate::clean::max_chars(vr) {
        if values.iter().any(|v| v.chars().count() > max) {
            return Err(format!("a value longer than {vr:?}'s {max} characters"));
        }
    }
    match vr {
        VR::DA => each(
            &|v| {
                v.len() == 8 && chrono::NaiveDate::parse_from_str(v, "%Y%m%d").is_ok()
                    || v.contains('-')
                        && v.split('-').all(|p| {
                            p.is_empty() || chrono::NaiveDate::parse_from_str(p, "%Y%m%d").is_ok()
                        })
            },
            "a date (YYYYMMDD)",
        ),
        VR::TM => each(
            &|v| {
                v.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
            },
            "a time",
        ),
        VR::DT => each(
            &|v| v.len() >= 4 && v.chars().all(|c| c.is_ascii_digit() || "+-.".contains(c)),
            "a date and time",
        ),
        VR::UI => each(
            &|v| {
                v.len() <= 64
                    && v.split('.').all(|p| {
                        !p.is_empty()
                            && p.chars().all(|c| c.is_ascii_digit())
                            && (p == "0" || !p.starts_with('0'))
                    })
            },
            "a UID (digits and dots, at most 64)",
        ),
        VR::IS => each(
            &|v| v.len() <= 12 && v.trim().parse::<i64>().is_ok(),
            "an integer string",
        ),
        VR::DS => each(
            &|v| v.len() <= 16 && v.trim().parse::<f64>().is_ok(),
            "a decimal string",
        ),
        VR::AS => each(
            &|v| {
                v.len() == 4
                    && v[..3].chars().all(|c| c.is_ascii_digit())
                    && "DWMY".contains(&v[3..])
            },
            "an age string (nnnD, W, M or Y)",
        ),
        VR::CS => each(
            &|v| {
                v.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || " _".contains(c))
            },
            "a code string (upper case, digits, space, _)",
        ),
        VR::LT | VR::ST | VR::UT | VR::UR | VR::UC => {
            if matches!(vr, VR::LT | VR::ST | VR::UT) && values.len() > 1 {
                Err(format!(
                    "a value with a backslash, which {vr:?} cannot hold"
                ))
            } else {
                Ok(())
            }
        }
        VR::AE | VR::LO | VR::SH | VR::PN => Ok(()),
        other => Err(format!(
            "a text value for an attribute of VR {other:?}, which a value action cannot set"
        )),
    }
}

// ----- CTP scripts -----

/// One part of a CTP script, as the XML gives it, with where it is (for errors).
#[derive(Debug, Clone)]
pub struct ScriptItem {
    /// `p`, `e`, `k` or `r`.
    pub kind: String,
    /// The `t` attribute.
    pub t: String,
    /// `en="T"` (parameters are always enabled).
    pub enabled: bool,
    /// The element's text (a parameter's value, an element's script).
    pub text: String,
    pub location: String,
}

/// A CTP script read into rules: `(pattern, action, location)` rows, and whether the
/// attributes no rule names are removed (`<r t="unspecifiedelements">`).
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub rules: Vec<(String, String, String)>,
    pub remove_unspecified: bool,
}

/// Read the parts of a CTP DicomAnonymizer script into rules (see docs/ctp.md for the
/// mapping). Errors are `(location, problem)`.
pub fn ctp(items: &[ScriptItem]) -> Result<Script, (String, String)> {
    let params: HashMap<String, String> = items
        .iter()
        .filter(|i| i.kind == "p")
        .map(|i| (i.t.trim().to_string(), i.text.clone()))
        .collect();
    let mut script = Script::default();
    let (mut private, mut safe, mut curves, mut overlays) = (false, false, false, false);
    let mut private_at = String::new();
    for item in items.iter().filter(|i| i.enabled) {
        let fail = |problem: String| (item.location.clone(), problem);
        let t = item.t.trim();
        match item.kind.as_str() {
            "p" => {}
            "e" => {
                let tag = element_tag(t).map_err(|p| fail(format!("t={}: {p}", quote(t))))?;
                if tag == Tag(0x0012, 0x0064) {
                    // CTP's codes for De-identification Method Code Sequence: the engine
                    // writes the codes of what it did instead (docs/ctp.md)
                    continue;
                }
                let pattern = format!("{:04x},{:04x}", tag.0, tag.1);
                let text = item.text.trim();
                let action = if text.is_empty() {
                    // CTP writes an empty value for an enabled element with no script
                    "Z".to_string()
                } else {
                    let id = intern(text, &params).map_err(&fail)?;
                    let expr = get(id);

                    expr.letter()
                        .map_or_else(|| expr.text.to_string(), str::to_string)
                };
                script.rules.push((pattern, action, item.location.clone()));
            }
            "k" => {
                if t.starts_with("safe") {
                    safe = true;
                } else {
                    let group = u16::from_str_radix(t, 16)
                        .ok()
                        .filter(|_| t.len() == 4)
                        .ok_or_else(|| fail(format!("<k t={}>: not a group", quote(t))))?;
                    script.rules.push((
                        format!("{group:04x},xxxx"),
                        "K".into(),
                        item.location.clone(),
                    ));
                }
            }
            "r" => match t {
                "privategroups" => {
                    private = true;
                    private_at = item.location.clone();
                }
                "unspecifiedelements" => script.remove_unspecified = true,
                "curves" => curves = true,
                "overlays" => overlays = true,
                other => {
                    return Err(fail(format!(
                        "<r t={}> is not supported (privategroups, unspecifiedelements, \
                         curves, overlays)",
                        quote(other)
                    )))
                }
            },
            other => return Err(fail(format!("unknown script element <{other}>"))),
        }
    }
    if curves {
        script
            .rules
            .push(("50xx,xxxx".into(), "X".into(), "<r t=\"curves\">".into()));
    }
    if overlays {
        script
            .rules
            .push(("60xx,xxxx".into(), "X".into(), "<r t=\"overlays\">".into()));
    }
    if private {
        // safe private elements kept: C on a private attribute keeps those of PS3.15's list
        let code = if safe { "C" } else { "X" };
        script
            .rules
            .push(("gggg,eeee (gggg odd)".into(), code.into(), private_at));
    }
    Ok(script)
}

/// A CTP lookup table (Java properties: `keytype/key=value` or `key:value` lines, `#` and
/// `!` comments), with CTP's `@keytype/key` indirections resolved at lookup.
#[derive(Debug, Clone, Default)]
pub struct LookupTable {
    entries: HashMap<String, String>,
}

impl LookupTable {
    pub fn parse(text: &str) -> LookupTable {
        let mut entries = HashMap::new();
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let (k, v) = match line.find(['=', ':']) {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (line, ""),
            };
            entries.insert(k.trim().to_string(), v.trim().to_string());
        }
        LookupTable { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `keytype/key`, following `@keytype/key` indirections (at most 10).
    pub fn get(&self, keytype: &str, key: &str) -> Option<String> {
        let mut value = self
            .entries
            .get(&format!("{}/{}", keytype.trim(), key.trim()))?;
        for _ in 0..10 {
            match value.strip_prefix('@') {
                Some(next) if next.contains('/') => value = self.entries.get(next.trim())?,
                _ => return Some(value.clone()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ctx(HashMap<Tag, String>);
    impl Context for Ctx {
        fn text(&self, tag: Tag) -> Option<String> {
            self.0.get(&tag).cloned()
        }
        fn digest(&self, _p: &[u8], v: &str) -> u128 {
            v.len() as u128 * 1_000_003
        }
        fn map_uid(&self, uid: &str) -> String {
            format!("2.25.{}", uid.len())
        }
        fn date_offset(&self) -> u64 {
            10
        }
        fn lookup(&self, keytype: &str, key: &str) -> Option<String> {
            (keytype == "ptid" && key == "P1").then(|| "S1".into())
        }
    }

    fn eval(text: &str, this: Option<&str>) -> Result<Outcome, Refusal> {
        let params = HashMap::from([("DATEINC".to_string(), "-3".to_string())]);
        let id = intern(text, &params).unwrap();
        let mut m = HashMap::new();
        if let Some(v) = this {
            m.insert(Tag(0x0008, 0x0020), v.to_string());
        }
        m.insert(Tag(0x0010, 0x0020), "P1".to_string());
        evaluate(get(id), Tag(0x0008, 0x0020), &Ctx(m))
    }

    #[test]
    fn functions_follow_ctp() {
        let set = |s: &str| Ok(Outcome::Set(s.to_string()));
        assert_eq!(
            eval("@incrementdate(this,@DATEINC)", Some("20200301")),
            set("20200227")
        );
        assert_eq!(
            eval("@incrementdate(this,keyed)", Some("20200111")),
            set("20200101")
        );
        assert_eq!(eval("@incrementdate(this,5)", None), Ok(Outcome::Remove));
        assert_eq!(eval("@incrementdate(this,5)", Some("2020")), set(""));
        assert_eq!(
            eval("@if(this,isblank){@remove()}{@keep()}", Some(" ")),
            Ok(Outcome::Remove)
        );
        assert_eq!(eval("@if(this,exists){A}{B}", None), set("B"));
        assert_eq!(eval("@if(this,contains,BC){A}{B}", Some("abcd")), set("A"));
        assert_eq!(
            eval("@if(this,matches,[0-9]+){A}{B}", Some("123")),
            set("A")
        );
        assert_eq!(
            eval("@if(this,matches,[0-9]+){A}{B}", Some("123x")),
            set("B")
        );
        assert_eq!(eval("@if(PatientID,equals,p1){A}{B}", None), set("A"));
        assert_eq!(eval("@lookup(PatientID,ptid)", None), set("S1"));
        assert!(eval("@lookup(this,ptid)", Some("P2")).is_err());
        assert_eq!(eval("@lookup(this,ptid,default,Z9)", Some("P2")), set("Z9"));
        assert!(eval("@skip()", None).is_err());
        assert_eq!(eval("@always()@append(){X}", Some("A")), set("A\\X"));
        assert_eq!(eval("@truncate(this,3)", Some("ABCDE")), set("ABC"));
        assert_eq!(eval("@truncate(this,-2)", Some("ABCDE")), set("DE"));
        assert_eq!(eval("@initials(this)", Some("Doe^John^Q")), set("JQD"));
        assert_eq!(eval("@round(this,5)", Some("027Y")), set("025Y"));
        assert_eq!(eval("@hash(this,4)", Some("ABC")), set("3000"));
        assert_eq!(eval("@require()", Some("A")), Ok(Outcome::Keep));
        assert_eq!(eval("@blank(3)", Some("A")), set("   "));
        assert_eq!(eval("@empty()", Some("A")), set(""));
    }

    #[test]
    fn errors_and_canonical_text() {
        let none = HashMap::new();
        assert!(intern("@encrypt(this,k)", &none)
            .unwrap_err()
            .starts_with("unsupported function @encrypt"));
        assert_eq!(
            intern("@hashuid(@UIDROOT,this)", &none).unwrap_err(),
            "unknown parameter @UIDROOT"
        );
        assert!(intern("@if(this,isblank){A}", &none).is_err());
        assert!(intern("@hash(this", &none).is_err());
        for text in [
            "@always()ANON\\@X",
            "@if(00100020,matches,[A-Z]\\,){@hash(this,8)}{x\\{y\\}}",
            "@lookup(this|00100010,ptid,default,a\\,b)",
        ] {
            let id = intern(text, &none).unwrap();
            let canonical = get(id).text;
            assert_eq!(intern(canonical, &none).unwrap(), id, "{canonical}");
        }
        let params = HashMap::from([("P".to_string(), "A,B".to_string())]);
        // a leading literal is written @set(...): the text never reads as a letter
        let set = get(intern("@param(@P)x", &params).unwrap());
        assert_eq!(set.text, "@set(A\\,Bx)");
        assert_eq!(set.literal().as_deref(), Some("A,Bx"));
        assert_eq!(get(intern("@set(X)", &none).unwrap()).text, "@set(X)");
    }

    #[test]
    fn vr_checks() {
        assert!(check_vr(VR::DA, "20200101").is_ok());
        assert!(check_vr(VR::DA, "2020-01").is_err());
        assert!(check_vr(VR::SH, "12345678901234567").is_err());
        assert!(check_vr(VR::UI, "2.25.0123").is_err());
        assert!(check_vr(VR::CS, "yes").is_err());
        assert!(check_vr(VR::US, "1").is_err());
    }

    #[test]
    fn lookup_tables_and_indirection() {
        let t = LookupTable::parse("# c\nptid/A = B\nptid/C=@ptid/A\nx/y:z\n");
        assert_eq!(t.get("ptid", "A").as_deref(), Some("B"));
        assert_eq!(t.get("ptid", "C").as_deref(), Some("B"));
        assert_eq!(t.get("x", "y").as_deref(), Some("z"));
        assert_eq!(t.get("ptid", "D"), None);
    }
}
