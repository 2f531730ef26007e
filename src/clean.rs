//! What the C (clean) action does: remove a dataset's own identifying values from text, shift
//! dates by a keyed per-patient offset, and the keyed pseudonyms.
//!
//! Cleaning keeps what is useful and removes who it is about: a description that contains none
//! of the dataset's identifying values is kept byte for byte; one that does has each occurrence
//! replaced by [`REMOVED`]. Matching is case- and accent-insensitive, on whole words, on text
//! decoded in the character set the file declares.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{Days, NaiveDate};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::text::{SpecificCharacterSet, TextCodec};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::dataset::{trim_padding, value_vr, DataSet, Value};
use crate::textscan::{self, TextDates};

/// What an identifying value is replaced with in cleaned text.
pub const REMOVED: &str = "[REMOVED]";

/// The range of the per-patient date offset: whole days back, 1 to this many.
pub const MAX_DATE_OFFSET_DAYS: u64 = 3650;

/// Attributes whose values identify, besides every person name (PN) at any depth.
// OtherPatientIDs and MedicalRecordLocator are retired (deprecated in the dictionary), and
// still found in files
#[allow(deprecated)]
pub const IDENTIFYING: [Tag; 17] = [
    tags::PATIENT_ID,
    tags::OTHER_PATIENT_I_DS,
    tags::PATIENT_BIRTH_DATE,
    tags::ACCESSION_NUMBER,
    tags::INSTITUTION_NAME,
    tags::INSTITUTION_ADDRESS,
    tags::INSTITUTIONAL_DEPARTMENT_NAME,
    tags::PATIENT_ADDRESS,
    tags::PATIENT_TELEPHONE_NUMBERS,
    tags::ISSUER_OF_PATIENT_ID,
    tags::ADMISSION_ID,
    tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
    tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
    tags::STUDY_ID,
    tags::MEDICAL_RECORD_LOCATOR,
    tags::REQUESTED_PROCEDURE_ID,
    tags::REFERRING_PHYSICIAN_ADDRESS,
];

/// Our own dummy values: never identifying.
const DUMMIES: [&str; 3] = ["anonymized", "19000101", "000000"];

/// Normalize for matching: decompose, drop combining marks (accents), lowercase. Returns the
/// normalized characters and, for each, the index of the original character it came from.
fn normalize(text: &str) -> (Vec<char>, Vec<usize>) {
    let mut norm = Vec::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        // most text is ASCII: nothing to decompose or fold
        if c.is_ascii() {
            norm.push(c.to_ascii_lowercase());
            map.push(i);
            continue;
        }
        for d in std::iter::once(c).nfd() {
            if is_combining_mark(d) {
                continue;
            }
            for l in d.to_lowercase() {
                match fold(l) {
                    Some(f) => {
                        for f in f.chars() {
                            norm.push(f);
                            map.push(i);
                        }
                    }
                    None => {
                        norm.push(l);
                        map.push(i);
                    }
                }
            }
        }
    }
    (norm, map)
}

/// Latin letters that carry their mark inside the letter (no decomposition), written as
/// people write them without it: "Łukasz" is "Lukasz", "Ødegård" is "Odegard". `None`: the
/// letter as it is.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'ł' => "l",
        'ø' => "o",
        'đ' | 'ð' => "d",
        'ħ' => "h",
        'ı' => "i",
        'ŧ' => "t",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        _ => return None,
    })
}

/// A character that words are made of, for whole-word matching. Scripts written without
/// spaces between words (Han, kana, Hangul, Thai...) have no word boundaries to look for: a
/// name written inside a run of them is still found.
pub fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    c.is_alphanumeric() && !is_unspaced_script(c)
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF       // Thai, Lao
        | 0x1100..=0x11FF     // Hangul Jamo
        | 0x3040..=0x30FF     // Hiragana, Katakana
        | 0x3400..=0x4DBF     // CJK Extension A
        | 0x4E00..=0x9FFF     // CJK Unified Ideographs
        | 0xAC00..=0xD7AF     // Hangul syllables
        | 0xF900..=0xFAFF     // CJK Compatibility Ideographs
        | 0xFF66..=0xFF9F     // half-width Katakana
        | 0x20000..=0x2FFFF) // CJK Extensions B-F
}

/// The identifying values of a dataset, normalized, as words to look for.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    tokens: Vec<Vec<char>>,
}

impl Identity {
    /// Gather the identifying values of `ds` (the top-level dataset of a file), at any depth.
    pub fn gather(ds: &DataSet) -> Identity {
        let mut tokens: Vec<Vec<char>> = Vec::new();
        gather_into(ds, &Charset::of(ds), &mut |t| tokens.push(t));
        tokens.sort_unstable();
        tokens.dedup();
        // longest first, so "JOHN SMITH" is removed whole before "JOHN" (stable: equal
        // lengths stay in the sorted order, so the result does not depend on the file's order)
        tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        Identity { tokens }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Remove every identifying value from `text`; `None` when there was none.
    pub fn clean(&self, text: &str) -> Option<String> {
        let spans = self.spans(text);
        if spans.is_empty() {
            return None;
        }
        let spans = spans.into_iter().map(|(s, e)| (s, e, REMOVED.into()));
        Some(replace(text, spans))
    }

    /// Where the identifying values are in `text`: ranges of its characters, sorted, not
    /// overlapping.
    fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        if self.tokens.is_empty() {
            return Vec::new();
        }
        let (norm, map) = normalize(text);
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for token in &self.tokens {
            let n = token.len();
            if n == 0 || n > norm.len() {
                continue;
            }
            let mut i = 0;
            while i + n <= norm.len() {
                if norm[i..i + n] == token[..]
                    && (i == 0 || !is_word(norm[i - 1]) || !is_word(token[0]))
                    && !spans.iter().any(|&(s, e)| i < e && s < i + n)
                {
                    if let Some(extra) = word_end(&norm, i + n, token) {
                        spans.push((i, i + n + extra));
                        i += n + extra;
                        continue;
                    }
                }
                i += 1;
            }
        }
        spans.sort();
        let mut out = Vec::with_capacity(spans.len());
        let mut pos = 0;
        for (s, e) in spans {
            let (start, end) = (map[s], map[e - 1] + 1);
            if start < pos {
                continue;
            }
            out.push((start, end));
            pos = end;
        }
        out
    }
}

/// Byte ranges of `text` as ranges of its characters.
fn char_ranges(text: &str, ranges: Vec<std::ops::Range<usize>>) -> Vec<(usize, usize)> {
    if ranges.is_empty() {
        return Vec::new();
    }
    let at = |byte: usize| text[..byte].chars().count();
    ranges
        .into_iter()
        .map(|r| (at(r.start), at(r.end)))
        .collect()
}

/// Where a match of `token` ending at `end` in `norm` ends as a word: `Some(0)` on a word
/// boundary; the patient's name with digits glued to it (`DOE1`, `doe66@...`: the digits go
/// with it); a name of four letters or more with a genitive or plural `s` (`MUELLERS`); `None`
/// inside a longer word.
fn word_end(norm: &[char], end: usize, token: &[char]) -> Option<usize> {
    let Some(&next) = norm.get(end) else {
        return Some(0);
    };
    let last = token[token.len() - 1];
    if !is_word(next) || !is_word(last) {
        return Some(0);
    }
    if !last.is_alphabetic() {
        return None;
    }
    if next.is_ascii_digit() {
        return Some(
            norm[end..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count(),
        );
    }
    let after = norm.get(end + 1).copied();
    if next == 's' && token.len() >= 4 && !after.is_some_and(is_word) {
        return Some(1);
    }
    inflection(norm, end, token)
}

/// The endings of a declined surname (Polish: `KOWALCZYKA`, `Nowakowi`, `Kowalskiego`), after
/// a name of five letters or more: after a consonant, `a`, `u`, `owi`, `em`, `iem`; after `i`,
/// `ego`, `emu`, `m`. The length of the ending when one ends a word at `end` of `norm`.
fn inflection(norm: &[char], end: usize, token: &[char]) -> Option<usize> {
    const AFTER_CONSONANT: [&str; 5] = ["a", "u", "owi", "em", "iem"];
    const AFTER_I: [&str; 3] = ["ego", "emu", "m"];
    let last = token[token.len() - 1];
    if token.len() < 5 || !token.iter().all(|c| c.is_alphabetic()) {
        return None;
    }
    let endings: &[&str] = match last {
        'i' => &AFTER_I,
        'a' | 'e' | 'o' | 'u' | 'y' => return None,
        _ => &AFTER_CONSONANT,
    };
    endings.iter().find_map(|e| {
        let n = e.chars().count();
        let fits = norm
            .get(end..end + n)
            .is_some_and(|w| w.iter().copied().eq(e.chars()))
            && !norm.get(end + n).copied().is_some_and(is_word);
        fits.then_some(n)
    })
}

/// `text` with the character ranges of `spans` (sorted, not overlapping) replaced.
fn replace<'a>(
    text: &str,
    spans: impl IntoIterator<Item = (usize, usize, Cow<'a, str>)>,
) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end, with) in spans {
        out.extend(&chars[pos..start]);
        out.push_str(&with);
        pos = end;
    }
    out.extend(&chars[pos..]);
    out
}

/// Clean one value of text: the file's identifying values, and, with `scan`, what
/// [`textscan`] finds (dates, contact details, identifiers), dates treated as it says. Where
/// the two overlap (`john.doe@example.org`, where `doe` is the patient's name), the union of
/// what overlaps is removed. `None` when nothing was found.
pub fn clean_value(identity: &Identity, scan: Option<TextDates>, text: &str) -> Option<String> {
    let ids = identity.spans(text);
    let found = scan.map_or_else(Vec::new, |dates| textscan::scan(text, dates));
    // people named by a cue (Dr Lefebvre, referred by J. Smith): where text is scanned
    let people = if scan.is_some() {
        char_ranges(text, crate::names::name_spans(text))
    } else {
        Vec::new()
    };
    if ids.is_empty() && found.is_empty() && people.is_empty() {
        return None;
    }
    let mut all: Vec<(usize, usize, Cow<str>)> = ids
        .into_iter()
        .chain(people)
        .map(|(s, e)| (s, e, Cow::Borrowed(REMOVED)))
        .chain(found.into_iter().map(|f| (f.start, f.end, f.with)))
        .collect();
    all.sort_by_key(|&(s, e, _)| (s, e));
    let mut merged: Vec<(usize, usize, Cow<str>)> = Vec::with_capacity(all.len());
    for (s, e, with) in all {
        match merged.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                last.2 = Cow::Borrowed(REMOVED);
            }
            _ => merged.push((s, e, with)),
        }
    }
    Some(replace(text, merged))
}

/// The identifying values of a dataset (the top level of a file), at any depth, normalized as
/// [`normalize_str`] does: whole values, name components and written forms of dates.
pub fn identifying_words(ds: &DataSet) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    gather_into(ds, &Charset::of(ds), &mut |t: Vec<char>| {
        set.insert(t.into_iter().collect());
    });
    set
}

/// Lower-case, accents removed: the form identifying values are compared in.
pub fn normalize_str(text: &str) -> String {
    normalize(text).0.into_iter().collect()
}

fn gather_into(ds: &DataSet, charset: &Charset, out: &mut dyn FnMut(Vec<char>)) {
    for el in &ds.elements {
        match &el.value {
            Value::Sequence(items) => items.iter().for_each(|i| gather_into(i, charset, out)),
            Value::Primitive(_) => {
                let vr = value_vr(el);
                if vr == VR::PN || IDENTIFYING.contains(&el.tag) {
                    if let Some(v) = el.inline_bytes() {
                        let text = charset.decode(trim_padding(v));
                        tokens(vr, &text, out);
                    }
                }
            }
            Value::Fragments(_) => {}
        }
    }
}

/// The words of a value: the whole value, and for names each component and each word,
/// normalized (duplicates are removed by the caller).
/// Name particles (`van`, `de`, `von`, `della`...): words of a family name that are words of
/// the language too.
fn is_particle(word: &str) -> bool {
    const PARTICLES: [&str; 19] = [
        "de", "van", "den", "der", "von", "di", "da", "del", "della", "du", "des", "la", "le",
        "ten", "ter", "y", "zu", "dos", "das",
    ];
    let word = word.trim();
    word.len() <= 5 && PARTICLES.iter().any(|p| p.eq_ignore_ascii_case(word))
}

fn tokens(vr: VR, value: &str, out: &mut dyn FnMut(Vec<char>)) {
    let mut push = |t: &str| {
        let s = normalize(t.trim()).0;
        let alpha = s.iter().any(|c| c.is_alphabetic());
        let n = s.len();
        let long_enough = if alpha { n >= 2 } else { n >= 4 };
        if long_enough && !DUMMIES.iter().any(|d| d.chars().eq(s.iter().copied())) {
            out(s);
        }
    };
    for v in value.split('\\') {
        push(v);
        match vr {
            VR::PN => {
                for group in v.split('=') {
                    let parts: Vec<&str> = group.split('^').map(str::trim).collect();
                    // "Given Family" as people write it
                    if parts.len() >= 2 && !parts[0].is_empty() && !parts[1].is_empty() {
                        push(&format!("{} {}", parts[1], parts[0]));
                        push(&format!("{} {}", parts[0], parts[1]));
                        // scripts written without spaces (Chinese, Japanese): family then
                        // given, run together; a one-character family name is too short to
                        // look for alone, but not as part of the whole name
                        if group.chars().any(is_unspaced_script) {
                            push(&format!("{}{}", parts[0], parts[1]));
                        }
                    }
                    for part in parts {
                        push(part);
                        // German transliteration (MUELLER for MÜLLER) and particles written
                        // together (VANDENBERG for van den Berg)
                        if let Some(t) = transliterated(part) {
                            push(&t);
                            for word in t.split([' ', '-']).filter(|w| !is_particle(w)) {
                                push(word);
                            }
                        }
                        if part.contains([' ', '-']) {
                            push(&part.replace([' ', '-'], ""));
                        }
                        // a particle alone is a word of the language ("de", "van"): looked
                        // for with the name it belongs to only
                        for word in part.split([' ', '-']).filter(|w| !is_particle(w)) {
                            push(word);
                        }
                    }
                }
            }
            VR::DA => {
                if let Some(d) = parse_date(v.trim()) {
                    for form in written_dates(d) {
                        push(&form);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A name as German writes it without umlauts: ä ae, ö oe, ü ue, ß ss (`None` when it has
/// none of them). Matching folds accents away (`Müller` is found as `Muller`); this finds
/// `MUELLER` too.
fn transliterated(name: &str) -> Option<String> {
    if !name.contains(['ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü', 'ß']) {
        return None;
    }
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c => out.push(c),
        }
    }
    Some(out)
}

/// The character set a dataset declares: text decoded and encoded with it.
#[derive(Debug, Clone, Default)]
pub struct Charset {
    codec: Option<SpecificCharacterSet>,
    /// Declared with code extensions (ISO 2022) that dicom-rs does not decode (dicom-rs #443).
    undecodable: bool,
}

impl Charset {
    pub fn of(ds: &DataSet) -> Charset {
        let Some(v) = ds.text(tags::SPECIFIC_CHARACTER_SET) else {
            return Charset::default();
        };
        let codes: Vec<String> = v
            .split(|&b| b == b'\\')
            .map(|c| String::from_utf8_lossy(trim_padding(c)).into_owned())
            .collect();
        let first = codes.first().cloned().unwrap_or_default();
        let codec = if first.is_empty() {
            None
        } else {
            SpecificCharacterSet::from_code(&first)
        };
        let undecodable = (first.is_empty() && codes.len() > 1)
            || codes.len() > 1
            || (!first.is_empty() && codec.is_none());
        Charset { codec, undecodable }
    }

    /// Decode text; bytes that cannot be decoded become U+FFFD (never fails).
    pub fn decode(&self, bytes: &[u8]) -> String {
        if bytes.is_ascii() {
            return String::from_utf8_lossy(bytes).into_owned();
        }
        match &self.codec {
            Some(c) if !self.undecodable => c
                .decode(bytes)
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned()),
            _ => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// Can this text be decoded and encoded again faithfully? (ESC starts an ISO 2022 code
    /// extension: 7-bit bytes that are not ASCII text.)
    pub fn round_trips(&self, bytes: &[u8]) -> bool {
        (bytes.is_ascii() && !bytes.contains(&0x1B))
            || (!self.undecodable
                && match &self.codec {
                    Some(c) => c
                        .decode(bytes)
                        .ok()
                        .and_then(|s| c.encode(&s).ok())
                        .is_some_and(|b| b == bytes),
                    None => false,
                })
    }

    pub fn encode(&self, text: &str) -> Option<Vec<u8>> {
        if text.is_ascii() {
            return Some(text.as_bytes().to_vec());
        }
        match &self.codec {
            Some(c) if !self.undecodable => c.encode(text).ok(),
            _ => None,
        }
    }
}

/// The maximum length in characters of a text VR (PS3.5 6.2), if it has one.
pub fn max_chars(vr: VR) -> Option<usize> {
    Some(match vr {
        VR::AE | VR::CS | VR::SH | VR::AS => 16,
        VR::LO => 64,
        VR::ST => 1024,
        VR::LT => 10240,
        _ => return None,
    })
}

/// Clean one text value. Returns `None` when it holds nothing to remove (keep it as it is),
/// `Some(bytes)` with the cleaned value, or `Some(dummy)` when the text cannot be re-encoded.
/// With `scan`, it is also scanned for dates, contact details and identifiers, dates treated
/// as it says ([`clean_value`]).
pub fn clean_text(
    identity: &Identity,
    scan: Option<TextDates>,
    charset: &Charset,
    vr: VR,
    bytes: &[u8],
) -> Option<Vec<u8>> {
    let may_hold = |_| textscan::may_hold(bytes) || crate::names::may_hold(bytes);
    if identity.is_empty() && !scan.is_some_and(may_hold) {
        return None;
    }
    let fits = |s: &str| -> String {
        match max_chars(vr) {
            Some(n) if s.chars().count() > n => s.chars().take(n).collect(),
            _ => s.to_string(),
        }
    };
    if !charset.round_trips(bytes) {
        // text that cannot be decoded faithfully cannot be searched: it may hold an
        // identifier, so it is replaced whole
        return Some(REMOVED.as_bytes().to_vec());
    }
    let text = charset.decode(bytes);
    let values: Vec<&str> = if matches!(vr, VR::LT | VR::ST | VR::UT | VR::UR) {
        vec![text.as_str()]
    } else {
        text.split('\\').collect()
    };
    let mut changed = false;
    let cleaned: Vec<String> = values
        .iter()
        .map(|v| match clean_value(identity, scan, v) {
            Some(c) => {
                changed = true;
                fits(&c)
            }
            None => v.to_string(),
        })
        .collect();
    if !changed {
        return None;
    }
    let joined = cleaned.join("\\");
    Some(
        charset
            .encode(&joined)
            .unwrap_or_else(|| REMOVED.as_bytes().to_vec()),
    )
}

/// Keyed values derived from the originals: date offsets and pseudonyms.
#[derive(Clone)]
pub struct Keyed {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyed { .. }")
    }
}

impl Keyed {
    pub fn new(key: &[u8]) -> Self {
        Keyed {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    fn digest(&self, purpose: &[u8], value: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(purpose);
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// Days to move a patient's dates back: 1 to [`MAX_DATE_OFFSET_DAYS`].
    pub fn date_offset_days(&self, patient_id: &[u8]) -> u64 {
        let d = self.digest(b"dicomveil/date-offset", trim_padding(patient_id));
        1 + u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) % MAX_DATE_OFFSET_DAYS
    }

    /// A pseudonym for an identifier: 16 upper-case hex digits (fits LO and SH).
    pub fn pseudonym(&self, purpose: &[u8], value: &[u8]) -> String {
        let d = self.digest(purpose, trim_padding(value));
        d[..8].iter().map(|b| format!("{b:02X}")).collect()
    }
}

/// The common written forms of a date: 1970-02-15, 15/02/1970, 02/15/1970, 15.02.1970,
/// 1970/02/15, 15-02-1970, 15 February 1970, February 15, 1970, 15 Feb 1970, Feb 15, 1970,
/// 19700215 (formatted by hand: chrono's format strings are parsed anew on every call, and
/// this runs for every birth date of every file).
fn written_dates(d: NaiveDate) -> [String; 11] {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let (y, m, day) = (d.year(), d.month(), d.day());
    let month = MONTHS[(m - 1) as usize];
    let mon = &month[..3];
    [
        format!("{y:04}-{m:02}-{day:02}"),
        format!("{day:02}/{m:02}/{y:04}"),
        format!("{m:02}/{day:02}/{y:04}"),
        format!("{day:02}.{m:02}.{y:04}"),
        format!("{y:04}/{m:02}/{day:02}"),
        format!("{day:02}-{m:02}-{y:04}"),
        format!("{day} {month} {y:04}"),
        format!("{month} {day}, {y:04}"),
        format!("{day} {mon} {y:04}"),
        format!("{mon} {day}, {y:04}"),
        format!("{y:04}{m:02}{day:02}"),
    ]
}

fn parse_date(v: &str) -> Option<NaiveDate> {
    if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) {
        NaiveDate::parse_from_str(v, "%Y%m%d").ok()
    } else if v.len() == 10 && v.as_bytes()[4] == b'.' && v.as_bytes()[7] == b'.' {
        // ACR-NEMA style YYYY.MM.DD
        NaiveDate::parse_from_str(v, "%Y.%m.%d").ok()
    } else {
        None
    }
}

/// Apply `shift` to each value of a multi-valued text value; `None` if any value fails.
fn map_values(value: &[u8], shift: impl Fn(&str) -> Option<String>) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(trim_padding(value)).ok()?;
    if text.is_empty() {
        return Some(Vec::new());
    }
    let values = text
        .split('\\')
        .map(|v| shift(v.trim()))
        .collect::<Option<Vec<String>>>()?;
    Some(values.join("\\").into_bytes())
}

/// Shift a DA value (possibly multi-valued or a range) back by `days`. `None` when it cannot
/// be read as dates (the caller then uses a dummy).
pub fn shift_da(value: &[u8], days: u64) -> Option<Vec<u8>> {
    map_values(value, |v| {
        let parts: Vec<&str> = v.split('-').collect();
        if parts.len() > 2 {
            return None;
        }
        let shifted = parts
            .iter()
            .map(|p| match p.trim() {
                "" => Some(String::new()),
                p => {
                    let d = parse_date(p)?.checked_sub_days(Days::new(days))?;
                    Some(d.format("%Y%m%d").to_string())
                }
            })
            .collect::<Option<Vec<String>>>()?;
        Some(shifted.join("-"))
    })
}

/// Shift a DT value back by `days`: the date part moves, the time and offset stay.
pub fn shift_dt(value: &[u8], days: u64) -> Option<Vec<u8>> {
    map_values(value, |v| {
        if v.len() < 4 || !v[..4].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // complete a partial date to shift it, then keep the original precision
        let digits = v.bytes().take_while(u8::is_ascii_digit).count().min(8);
        let (date_part, rest) = v.split_at(digits);
        let full = match date_part.len() {
            4 => format!("{date_part}0101"),
            6 => format!("{date_part}01"),
            8 => date_part.to_string(),
            _ => return None,
        };
        let d = parse_date(&full)?.checked_sub_days(Days::new(days))?;
        let shifted = d.format("%Y%m%d").to_string();
        Some(format!("{}{rest}", &shifted[..date_part.len()]))
    })
}

/// PS3.15 Table E.3.10-1 as shipped in the package.
pub const TABLE_E3_10_1: &str = include_str!("../python/dicomveil/data/table_e3_10_1_2024c.csv");

/// The safe private attributes: (group, creator, element byte).
pub fn safe_private() -> &'static std::collections::HashSet<(u16, Vec<u8>, u8)> {
    static SET: OnceLock<std::collections::HashSet<(u16, Vec<u8>, u8)>> = OnceLock::new();
    SET.get_or_init(|| {
        TABLE_E3_10_1
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .filter_map(|l| {
                let mut c = l.split(';');
                let tag = c.next()?;
                let creator = c.next()?.trim();
                let group = u16::from_str_radix(tag.get(0..4)?, 16).ok()?;
                let element = u8::from_str_radix(tag.get(7..9)?, 16).ok()?;
                Some((group, creator.as_bytes().to_vec(), element))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_dates_are_chronos() {
        // the hand-made forms are those of chrono's format strings, for a few dates
        for (y, m, d) in [(1970, 2, 15), (2001, 12, 3), (1899, 7, 31)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let chrono: Vec<String> = [
                "%Y-%m-%d",
                "%d/%m/%Y",
                "%m/%d/%Y",
                "%d.%m.%Y",
                "%Y/%m/%d",
                "%d-%m-%Y",
                "%-d %B %Y",
                "%B %-d, %Y",
                "%-d %b %Y",
                "%b %-d, %Y",
                "%Y%m%d",
            ]
            .iter()
            .map(|f| date.format(f).to_string())
            .collect();
            assert_eq!(written_dates(date).to_vec(), chrono);
        }
    }
    use crate::dataset::Element;

    fn identity_of(name: &str, id: &str) -> Identity {
        let mut ds = DataSet::new();
        ds.put(Element::text(Tag(0x0010, 0x0010), VR::PN, &[name]));
        ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, &[id]));
        ds.put(Element::text(Tag(0x0010, 0x0030), VR::DA, &["19700215"]));
        Identity::gather(&ds)
    }

    #[test]
    fn cleaning_removes_names_and_keeps_the_rest() {
        let id = identity_of("Müller^José", "PID42424");
        assert_eq!(
            id.clean("CT chest for JOSE MULLER, id PID42424").as_deref(),
            Some("CT chest for [REMOVED], id [REMOVED]")
        );
        assert_eq!(id.clean("CT chest w/o contrast"), None);
        // whole words only
        assert_eq!(id.clean("Josefine"), None);
        // letters with a stroke fold like accents
        let id = identity_of("Kowalski^Łukasz", "X1");
        assert_eq!(id.clean("MR LUKASZ").as_deref(), Some("MR [REMOVED]"));
        // a declined surname or given name: the ending goes with it
        assert_eq!(
            id.clean("RTG dłoni Kowalskiego, brat Łukasza").as_deref(),
            Some("RTG dłoni [REMOVED], brat [REMOVED]")
        );
        let id = identity_of("KOWALCZYK^Adam", "X1");
        assert_eq!(
            id.clean("XR HAND KOWALCZYKA").as_deref(),
            Some("XR HAND [REMOVED]")
        );
        assert_eq!(
            id.clean("Kowalczykowi, Kowalczykiem").as_deref(),
            Some("[REMOVED], [REMOVED]")
        );
        assert_eq!(id.clean("Kowalczykiewicz"), None);
        // particles are looked for with their name only, not alone
        let id = identity_of("VAN DEN BERG^Anouk", "X1");
        assert_eq!(id.clean("nodus van 6 mm in de long, den Haag"), None);
        assert_eq!(
            id.clean("Mevr. van den Berg, Berg, VANDENBERG").as_deref(),
            Some("Mevr. [REMOVED], [REMOVED], [REMOVED]")
        );
        assert_eq!(
            id.clean("born 15/02/1970").as_deref(),
            Some("born [REMOVED]")
        );
        assert_eq!(
            id.clean("born 1970-02-15.").as_deref(),
            Some("born [REMOVED].")
        );
    }

    #[test]
    fn cleaning_joins_identity_and_what_the_scan_finds() {
        let id = identity_of("Doe^John", "PID42424");
        let shift = Some(TextDates::Shift(10));
        // nothing found: kept as it is
        assert_eq!(clean_value(&id, shift, "CT chest 5mm, series 3"), None);
        // both, side by side
        assert_eq!(
            clean_value(&id, shift, "Doe seen 2021-03-14, call 555 0199").as_deref(),
            Some("[REMOVED] seen 2021-03-04, call [REMOVED]")
        );
        // overlapping: "john" and "doe" inside an e-mail address: one removal
        assert_eq!(
            clean_value(&id, shift, "mail john.doe@example.org").as_deref(),
            Some("mail [REMOVED]")
        );
        // the birth date is an identifying value: removed, not shifted
        assert_eq!(
            clean_value(&id, shift, "born 15/02/1970").as_deref(),
            Some("born [REMOVED]")
        );
        // dates kept, identity removed
        assert_eq!(
            clean_value(&id, Some(TextDates::Keep), "Doe 2021-03-14").as_deref(),
            Some("[REMOVED] 2021-03-14")
        );
        // not scanned (code values): the identity only
        assert_eq!(clean_value(&id, None, "2021-03-14 MRN12345"), None);
        // nothing to look for in the file, but something in the text
        let none = Identity::default();
        assert_eq!(
            clean_value(&none, Some(TextDates::Remove), "on 14/07/2020").as_deref(),
            Some("on [REMOVED]")
        );
        assert_eq!(
            clean_text(
                &none,
                Some(TextDates::Remove),
                &Charset::default(),
                VR::LO,
                b"a\\555-0199 "
            ),
            Some(b"a\\[REMOVED] ".to_vec())
        );
        assert_eq!(
            clean_text(&none, None, &Charset::default(), VR::LO, b"555-0199"),
            None
        );
    }

    #[test]
    fn dates_shift_by_whole_days() {
        assert_eq!(shift_da(b"20200301", 1).unwrap(), b"20200229");
        assert_eq!(
            shift_da(b"20200301\\20200302", 2).unwrap(),
            b"20200228\\20200229"
        );
        assert_eq!(
            shift_da(b"20200101-20200131", 31).unwrap(),
            b"20191201-20191231"
        );
        assert!(shift_da(b"garbage", 1).is_none());
        assert_eq!(
            shift_dt(b"20200301123000.5+0100", 1).unwrap(),
            b"20200229123000.5+0100"
        );
        assert_eq!(shift_dt(b"2020", 1).unwrap(), b"2019");
    }

    #[test]
    fn keyed_offsets_are_per_patient_and_in_range() {
        let k = Keyed::new(b"key");
        let a = k.date_offset_days(b"PATIENT-A");
        assert_eq!(a, Keyed::new(b"key").date_offset_days(b"PATIENT-A "));
        assert!((1..=MAX_DATE_OFFSET_DAYS).contains(&a));
        let spread: BTreeSet<u64> = (0..50)
            .map(|i| k.date_offset_days(format!("P{i}").as_bytes()))
            .collect();
        assert!(spread.len() > 40);
        assert_ne!(a, Keyed::new(b"other").date_offset_days(b"PATIENT-A"));
    }

    #[test]
    fn safe_private_table_loads() {
        let s = safe_private();
        assert!(s.len() > 400);
        assert!(s.contains(&(0x7053, b"Philips PET Private Group".to_vec(), 0x00)));
    }
}
