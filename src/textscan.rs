//! What C finds in a text besides the file's own identifying values
//! ([`crate::clean::Identity`]): dates written in text, e-mail addresses, URLs, phone numbers,
//! long digit runs, letter-digit identifiers and numbers after an identifier cue.
//!
//! One hand-written scanner over the characters of a value, no regular expression: each
//! recognizer is a function of a position, and the month names are one small table. The
//! recognizers run in this order, and what one claims the later ones do not see (a date is not
//! read again as a phone number or a digit run):
//!
//! 1. URLs (`http://`, `https://`, `ftp://`, `www.`) and e-mail addresses;
//! 2. dates (see [`Scanner::dates`] for the forms), shifted, kept or removed as the profile
//!    treats the date attributes ([`TextDates`]);
//! 3. letter-digit identifiers ([`is_identifier`]);
//! 4. phone numbers ([`Scanner::phones`]);
//! 5. runs of 8 digits or more that are no date (outside a decimal number);
//! 6. numbers of 5 digits or more after an identifier cue (`MRN`, `ID`, `Acc`, `No`, `#`...),
//!    and shorter codes after one ([`Scanner::cued_codes`]);
//! 7. telephone extensions, faxes and pagers (`ext. 4471`, [`Scanner::extensions`]).
//!
//! Everything found but a date (and a date under [`TextDates::Remove`]) becomes
//! [`REMOVED`]. Most texts hold fewer than 5 digits and neither `@` nor a URL: one pass over
//! their bytes rejects them ([`may_hold`]), before anything is allocated for the scan.
//!
//! The code values of coded concepts are not scanned ([`scans`]): they are vocabulary.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::OnceLock;

use chrono::{Datelike, Days, NaiveDate};
use dicom_core::Tag;
use dicom_dictionary_std::tags;

use crate::clean::{is_word, REMOVED};

/// The attributes of the Code Sequence Macro (PS3.3 Table 8.8-1) that name a concept in a
/// coding scheme: vocabulary, not identity (SNOMED CT's `39607008` is the lung, not an
/// identifier). They are cleaned of the file's identifying values, not scanned.
pub const CODES: [Tag; 5] = [
    tags::CODE_VALUE,
    tags::CODING_SCHEME_DESIGNATOR,
    tags::CODING_SCHEME_VERSION,
    tags::LONG_CODE_VALUE,
    tags::URN_CODE_VALUE,
];

/// Is the text of this attribute scanned when it is cleaned? All but [`CODES`].
pub fn scans(tag: Tag) -> bool {
    !CODES.contains(&tag)
}

/// What happens to a date written in text: what the profile does to the date attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextDates {
    /// Kept as written (Retain Longitudinal Temporal Information with Full Dates).
    Keep,
    /// Moved back by this many days and written in its own form again (Retain Longitudinal
    /// Temporal Information with Modified Dates); a numeric date whose order is ambiguous is
    /// removed.
    Shift(u64),
    /// Replaced by [`REMOVED`] (the profile removes the dates or gives them dummies).
    Remove,
}

/// Something found in a text: the characters `start..end` (indices of `char`s, not bytes) are
/// replaced by `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub start: usize,
    pub end: usize,
    pub with: Cow<'static, str>,
}

/// The fewest digits a phone number, a digit run, a letter-digit identifier or a cued number
/// holds, and a date with a four-digit year (`4 July 1966`).
const MIN_DIGITS: usize = 5;

/// The fewest digits a date holds (`4.3.21`, `1 Mar 21`).
const MIN_DATE_DIGITS: usize = 3;

/// The fewest digits a code after an identifier cue holds (`Proband P-0142`).
const MIN_CODE_DIGITS: usize = 2;

/// Can `bytes` (text in an ASCII-compatible character set) hold anything [`scan`] finds? No
/// when they hold fewer than `MIN_CODE_DIGITS` (2) digits, no `@`, no `://` and no `www.`.
pub fn may_hold(bytes: &[u8]) -> bool {
    let (digits, web) = survey(bytes);
    digits >= MIN_CODE_DIGITS || web
}

/// How many digits `bytes` hold, and whether they may hold an e-mail address or a URL.
fn survey(bytes: &[u8]) -> (usize, bool) {
    let mut digits = 0;
    let mut web = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'@' => web = true,
            b':' => web |= bytes[i + 1..].starts_with(b"//"),
            b'.' => {
                web |= (i >= 3 && bytes[i - 3..i].eq_ignore_ascii_case(b"www"))
                    || (i > 0 && bytes[i - 1].is_ascii_alphanumeric() && tld_at(bytes, i + 1))
            }
            _ => {}
        }
    }
    (digits, web)
}

/// What is found in one text value (not split on backslashes), sorted, not overlapping.
pub fn scan(text: &str, dates: TextDates) -> Vec<Found> {
    let (digits, web) = survey(text.as_bytes());
    if digits < MIN_CODE_DIGITS && !web {
        return Vec::new();
    }
    let mut c = Vec::with_capacity(text.len());
    c.extend(text.chars());
    let mut s = Scanner {
        c,
        dates,
        found: Vec::new(),
        groups: Vec::new(),
    };
    if web {
        s.web();
    }
    if digits >= MIN_DATE_DIGITS {
        s.dates();
    }
    if digits >= MIN_DIGITS {
        s.identifiers();
        s.phones();
        s.digit_runs();
        s.cued_numbers();
    }
    if digits >= MIN_CODE_DIGITS {
        s.cued_codes();
        s.extensions();
    }
    s.found.sort_by_key(|f| f.start);
    s.found
}

/// Month names by language and form, lower case: a date found with one is written again with
/// the same list (and the same case: `JUL`, `Jul`, `jul`).
const MONTHS: [[&str; 12]; 15] = [
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ],
    [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    [
        "januar",
        "februar",
        "märz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
    ],
    [
        "jan", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    [
        "janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc",
    ],
    // written without the accents
    [
        "januar",
        "februar",
        "maerz",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "dezember",
    ],
    [
        "janvier",
        "fevrier",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "aout",
        "septembre",
        "octobre",
        "novembre",
        "decembre",
    ],
    [
        "janv", "fevr", "mars", "avr", "mai", "juin", "juil", "aout", "sept", "oct", "nov", "dec",
    ],
    // Spanish, Italian, Dutch
    [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    // abbreviations in Spanish, Italian, Dutch (those not in a list above)
    [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic",
    ],
    [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ],
    [
        "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
    ],
];

/// Weekday names by language and form, Monday first, lower case: a weekday written before a
/// date (`Friday, 5 March 2021`) is written again for the shifted date. German two-letter
/// abbreviations count only with their dot (`Fr., 05.03.2021`).
const WEEKDAYS: [[&str; 7]; 6] = [
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ],
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    [
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
    ],
    ["mo", "di", "mi", "do", "fr", "sa", "so"],
    [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
    ["lun", "mar", "mer", "jeu", "ven", "sam", "dim"],
];

/// Other spellings of weekdays: (word, list of [`WEEKDAYS`], day from Monday).
const WEEKDAY_ALIASES: [(&str, usize, u32); 4] = [
    ("tues", 1, 1),
    ("thur", 1, 3),
    ("thurs", 1, 3),
    ("sonnabend", 2, 5),
];

/// Other spellings: (word, list of [`MONTHS`] to write the shifted date with, month).
const MONTH_ALIASES: [(&str, usize, u32); 7] = [
    ("sept", 1, 9), // English "Sept": written back as "Aug", "Oct"...
    ("jänner", 2, 1),
    ("jaenner", 6, 1),
    ("marz", 6, 3),
    ("mrz", 3, 3),
    ("fév", 5, 2),
    ("fev", 8, 2),
];

/// The month a word names (any case), and the list it comes from.
fn month_named(word: &[char]) -> Option<(usize, u32)> {
    // every name starts with one of these letters
    if !(3..=10).contains(&word.len())
        || !matches!(
            word[0].to_ascii_lowercase(),
            'a' | 'd' | 'e' | 'f' | 'g' | 'j' | 'l' | 'm' | 'n' | 'o' | 's'
        )
    {
        return None;
    }
    // the word in lower case, UTF-8, on the stack
    let mut buf = [0u8; 10 * 4];
    let mut len = 0;
    for &c in word {
        let mut lower = c.to_lowercase();
        let l = lower.next()?;
        if lower.next().is_some() {
            return None;
        }
        len += l.encode_utf8(&mut buf[len..]).len();
    }
    let key = std::str::from_utf8(&buf[..len]).ok()?;
    month_names().get(key).copied()
}

/// The weekday a word names (any case), and the list it comes from.
fn weekday_named(word: &[char]) -> Option<(usize, u32)> {
    if !(2..=10).contains(&word.len()) || !word.iter().all(char::is_ascii_alphabetic) {
        return None;
    }
    let mut buf = [0u8; 10];
    for (b, c) in buf.iter_mut().zip(word) {
        *b = c.to_ascii_lowercase() as u8;
    }
    let key = std::str::from_utf8(&buf[..word.len()]).ok()?;
    static NAMES: OnceLock<HashMap<&'static str, (usize, u32)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names = HashMap::new();
        for &(word, list, day) in &WEEKDAY_ALIASES {
            names.entry(word).or_insert((list, day));
        }
        for (list, words) in WEEKDAYS.iter().enumerate() {
            for (d, &word) in words.iter().enumerate() {
                names.entry(word).or_insert((list, d as u32));
            }
        }
        names
    });
    names.get(key).copied()
}

/// Every month name and alias: (list of [`MONTHS`], month). Where a name is in several lists
/// (`mai`, `jan`), the first wins: the aliases, then the lists in their order.
fn month_names() -> &'static HashMap<&'static str, (usize, u32)> {
    static NAMES: OnceLock<HashMap<&'static str, (usize, u32)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = HashMap::new();
        for &(word, list, month) in &MONTH_ALIASES {
            names.entry(word).or_insert((list, month));
        }
        for (list, words) in MONTHS.iter().enumerate() {
            for (m, &word) in words.iter().enumerate() {
                names.entry(word).or_insert((list, m as u32 + 1));
            }
        }
        names
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Lower,
    Upper,
    Title,
}

fn case_of(word: &[char]) -> Case {
    let letters = || word.iter().filter(|c| c.is_alphabetic());
    if letters().count() > 1 && letters().all(|c| c.is_uppercase()) {
        Case::Upper
    } else if word.first().is_some_and(|c| c.is_uppercase()) {
        Case::Title
    } else {
        Case::Lower
    }
}

fn with_case(word: &str, case: Case) -> String {
    match case {
        Case::Lower => word.to_string(),
        Case::Upper => word.to_uppercase(),
        Case::Title => {
            let mut c = word.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// How a field of a date was written, to write the shifted date the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// Digits, zero-padded to this width: 2 in `04/03/2021` and `2021-03-04` (and in numeric
    /// forms such as `23/11/1966`), 1 in `4.3.2021` and `2021-3-4`. A day written with a
    /// month name is padded when written `04`, or with two digits between hyphens or slashes
    /// (`13-Jul-1966`), not in `13 July 1966`.
    Number(usize),
    /// A month name from this list of [`MONTHS`], in this case.
    MonthName(usize, Case),
    /// A weekday name from this list of [`WEEKDAYS`], in this case.
    WeekdayName(usize, Case),
    /// A day with an ordinal suffix: English (`13th`, in this case), or French (`1er`).
    Ordinal(usize, Option<Case>),
    /// The first of a month written with this mark (`1º de marzo`, `1° marzo`): the mark is
    /// written on the first only.
    FirstMark(usize, char),
    /// A month in Roman numerals, in capitals (`13.VII.1966`).
    Roman,
}

/// The months in Roman numerals, as day-month-year dates write them (`13.VII.1966`).
const ROMAN_MONTHS: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

#[derive(Debug, Clone)]
struct DateMatch {
    start: usize,
    end: usize,
    date: NaiveDate,
    /// Day and month could be read either way (`04/03/2021`).
    ambiguous: bool,
    /// Where the year, month and day are written (character ranges) and how.
    year: (usize, usize),
    month: (usize, usize, Field),
    day: (usize, usize, Field),
    /// A weekday written before the date (`Friday, March 5, 2021`).
    weekday: Option<(usize, usize, Field)>,
}

/// The width numbers of a numeric date are written again with: 1 when the day or the month
/// was written with one digit (`4.3.2021`), else 2.
fn numeric_pad(a: usize, b: usize) -> usize {
    if a == 1 || b == 1 {
        1
    } else {
        2
    }
}

/// A valid date of the range dates are looked for in (1900 to 2100).
fn date_of(y: u32, m: u32, d: u32) -> Option<NaiveDate> {
    if !(1900..=2100).contains(&y) {
        return None;
    }
    NaiveDate::from_ymd_opt(y as i32, m, d)
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\u{a0}'
}

/// Letters and digits joined by a single `-` or `_`: the tokens identifiers are looked for in.
fn is_joiner(c: char) -> bool {
    c == '-' || c == '_'
}

/// Units a number may be written with, lower case: `10000ms` is a measurement, not an
/// identifier.
const UNITS: [&str; 52] = [
    "mm", "cm", "m", "um", "µm", "μm", "nm", "ms", "us", "µs", "μs", "s", "sec", "min", "h", "hz",
    "khz", "mhz", "ghz", "kv", "kvp", "v", "ma", "mas", "mgy", "gy", "cgy", "ugy", "µgy", "sv",
    "msv", "usv", "µsv", "bq", "kbq", "mbq", "gbq", "mci", "uci", "µci", "mg", "g", "kg", "ug",
    "µg", "ml", "ul", "l", "iu", "ppm", "px", "cps",
];

/// Is this part of a token a measurement: a b-value (`b10000`), a number and a unit
/// (`10000ms`), a size (`512x512`, `256x256x128mm`), or a range or list of them joined by `-`
/// (`b0-b1000`, `b0-500-1000`, `5-10mm`: bare numbers of up to 4 digits among them, one
/// measurement at least)?
fn is_measurement(part: &[char]) -> bool {
    if part.contains(&'-') {
        let mut pieces = part.split(|&c| c == '-');
        return pieces
            .clone()
            .all(|p| !p.is_empty() && measurement_or_number(p))
            && pieces.any(measurement_piece);
    }
    measurement_piece(part)
}

fn measurement_or_number(piece: &[char]) -> bool {
    (piece.len() <= 4 && piece.iter().all(char::is_ascii_digit)) || measurement_piece(piece)
}

/// A measurement without `-`: a b-value, a number and a unit, a size.
fn measurement_piece(part: &[char]) -> bool {
    let mut pieces = part.split(|&c| matches!(c, 'x' | 'X' | '×'));
    if pieces.clone().count() > 1 {
        let last = pieces.next_back().unwrap_or_default();
        return pieces.all(|p| !p.is_empty() && p.iter().all(char::is_ascii_digit))
            && last.first().is_some_and(char::is_ascii_digit)
            && is_number_and_unit(last, true);
    }
    is_number_and_unit(part, false)
}

/// A b-value (`b10000`), a number and a unit (`10000ms`), or, when `bare`, a number alone.
fn is_number_and_unit(part: &[char], bare: bool) -> bool {
    let digits = part.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return matches!(part.first(), Some('b' | 'B'))
            && part.len() > 1
            && part[1..].iter().all(char::is_ascii_digit);
    }
    let unit: String = part[digits..]
        .iter()
        .flat_map(|c| c.to_lowercase())
        .collect();
    (bare && unit.is_empty()) || UNITS.contains(&unit.as_str())
}

/// A letter-digit identifier (`MRN12345`, `AB-123456`, `ACC2021-0042`, `PAT_123456`): a token
/// (letters and digits joined by single `-` or `_`) holding a letter, with a part between
/// underscores that holds 5 digits or more and either a letter or a run of 5 digits, and is not
/// a measurement. So `ep2d_diff_b1000`, `3D_T1_MPRAGE`, `T1W` and `b10000` are no identifiers:
/// the digits of a sequence name are spread over its parts.
fn is_identifier(token: &[char]) -> bool {
    if !token.iter().any(|c| c.is_alphabetic()) {
        return false;
    }
    token.split(|&c| c == '_').any(|part| {
        let digits = part.iter().filter(|c| c.is_ascii_digit()).count();
        if digits < 5 || is_measurement(part) {
            return false;
        }
        let longest = part
            .split(|c| !c.is_ascii_digit())
            .map(<[char]>::len)
            .max()
            .unwrap_or(0);
        part.iter().any(|c| c.is_alphabetic()) || longest >= 5
    })
}

/// Top-level domains a bare domain name (no `http://`, no `www.`) is recognised by: the
/// generic ones and the country codes of the languages the cleaning reads, so that `e.g.`,
/// `Fig.3` or `T2.w` are no domains.
const TLDS: [&str; 32] = [
    "com", "org", "net", "edu", "gov", "int", "info", "io", "health", "hospital", "de", "fr", "nl",
    "it", "es", "uk", "eu", "ch", "at", "be", "lu", "se", "no", "dk", "fi", "pl", "pt", "ie", "ca",
    "us", "au", "nz",
];

/// Is there a top-level domain of [`TLDS`] at `i` of `bytes`, ending on a boundary?
fn tld_at(bytes: &[u8], i: usize) -> bool {
    TLDS.iter().any(|t| {
        let e = i + t.len();
        bytes.len() >= e
            && bytes[i..e].eq_ignore_ascii_case(t.as_bytes())
            && !bytes.get(e).is_some_and(|b| b.is_ascii_alphanumeric())
    })
}

/// Words before a version number (lower case): `4.3.21` after them is no date.
const VERSION_WORDS: [&str; 14] = [
    "version", "versión", "versione", "versie", "ver", "vers", "v", "software", "sw", "release",
    "build", "firmware", "rev", "revision",
];

/// Words before a number that say it is an identifier (lower case); `#` too. A number of
/// [`MIN_DIGITS`] after any of them is removed ([`Scanner::cued_numbers`]); a shorter code
/// (`Nr. A-1234`) only when it holds a letter ([`Scanner::cued_codes`]): `No. 120` may be an
/// image number.
const CUES: [&str; 12] = [
    "id", "nr", "no", "nº", "n°", "case", "patient", "fall", "dossier", "numéro", "número",
    "numero",
];

/// Words that say the token after them is an identifier whatever its shape: a number of
/// [`MIN_DIGITS`], or a code of 4 characters or more with 2 digits (`Proband P-0142`,
/// `Zugangscode BP-7K3Q-99XZ`, `MRN 4471`). Lower case.
const STRONG_CUES: [&str; 56] = [
    "mrn",
    "pid",
    "ipp",
    "acc",
    "accn",
    "accession",
    "subject",
    "participant",
    "proband",
    "probandin",
    "teilnehmer",
    "teilnehmerin",
    "sujet",
    "sujeto",
    "soggetto",
    "deelnemer",
    "fallnummer",
    "fallnr",
    "patientennummer",
    "versichertennr",
    "versichertennummer",
    "auftragsnummer",
    "auftragsnr",
    "befundnummer",
    "aanvraagnummer",
    "ordernummer",
    "requisition",
    "nhc",
    "nhs",
    "ssn",
    "ahv",
    "bsn",
    "nip",
    "code",
    "zugangscode",
    "accesscode",
    "toegangscode",
    "passcode",
    "password",
    "passwort",
    "kennwort",
    "wachtwoord",
    "pin",
    "codice",
    "código",
    "codigo",
    "accesso",
    "acceso",
    "accès",
    "login",
    // a key to a portal ("clave K7P-93QD", "chiave R4T-88KQ")
    "key",
    "clave",
    "chiave",
    "clé",
    "sleutel",
    "schlüssel",
];

/// Words that say the short number after them is a telephone extension, a fax or a pager
/// (lower case): `ext. 4471`, `Durchwahl 4471`, `poste 4471`, `Tel. 4471`. A number of 3 to 6
/// digits after one of them (and `.`, `:`, `#` or spaces) is removed
/// ([`Scanner::extensions`]); longer ones are phone numbers ([`Scanner::phones`]).
const EXTENSION_CUES: [&str; 29] = [
    "ext",
    "extn",
    "extension",
    "durchwahl",
    "dw",
    "apparat",
    "nebenstelle",
    "poste",
    "interno",
    "extensión",
    "toestel",
    "tst",
    "tel",
    "tél",
    "telefon",
    "telephone",
    "téléphone",
    "teléfono",
    "telefono",
    "telefoon",
    "phone",
    "fax",
    "telefax",
    "mobile",
    "bleep",
    "pager",
    "pieper",
    "piepser",
    "bip",
];

/// Endings of German and Dutch compounds that name an identifier (`Patientencode`,
/// `Zugangsschlüssel`, `Opnamenummer`, `Studiennr`): such a word is a strong cue, as the words
/// of [`STRONG_CUES`] are, when 3 letters or more come before its ending.
const STRONG_CUE_ENDINGS: [&str; 5] = ["nummer", "code", "schlüssel", "kennung", "nr"];

/// Is `word` (lower case) a compound of [`STRONG_CUE_ENDINGS`]?
fn strong_compound(word: &str) -> bool {
    STRONG_CUE_ENDINGS.iter().any(|e| {
        word.strip_suffix(e)
            .is_some_and(|head| head.chars().count() >= 3)
    })
}

/// How strongly what comes before a token says it is an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// `#` or a word of [`CUES`].
    Weak,
    /// A word of [`STRONG_CUES`].
    Strong,
}

/// A group of digits of a phone number.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    digits: usize,
    /// Written in parentheses: `(555)`, `(0)`.
    paren: bool,
    /// The separator before it (`'\0'` for the first group and after a parenthesis).
    sep: char,
}

struct Scanner {
    /// The text's characters; what is claimed becomes `'\0'`, which no recognizer reads.
    c: Vec<char>,
    dates: TextDates,
    found: Vec<Found>,
    /// The groups of a phone number being read.
    groups: Vec<Group>,
}

impl Scanner {
    fn at(&self, i: usize) -> char {
        self.c.get(i).copied().unwrap_or('\0')
    }

    fn before(&self, i: usize) -> char {
        if i == 0 {
            '\0'
        } else {
            self.c[i - 1]
        }
    }

    fn digit(&self, i: usize) -> bool {
        self.at(i).is_ascii_digit()
    }

    fn digits_from(&self, i: usize) -> usize {
        self.c
            .get(i..)
            .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
    }

    fn number(&self, i: usize, n: usize) -> u32 {
        self.c[i..i + n]
            .iter()
            .fold(0, |v, c| v * 10 + c.to_digit(10).unwrap_or(0))
    }

    fn starts_with_ci(&self, i: usize, s: &str) -> bool {
        let n = s.chars().count();
        self.c.get(i..i + n).is_some_and(|w| {
            w.iter()
                .zip(s.chars())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
        })
    }

    fn claim(&mut self, start: usize, end: usize, with: Option<Cow<'static, str>>) {
        self.c[start..end].iter_mut().for_each(|c| *c = '\0');
        if let Some(with) = with {
            self.found.push(Found { start, end, with });
        }
    }

    // --- URLs and e-mail addresses -----------------------------------------------------------

    fn web(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            let url = matches!(self.c[i], 'h' | 'H' | 'f' | 'F' | 'w' | 'W')
                && !is_word(self.before(i))
                && (self.starts_with_ci(i, "http://")
                    || self.starts_with_ci(i, "https://")
                    || self.starts_with_ci(i, "ftp://")
                    || (self.starts_with_ci(i, "www.") && is_word(self.at(i + 4))));
            if !url {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < n
                && !self.c[j].is_whitespace()
                && !matches!(self.c[j], '\0' | '"' | '<' | '>')
            {
                j += 1;
            }
            while j > i
                && matches!(
                    self.c[j - 1],
                    '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '\'' | '"'
                )
            {
                j -= 1;
            }
            self.claim(i, j, Some(Cow::Borrowed(REMOVED)));
            i = j;
        }
        // a bare domain name: `vpn.example-teleradiology.com`, `pacs.hospital.de`
        let mut i = 0;
        while i < n {
            // not inside a word, a longer name, or an e-mail address's domain
            let before = self.before(i);
            if !is_word(self.c[i]) || is_word(before) || matches!(before, '.' | '@' | '/') {
                i += 1;
                continue;
            }
            match self.domain_at(i) {
                Some(e) => {
                    self.claim(i, e, Some(Cow::Borrowed(REMOVED)));
                    i = e;
                }
                None => i += 1,
            }
        }
        for at in 0..n {
            if self.c[at] == '@' {
                if let Some((s, e)) = self.email_around(at) {
                    self.claim(s, e, Some(Cow::Borrowed(REMOVED)));
                }
            }
        }
    }

    /// A domain name starting at `i`: labels of letters, digits and `-` joined by `.`, the
    /// last a top-level domain of [`TLDS`], one label with a letter and of 2 characters or
    /// more before it; where it ends (a path after `/` goes with it).
    fn domain_at(&self, i: usize) -> Option<usize> {
        let n = self.c.len();
        let mut e = i;
        let mut labels: Vec<(usize, usize)> = Vec::new();
        loop {
            let s = e;
            while e < n && (is_word(self.c[e]) || self.c[e] == '-') {
                e += 1;
            }
            if e == s {
                return None;
            }
            labels.push((s, e));
            if self.at(e) == '.' && e + 1 < n && is_word(self.c[e + 1]) {
                e += 1;
            } else {
                break;
            }
        }
        if labels.len() < 2 {
            return None;
        }
        let (ts, te) = labels[labels.len() - 1];
        let tld: String = self.c[ts..te]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        let (ps, pe) = labels[labels.len() - 2];
        let named = self.c[ps..pe].iter().any(|c| c.is_alphabetic()) && pe - ps >= 2;
        if !TLDS.contains(&tld.as_str()) || !named {
            return None;
        }
        // a path goes with it
        if self.at(e) == '/' {
            while e < n && !self.c[e].is_whitespace() && !matches!(self.c[e], ',' | ';' | ')') {
                e += 1;
            }
        }
        Some(e)
    }

    /// The e-mail address around the `@` at `at`: a local part of letters, digits and `._%+-`,
    /// and a domain of two labels or more whose last is made of 2 letters or more.
    fn email_around(&self, at: usize) -> Option<(usize, usize)> {
        let local = |c: char| is_word(c) || matches!(c, '.' | '_' | '%' | '+' | '-');
        let mut s = at;
        while s > 0 && local(self.c[s - 1]) {
            s -= 1;
        }
        while s < at && !is_word(self.c[s]) {
            s += 1;
        }
        if s == at {
            return None;
        }
        let n = self.c.len();
        let (mut e, mut labels, mut last) = (at + 1, 0, at + 1);
        loop {
            let label = e;
            while e < n && (is_word(self.c[e]) || self.c[e] == '-') {
                e += 1;
            }
            if e == label {
                break;
            }
            labels += 1;
            last = label;
            if self.at(e) == '.' && is_word(self.at(e + 1)) {
                e += 1;
            } else {
                break;
            }
        }
        let tld = &self.c[last..e];
        (labels >= 2 && tld.len() >= 2 && tld.iter().all(|c| c.is_alphabetic())).then_some((s, e))
    }

    // --- dates ------------------------------------------------------------------------------

    /// Dates, in these forms (day `D` and month `M` of 1 or 2 digits, year `YYYY` of 4, 1900 to
    /// 2100; any of `-`, `/`, `.` as the separator of a numeric form, the same twice):
    ///
    /// - `YYYYMMDD` on word boundaries, and date-times `YYYYMMDDHH[MM[SS[.F]]][&ZZXX]` (the
    ///   date part moves, the rest stays, as [`crate::clean::shift_dt`] does);
    /// - year first: `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `1966-Jul-13`;
    /// - day or month first: `DD/MM/YYYY` or `MM/DD/YYYY` (also with `-` and `.`): when both
    ///   readings are valid dates and differ (`04/03/2021`), the date is ambiguous;
    /// - with a month name (English, German, French; full or abbreviated, any case, with or
    ///   without the abbreviation's dot): `13-Jul-1966`, `13 July 1966`, `13. Juli 1966`,
    ///   `1er janvier 2021`, `13th July, 1966`, `July 13, 1966`, `Jul 13 1966`.
    ///
    /// A time after `T` (`2021-03-04T10:22:33`, `20210304T102233`) belongs to the date; one
    /// after a space (`2021-03-04 10:22`) is a time alone, and kept. A date must not touch a
    /// letter or a digit, nor continue a dotted number (`1.2.20210304`, `0.20210304`).
    fn dates(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            let ch = self.c[i];
            let found = if ch.is_ascii_digit() && self.date_left_ok(i) {
                self.date_from_digits(i)
            } else if ch.is_alphabetic() && !is_word(self.before(i)) {
                self.date_from_month(i)
            } else {
                None
            };
            match found {
                Some(m) => {
                    i = m.end;
                    self.emit_date(m);
                }
                None => i += 1,
            }
        }
    }

    fn date_left_ok(&self, i: usize) -> bool {
        let p = self.before(i);
        !(is_word(p) || (p == '.' && i >= 2 && self.c[i - 2].is_ascii_digit()))
    }

    /// Where a date ending at `e` ends, with a time after `T`; `None` if it does not end on a
    /// boundary.
    fn date_end(&self, e: usize) -> Option<usize> {
        let mut e = e;
        if self.at(e) == 'T' && self.digit(e + 1) {
            e += 1;
            while self.digit(e) || (matches!(self.at(e), ':' | '.') && self.digit(e + 1)) {
                e += 1;
            }
            e = self.zone_end(e);
        }
        let next = self.at(e);
        (!(is_word(next) || (next == '.' && self.digit(e + 1)))).then_some(e)
    }

    /// After a time: `Z`, `+0100`, `-05:00`.
    fn zone_end(&self, e: usize) -> usize {
        if self.at(e) == 'Z' {
            return e + 1;
        }
        if matches!(self.at(e), '+' | '-') {
            if self.digits_from(e + 1) == 4 {
                return e + 5;
            }
            if self.digits_from(e + 1) == 2 && self.at(e + 3) == ':' && self.digits_from(e + 4) == 2
            {
                return e + 6;
            }
        }
        e
    }

    fn date_from_digits(&self, i: usize) -> Option<DateMatch> {
        match self.digits_from(i) {
            l if l >= 8 => self.compact_date(i, l),
            4 => self.year_first(i),
            1 | 2 => self.day_first(i),
            _ => None,
        }
    }

    /// `YYYYMMDD`, and the date-times that start with it.
    fn compact_date(&self, i: usize, l: usize) -> Option<DateMatch> {
        let date = date_of(
            self.number(i, 4),
            self.number(i + 4, 2),
            self.number(i + 6, 2),
        )?;
        let mut e = i + l;
        if l > 8 {
            // a DT: hours, minutes, seconds, a fraction, an offset from UTC
            let fields = [(8, 24), (10, 60), (12, 61)];
            if !matches!(l, 10 | 12 | 14)
                || fields
                    .iter()
                    .take((l - 8) / 2)
                    .any(|&(at, limit)| self.number(i + at, 2) >= limit)
            {
                return None;
            }
            if l == 14 && self.at(e) == '.' && (1..=6).contains(&self.digits_from(e + 1)) {
                e += 1 + self.digits_from(e + 1);
            }
            if matches!(self.at(e), '+' | '-') && self.digits_from(e + 1) == 4 {
                e += 5;
            }
        }
        Some(DateMatch {
            start: i,
            end: self.date_end(e)?,
            date,
            ambiguous: false,
            year: (i, i + 4),
            month: (i + 4, i + 6, Field::Number(2)),
            day: (i + 6, i + 8, Field::Number(2)),
            weekday: None,
        })
    }

    /// Is the word before `i` (across spaces and a `:`) one that names a version (`Software
    /// 4.3.21`, `Version: 1.2.10`)?
    fn after_version_word(&self, i: usize) -> bool {
        let mut k = i;
        while k > 0 && i - k < 3 && matches!(self.c[k - 1], ' ' | '\u{a0}' | ':') {
            k -= 1;
        }
        let w = self.c[..k]
            .iter()
            .rev()
            .take_while(|c| c.is_alphabetic())
            .count();
        if k == i || w == 0 || w > 10 {
            return false;
        }
        let word: String = self.c[k - w..k]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        VERSION_WORDS.contains(&word.as_str())
    }

    /// A year in two digits at `i`, or after an apostrophe (`21`, `'21`): its value and where
    /// it ends.
    fn two_digit_year(&self, i: usize) -> Option<(u32, usize)> {
        let at = if matches!(self.at(i), '\'' | '’') {
            i + 1
        } else {
            i
        };
        (self.digits_from(at) == 2).then(|| (self.number(at, 2), at + 2))
    }

    /// A number of 1 or 2 digits at `i`: its value and where it ends.
    fn short_number(&self, i: usize) -> Option<(u32, usize)> {
        let n = self.digits_from(i);
        (1..=2).contains(&n).then(|| (self.number(i, n), i + n))
    }

    /// A year of exactly 4 digits at `i`.
    fn year_at(&self, i: usize) -> Option<u32> {
        (self.digits_from(i) == 4).then(|| self.number(i, 4))
    }

    /// The separator of a date written with a month name, from `j`: spaces (after an optional
    /// `.` or `,`), a lone `.` or `,`, a `-` or a `/`. Where what follows starts.
    fn name_sep(&self, j: usize) -> Option<usize> {
        let mut k = j;
        if matches!(self.at(k), '.' | ',') {
            k += 1;
        }
        let spaces = self.c.get(k..).map_or(0, |s| {
            s.iter().take(3).take_while(|&&c| is_space(c)).count()
        });
        if spaces > 0 {
            // Spanish joins day, month and year with "de" ("4 de marzo de 2021", "del 2021"),
            // English may with "of" ("4th of March 2021")
            let p = k + spaces;
            let joiner = ["de ", "del ", "of "]
                .iter()
                .find(|w| self.starts_with_ci(p, w))
                .map_or(0, |w| w.len());
            Some(p + joiner)
        } else if k > j {
            Some(k)
        } else if matches!(self.at(k), '-' | '/') {
            Some(k + 1)
        } else {
            None
        }
    }

    /// A month name at `j`: (end, list, month, case).
    fn month_at(&self, j: usize) -> Option<(usize, usize, u32, Case)> {
        let n = self
            .c
            .get(j..)?
            .iter()
            .take_while(|c| c.is_alphabetic())
            .count();
        let word = &self.c[j..j + n];
        let (list, month) = month_named(word)?;
        Some((j + n, list, month, case_of(word)))
    }

    /// A day of 1 or 2 digits at `i` with an optional ordinal suffix (`13th`, `1er`): (day,
    /// end, field).
    fn day_at(&self, i: usize) -> Option<(u32, usize, Field)> {
        let (day, e) = self.short_number(i)?;
        let letters = self.c[e..].iter().take_while(|c| c.is_alphabetic()).count();
        // `13-Jul-1966` is padded (`03-Jul-1966`), `13 July 1966` is not (`3 July 1966`)
        let compact = matches!(self.before(i), '-' | '/') || matches!(self.at(e), '-' | '/');
        let width = if e - i == 2 && (self.c[i] == '0' || compact) {
            2
        } else {
            1
        };
        if day == 1 && matches!(self.at(e), 'º' | '°') {
            return Some((day, e + 1, Field::FirstMark(width, self.c[e])));
        }
        if letters == 0 {
            return Some((day, e, Field::Number(width)));
        }
        let suffix: String = self.c[e..e + letters]
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match suffix.as_str() {
            "st" | "nd" | "rd" | "th" => Some((
                day,
                e + letters,
                Field::Ordinal(width, Some(case_of(&self.c[e..e + letters]))),
            )),
            "er" if day == 1 => Some((day, e + letters, Field::Ordinal(width, None))),
            _ => None,
        }
    }

    /// `YYYY-MM-DD` (or `/`, `.`), `1966-Jul-13`.
    fn year_first(&self, i: usize) -> Option<DateMatch> {
        let y = self.number(i, 4);
        let s = self.at(i + 4);
        if matches!(s, '-' | '/' | '.') && self.digit(i + 5) {
            let (m, me) = self.short_number(i + 5)?;
            if self.at(me) != s {
                return None;
            }
            let (d, de) = self.short_number(me + 1)?;
            let pad = numeric_pad(me - i - 5, de - me - 1);
            return Some(DateMatch {
                start: i,
                end: self.date_end(de)?,
                date: date_of(y, m, d)?,
                ambiguous: false,
                year: (i, i + 4),
                month: (i + 5, me, Field::Number(pad)),
                day: (me + 1, de, Field::Number(pad)),
                weekday: None,
            });
        }
        let j = self.name_sep(i + 4)?;
        let (me, list, m, case) = self.month_at(j)?;
        let k = self.name_sep(me)?;
        let (d, de, field) = self.day_at(k)?;
        Some(DateMatch {
            start: i,
            end: self.date_end(de)?,
            date: date_of(y, m, d)?,
            ambiguous: false,
            year: (i, i + 4),
            month: (j, me, Field::MonthName(list, case)),
            day: (k, de, field),
            weekday: None,
        })
    }

    /// `DD/MM/YYYY`, `MM/DD/YYYY` (or `-`, `.`), `13-Jul-1966`, `13 July 1966`.
    fn day_first(&self, i: usize) -> Option<DateMatch> {
        let (a, ae) = self.short_number(i)?;
        let s = self.at(ae);
        // `4. 3. 2021`: a space after each dot, as German is often typed
        let g = usize::from(s == '.' && self.at(ae + 1) == ' ');
        if matches!(s, '-' | '/' | '.') && self.digit(ae + 1 + g) {
            let bs = ae + 1 + g;
            let (b, be) = self.short_number(bs)?;
            if self.at(be) != s || (g == 1 && self.at(be + 1) != ' ') {
                return None;
            }
            let ys = be + 1 + g;
            if let Some((yy, ye)) = self.two_digit_year(ys) {
                // a year in two digits (`05.03.21`, `7/13/66`, `04-03-'21`): the century, and
                // so the shift written back, would be a guess: removed, as an ambiguous order
                // is; but a version is no date (`Software 4.3.21`)
                if s == '.' && self.after_version_word(i) {
                    return None;
                }
                let end = self.date_end(ye)?;
                let valid = |y| date_of(y, b, a).or_else(|| date_of(y, a, b));
                let date = valid(2000 + yy).or_else(|| valid(1900 + yy))?;
                let first = (i, ae, Field::Number(2));
                let second = (bs, be, Field::Number(2));
                return Some(DateMatch {
                    start: i,
                    end,
                    date,
                    ambiguous: true,
                    year: (ys, ye),
                    month: second,
                    day: first,
                    weekday: None,
                });
            }
            let y = self.year_at(ys)?;
            let end = self.date_end(ys + 4)?;
            let day_first = date_of(y, b, a);
            let month_first = date_of(y, a, b);
            let pad = numeric_pad(ae - i, be - bs);
            let first = (i, ae, Field::Number(pad));
            let second = (bs, be, Field::Number(pad));
            let (date, month, day) = match (day_first, month_first) {
                (Some(d), _) => (d, second, first),
                (None, Some(d)) => (d, first, second),
                (None, None) => return None,
            };
            return Some(DateMatch {
                start: i,
                end,
                date,
                // 05/05/2021 too: the shifted date could not be written in the right order
                ambiguous: day_first.is_some() && month_first.is_some(),
                year: (ys, ys + 4),
                month,
                day,
                weekday: None,
            });
        }
        if let Some(m) = self.roman_month_date(i, a, ae) {
            return Some(m);
        }
        // glued in capitals: `04MAR2021`, `4MAR21`
        let (d, de, field, glued) = match self.day_at(i) {
            Some((d, de, field)) => (d, de, field, false),
            None => {
                let (d, de) = self.short_number(i)?;
                if !self.at(de).is_ascii_uppercase() {
                    return None;
                }
                (d, de, Field::Number(de - i), true)
            }
        };
        let j = if glued { de } else { self.name_sep(de)? };
        let (me, list, m, case) = self.month_at(j)?;
        let k = if glued && self.digit(me) {
            me
        } else {
            self.name_sep(me)?
        };
        if let Some((yy, ye)) = self.two_digit_year(k) {
            // `04 Mar 21`, `4-MAR-21`, `4th Mar '21`: a year in two digits is removed
            // (`day_first` above)
            let date = date_of(2000 + yy, m, d).or_else(|| date_of(1900 + yy, m, d))?;
            return Some(DateMatch {
                start: i,
                end: self.date_end(ye)?,
                date,
                ambiguous: true,
                year: (k, ye),
                month: (j, me, Field::MonthName(list, case)),
                day: (i, de, field),
                weekday: None,
            });
        }
        let y = self.year_at(k)?;
        Some(DateMatch {
            start: i,
            end: self.date_end(k + 4)?,
            date: date_of(y, m, d)?,
            ambiguous: false,
            year: (k, k + 4),
            month: (j, me, Field::MonthName(list, case)),
            day: (i, de, field),
            weekday: None,
        })
    }

    /// A month in Roman numerals between a day (`d` at `i`, ending at `de`) and a year: the
    /// same `.`, `-`, `/` or space on both sides of the month, a `.` maybe followed by a space
    /// (`13.VII.1966`, `13-VII-1966`, `13 VII 1966`, `13. VII. 1966`); a year in two digits is
    /// removed (`4.III.21`), as in the other forms.
    fn roman_month_date(&self, i: usize, d: u32, de: usize) -> Option<DateMatch> {
        let sep = self.at(de);
        if !matches!(sep, '.' | '-' | '/' | ' ') {
            return None;
        }
        let spaced = |k: usize| {
            if sep == '.' && self.at(k) == ' ' {
                k + 1
            } else {
                k
            }
        };
        let ms = spaced(de + 1);
        let letters = self.c[ms..]
            .iter()
            .take_while(|c| matches!(c, 'I' | 'V' | 'X'))
            .count();
        let me = ms + letters;
        let numeral: String = self.c[ms..me].iter().collect();
        let m = ROMAN_MONTHS.iter().position(|&r| r == numeral)? as u32 + 1;
        if self.at(me) != sep {
            return None;
        }
        let k = spaced(me + 1);
        // written again padded when it was (`05.III.2021`), else not (`13.VII.1966`: `3.VII`)
        let field = Field::Number(if self.c[i] == '0' { 2 } else { 1 });
        if let Some((yy, ye)) = self.two_digit_year(k) {
            let date = date_of(2000 + yy, m, d).or_else(|| date_of(1900 + yy, m, d))?;
            return Some(DateMatch {
                start: i,
                end: self.date_end(ye)?,
                date,
                ambiguous: true,
                year: (k, ye),
                month: (ms, me, Field::Roman),
                day: (i, de, field),
                weekday: None,
            });
        }
        let y = self.year_at(k)?;
        Some(DateMatch {
            start: i,
            end: self.date_end(k + 4)?,
            date: date_of(y, m, d)?,
            ambiguous: false,
            year: (k, k + 4),
            month: (ms, me, Field::Roman),
            day: (i, de, field),
            weekday: None,
        })
    }

    /// `July 13, 1966`, `Jul 13 1966`, `Jul. 13th, 1966`.
    fn date_from_month(&self, i: usize) -> Option<DateMatch> {
        let letters = self.c[i..].iter().take_while(|c| c.is_alphabetic()).count();
        // cheap tests first: every word of the text comes here
        if !(3..=10).contains(&letters)
            || !self.c[i + letters..]
                .iter()
                .take(3)
                .any(char::is_ascii_digit)
        {
            return None;
        }
        let (me, list, m, case) = self.month_at(i)?;
        let k = self.name_sep(me)?;
        let (d, de, field) = self.day_at(k)?;
        let j = self.name_sep(de)?;
        if let Some((yy, ye)) = self
            .two_digit_year(j)
            .filter(|_| matches!(self.at(j), '\'' | '’'))
        {
            // `Mar 4 '21` (not `Mar 4 21`, which may be a list of numbers): removed
            let date = date_of(2000 + yy, m, d).or_else(|| date_of(1900 + yy, m, d))?;
            return Some(DateMatch {
                start: i,
                end: self.date_end(ye)?,
                date,
                ambiguous: true,
                year: (j, ye),
                month: (i, me, Field::MonthName(list, case)),
                day: (k, de, field),
                weekday: None,
            });
        }
        let y = self.year_at(j)?;
        Some(DateMatch {
            start: i,
            end: self.date_end(j + 4)?,
            date: date_of(y, m, d)?,
            ambiguous: false,
            year: (j, j + 4),
            month: (i, me, Field::MonthName(list, case)),
            day: (k, de, field),
            weekday: None,
        })
    }

    fn emit_date(&mut self, mut m: DateMatch) {
        if let Some((start, end, field)) = self.weekday_before(m.start) {
            m.weekday = Some((start, end, field));
            m.start = start;
        }
        let with = match self.dates {
            TextDates::Keep => None,
            TextDates::Remove => Some(Cow::Borrowed(REMOVED)),
            TextDates::Shift(_) if m.ambiguous => Some(Cow::Borrowed(REMOVED)),
            TextDates::Shift(days) => Some(m.date.checked_sub_days(Days::new(days)).map_or_else(
                || Cow::Borrowed(REMOVED),
                |d| Cow::Owned(self.write_date(&m, d)),
            )),
        };
        self.claim(m.start, m.end, with);
    }

    /// A weekday name just before a date at `start`, separated by spaces, a comma or a dot.
    fn weekday_before(&self, start: usize) -> Option<(usize, usize, Field)> {
        let mut k = start;
        while k > 0 && start - k < 3 && matches!(self.c[k - 1], ' ' | '\u{a0}' | ',' | '.') {
            k -= 1;
        }
        let w = self.c[..k]
            .iter()
            .rev()
            .take_while(|c| c.is_alphabetic())
            .count();
        if k == start || w == 0 || is_word(self.before(k - w)) {
            return None;
        }
        let word = &self.c[k - w..k];
        let (list, _) = weekday_named(word)?;
        // "Fr." and "Di." with their dot only: "so", "do" are words
        if w == 2 && self.c[k] != '.' {
            return None;
        }
        Some((k - w, k, Field::WeekdayName(list, case_of(word))))
    }

    /// `date` written as `m` was: its separators, the width of its numbers, its month and
    /// weekday names.
    fn write_date(&self, m: &DateMatch, date: NaiveDate) -> String {
        let weekday = date.weekday().num_days_from_monday();
        let mut fields = [
            Some((m.year.0, m.year.1, Field::Number(4), date.year() as u32)),
            Some((m.month.0, m.month.1, m.month.2, date.month())),
            Some((m.day.0, m.day.1, m.day.2, date.day())),
            m.weekday.map(|(s, e, f)| (s, e, f, weekday)),
        ];
        fields.sort_by_key(|f| f.map_or(usize::MAX, |f| f.0));
        let mut out = String::with_capacity(m.end - m.start + 8);
        let mut pos = m.start;
        for (s, e, field, value) in fields.into_iter().flatten() {
            out.extend(&self.c[pos..s]);
            // (writing to a String does not fail)
            match field {
                Field::Number(w) => _ = write!(out, "{value:0w$}"),
                // the same month: as it was written ("sept.", "Jänner")
                Field::MonthName(..) if value == m.date.month() => out.extend(&self.c[s..e]),
                Field::MonthName(list, case) => {
                    out.push_str(&with_case(MONTHS[list][value as usize - 1], case))
                }
                Field::WeekdayName(..) if value == m.date.weekday().num_days_from_monday() => {
                    out.extend(&self.c[s..e])
                }
                Field::WeekdayName(list, case) => {
                    out.push_str(&with_case(WEEKDAYS[list][value as usize], case))
                }
                Field::Ordinal(w, Some(case)) => {
                    let suffix = match (value % 10, value) {
                        (_, 11..=13) => "th",
                        (1, _) => "st",
                        (2, _) => "nd",
                        (3, _) => "rd",
                        _ => "th",
                    };
                    _ = write!(out, "{value:0w$}{}", with_case(suffix, case));
                }
                Field::FirstMark(w, mark) => {
                    _ = write!(out, "{value:0w$}");
                    if value == 1 {
                        out.push(mark);
                    }
                }
                Field::Roman => out.push_str(ROMAN_MONTHS[value as usize - 1]),
                // French: "1er", then "2", "3"...
                Field::Ordinal(w, None) => {
                    _ = write!(out, "{value:0w$}{}", if value == 1 { "er" } else { "" })
                }
            }
            pos = e;
        }
        out.extend(&self.c[pos..m.end]);
        out
    }

    // --- identifiers, phone numbers, digit runs ----------------------------------------------

    /// Letter-digit identifiers ([`is_identifier`]).
    fn identifiers(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            if !is_word(self.c[i]) {
                i += 1;
                continue;
            }
            let mut j = i;
            loop {
                while j < n && is_word(self.c[j]) {
                    j += 1;
                }
                if is_joiner(self.at(j)) && is_word(self.at(j + 1)) {
                    j += 1;
                } else {
                    break;
                }
            }
            // a version goes on after a dot (`V10.2SP0001`), as a decimal does
            let version = self.before(i) == '.' && i >= 2 && self.c[i - 2].is_ascii_digit();
            if j - i >= 6 && !version && is_identifier(&self.c[i..j]) {
                self.claim(i, j, Some(Cow::Borrowed(REMOVED)));
            }
            i = j;
        }
    }

    /// Phone numbers: an optional `+`, then groups of digits (one may be in parentheses:
    /// `(555)`, `(0)`) separated by one space, `-`, `.`, `/` or ` - `; 7 to 15 digits in all,
    /// 2 groups or more (or a `+`); every group of 2 digits or more but the first (and the one
    /// after the country code: `+33 1 23 45 67 89`). Not phone numbers: numbers with dots
    /// unless all separators are dots and there are 3 groups or more of 2 digits or more
    /// (`555.123.4567`, not `12.5` nor `1.2.840.10008`); without `+` or parentheses, groups
    /// that are all the same (`1024 1024`), all end in 0 (`500 1000`, `120 140 160`) or are all
    /// years (`2019-2021`), and ranges (`0001-0240`: two groups of the same width joined by `-`,
    /// the first the smaller). Where the groups go on, the longest valid beginning that ends
    /// before a space is taken (`555 0199 3 times`).
    fn phones(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            let ch = self.c[i];
            let starts = (ch.is_ascii_digit() || (matches!(ch, '+' | '(') && self.digit(i + 1)))
                && self.phone_left_ok(i);
            if !starts {
                i += 1;
                continue;
            }
            let plus = ch == '+';
            // one buffer for every candidate: most are no phone number (`120kV`, `3.0T`)
            let mut groups = std::mem::take(&mut self.groups);
            self.phone_groups(if plus { i + 1 } else { i }, &mut groups);
            let Some(last) = groups.last() else {
                self.groups = groups;
                i += 1;
                continue;
            };
            let run_end = last.end;
            match (1..=groups.len())
                .rev()
                .find(|&k| self.is_phone(plus, &groups[..k]))
            {
                Some(k) => {
                    let end = groups[k - 1].end;
                    self.claim(i, end, Some(Cow::Borrowed(REMOVED)));
                    i = end;
                }
                // numbers separated by spaces may be a list before a phone number
                // (`0 1 555 0199`): start again at the next group after a space
                None => {
                    i = groups[1..]
                        .iter()
                        .find(|g| g.sep == ' ')
                        .map_or(run_end, |g| g.start)
                }
            }
            self.groups = groups;
        }
    }

    fn phone_left_ok(&self, i: usize) -> bool {
        let p = self.before(i);
        !is_word(p)
            && p != '+'
            && !(matches!(p, '.' | '-' | '/' | ',') && i >= 2 && self.c[i - 2].is_ascii_digit())
    }

    /// The groups of digits from `from`, as long as they hold no more than 15 digits in all
    /// (so that scanning a long run of numbers stays linear).
    fn phone_groups(&self, from: usize, groups: &mut Vec<Group>) {
        groups.clear();
        let mut j = from;
        let mut sep = '\0';
        let mut digits = 0;
        let opens_group = |k: usize| self.digit(k) || (self.at(k) == '(' && self.digit(k + 1));
        loop {
            let group = if self.at(j) == '(' {
                let d = self.digits_from(j + 1);
                if d == 0 || self.at(j + 1 + d) != ')' {
                    break;
                }
                Group {
                    start: j,
                    end: j + d + 2,
                    digits: d,
                    paren: true,
                    sep,
                }
            } else {
                let d = self.digits_from(j);
                if d == 0 {
                    break;
                }
                Group {
                    start: j,
                    end: j + d,
                    digits: d,
                    paren: false,
                    sep,
                }
            };
            digits += group.digits;
            if digits > 15 {
                break;
            }
            j = group.end;
            groups.push(group);
            if group.paren && self.digit(j) {
                sep = '\0';
                continue;
            }
            match self.at(j) {
                ' ' if self.at(j + 1) == '-' && self.at(j + 2) == ' ' && opens_group(j + 3) => {
                    sep = '-';
                    j += 3;
                }
                c @ (' ' | '-' | '.' | '/') if opens_group(j + 1) => {
                    sep = c;
                    j += 1;
                }
                _ => break,
            }
        }
    }

    fn is_phone(&self, plus: bool, groups: &[Group]) -> bool {
        let digits: usize = groups.iter().map(|g| g.digits).sum();
        if !(7..=15).contains(&digits) || (groups.len() < 2 && !plus) {
            return false;
        }
        let end = groups[groups.len() - 1].end;
        let next = self.at(end);
        // a beginning of a longer run ends at a space (`555 0199 3 times`), not inside a
        // number (`12345-67-8`, a CAS number)
        if is_word(next) || (matches!(next, '.' | ',' | '-' | '/') && self.digit(end + 1)) {
            return false;
        }
        let seps = || groups[1..].iter().map(|g| g.sep);
        if seps().any(|s| s == '.')
            && (seps().any(|s| s != '.') || groups.len() < 3 || groups.iter().any(|g| g.digits < 2))
        {
            return false;
        }
        let short_ok = |k: usize, g: &Group| g.digits >= 2 || g.paren || k == 0 || (k == 1 && plus);
        if !groups.iter().enumerate().all(|(k, g)| short_ok(k, g)) {
            return false;
        }
        if !plus && !groups.iter().any(|g| g.paren) {
            let text = |g: &Group| &self.c[g.start..g.end];
            let all = |f: &dyn Fn(&Group) -> bool| groups.iter().all(f);
            let range = groups.len() == 2
                && groups[1].sep == '-'
                && groups[0].digits == groups[1].digits
                && text(&groups[0]) < text(&groups[1]);
            if range
                || all(&|g| text(g) == text(&groups[0]))
                || all(&|g| text(g).last() == Some(&'0'))
                || all(&|g| g.digits == 4 && (1900..=2100).contains(&self.number(g.start, 4)))
            {
                return false;
            }
        }
        true
    }

    /// Runs of 8 digits or more (dates were taken before), outside a decimal number
    /// (`0.48828125`: a number with one `.` or `,`). A run inside a dotted number of more parts
    /// (a UID written in text) is removed.
    fn digit_runs(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            let l = self.digits_from(i);
            if l == 0 {
                i += 1;
                continue;
            }
            if l >= 8
                && !is_word(self.before(i))
                && !is_word(self.at(i + l))
                && !self.in_decimal(i, i + l)
            {
                self.claim(i, i + l, Some(Cow::Borrowed(REMOVED)));
            }
            i += l;
        }
    }

    /// Is the run of digits `s..e` part of a number with exactly one `.` or `,`?
    fn in_decimal(&self, s: usize, e: usize) -> bool {
        let mark = |c: char| matches!(c, '.' | ',');
        let mut marks = 0;
        let mut a = s;
        // (two marks are enough to know: no need to walk a long dotted number to its end)
        while marks < 2 && a >= 2 && mark(self.c[a - 1]) && self.c[a - 2].is_ascii_digit() {
            marks += 1;
            a -= 1;
            while a > 0 && self.c[a - 1].is_ascii_digit() {
                a -= 1;
            }
        }
        let mut b = e;
        while marks < 2 && mark(self.at(b)) && self.digit(b + 1) {
            marks += 1;
            b += 1 + self.digits_from(b + 1);
        }
        marks == 1
    }

    /// Numbers of 5 digits or more (digits joined by `-` or `/` count as one) after an
    /// identifier cue ([`Scanner::cued`]): one of [`CUES`], [`STRONG_CUES`] or `#`, then `:`,
    /// `.`, `#`, `=` or spaces
    /// (`MRN: 123456`, `Acc# 55501`, `Nr. 12345-6`).
    fn cued_numbers(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            if !self.digit(i) || is_word(self.before(i)) {
                i += 1;
                continue;
            }
            let mut e = i + self.digits_from(i);
            let mut digits = e - i;
            while matches!(self.at(e), '-' | '/') && self.digit(e + 1) {
                let d = self.digits_from(e + 1);
                digits += d;
                e += 1 + d;
            }
            if digits >= 5
                && !is_word(self.at(e))
                && !self.in_decimal(i, e)
                && self.cued(i).is_some()
            {
                self.claim(i, e, Some(Cow::Borrowed(REMOVED)));
            }
            i = e;
        }
    }

    /// The identifier cue before the token at `i`, if any: a word of [`CUES`] or
    /// [`STRONG_CUES`], or `#`, then up to 3 of `:`, `.`, `#`, `=` and spaces.
    fn cued(&self, i: usize) -> Option<Cue> {
        let mut k = i;
        let mut hash = false;
        while k > 0 && i - k < 4 && matches!(self.c[k - 1], ' ' | '\u{a0}' | ':' | '.' | '#' | '=')
        {
            hash |= self.c[k - 1] == '#';
            k -= 1;
        }
        let w = self.c[..k]
            .iter()
            .rev()
            .take_while(|&&c| is_word(c))
            .count();
        if k == i || w == 0 || w > 18 {
            return hash.then_some(Cue::Weak);
        }
        let word: String = self.c[k - w..k]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        if STRONG_CUES.contains(&word.as_str()) || strong_compound(&word) {
            Some(Cue::Strong)
        } else if hash || CUES.contains(&word.as_str()) {
            Some(Cue::Weak)
        } else {
            None
        }
    }

    /// Telephone extensions, faxes and pagers: a number of 3 to 6 digits (maybe after a `-`:
    /// `Durchwahl -4471`; several joined by `/`) after a word of [`EXTENSION_CUES`] and up to
    /// 3 of `.`, `:`, `#` and spaces, not inside a decimal number.
    fn extensions(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            if !self.digit(i) || is_word(self.before(i)) {
                i += 1;
                continue;
            }
            let mut e = i + self.digits_from(i);
            let first = e - i;
            while self.at(e) == '/' && (3..=6).contains(&self.digits_from(e + 1)) {
                e += 1 + self.digits_from(e + 1);
            }
            let decimal = matches!(self.at(e), '.' | ',') && self.digit(e + 1);
            let ends = !(is_word(self.at(e)) || decimal);
            let dash = usize::from(self.before(i) == '-');
            if (3..=6).contains(&first)
                && ends
                && !self.unit_after(e)
                && self.extension_cued(i - dash)
            {
                self.claim(i - dash, e, Some(Cow::Borrowed(REMOVED)));
            }
            i = e;
        }
    }

    /// Is the word after `e` (across one space) a unit of [`UNITS`] (`100 ml`)?
    fn unit_after(&self, e: usize) -> bool {
        let s = if is_space(self.at(e)) { e + 1 } else { e };
        let w = self
            .c
            .get(s..)
            .map_or(0, |r| r.iter().take_while(|c| c.is_alphabetic()).count());
        let word: String = self.c[s..s + w]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        w > 0 && UNITS.contains(&word.as_str())
    }

    /// Is there a word of [`EXTENSION_CUES`] before `i`, then up to 3 of `.`, `:`, `#` and
    /// spaces?
    fn extension_cued(&self, i: usize) -> bool {
        let mut k = i;
        while k > 0 && i - k < 3 && matches!(self.c[k - 1], ' ' | '\u{a0}' | ':' | '.' | '#') {
            k -= 1;
        }
        let w = self.c[..k]
            .iter()
            .rev()
            .take_while(|&&c| is_word(c))
            .count();
        if k == i || w == 0 || w > 10 {
            return false;
        }
        let word: String = self.c[k - w..k]
            .iter()
            .flat_map(|c| c.to_lowercase())
            .collect();
        EXTENSION_CUES.contains(&word.as_str())
    }

    /// Codes after an identifier cue ([`Scanner::cued`]) too short for the other recognizers:
    /// a token (letters and digits joined by single `-` or `_`) of 4 characters or more with
    /// 2 digits or more, not a measurement; after a weak cue it must hold a letter
    /// (`Proband P-0142`, `Zugangscode BP-7K3Q-99XZ`, `Nr. A-1234`; not `No. 120`).
    fn cued_codes(&mut self) {
        let n = self.c.len();
        let mut i = 0;
        while i < n {
            if !is_word(self.c[i]) || is_word(self.before(i)) {
                i += 1;
                continue;
            }
            let mut j = i;
            let (mut digits, mut letters) = (0, 0);
            loop {
                while j < n && is_word(self.c[j]) {
                    digits += usize::from(self.c[j].is_ascii_digit());
                    letters += usize::from(self.c[j].is_alphabetic());
                    j += 1;
                }
                if is_joiner(self.at(j)) && is_word(self.at(j + 1)) {
                    j += 1;
                } else {
                    break;
                }
            }
            // (a code does not go on into a decimal: `12.5`)
            let ends = !(matches!(self.at(j), '.' | ',' | '/') && self.digit(j + 1));
            if digits >= MIN_CODE_DIGITS && digits + letters >= 4 && ends {
                let code = match self.cued(i) {
                    Some(Cue::Strong) => true,
                    Some(Cue::Weak) => letters > 0,
                    None => false,
                };
                if code && !is_measurement(&self.c[i..j]) {
                    self.claim(i, j, Some(Cow::Borrowed(REMOVED)));
                }
            }
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A date in `text` is shifted to `want` under Modified Dates, removed when dates are
    /// removed, kept under Full Dates.
    fn follows_the_dates(text: &str, want: &str) {
        assert_eq!(shifted(text), want, "{text}");
        assert_eq!(removed(text), REMOVED, "{text}");
        assert!(scan(text, TextDates::Keep).is_empty(), "{text}");
    }

    /// `text` with what is found replaced (as clean_text writes it).
    fn apply(text: &str, dates: TextDates) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        for f in scan(text, dates) {
            assert!(f.start >= pos, "overlap in {text:?}");
            out.extend(&chars[pos..f.start]);
            out.push_str(&f.with);
            pos = f.end;
        }
        out.extend(&chars[pos..]);
        out
    }

    const SHIFT: TextDates = TextDates::Shift(10);

    fn shifted(text: &str) -> String {
        apply(text, SHIFT)
    }

    fn removed(text: &str) -> String {
        apply(text, TextDates::Remove)
    }

    fn kept(text: &str) -> bool {
        [SHIFT, TextDates::Keep, TextDates::Remove]
            .iter()
            .all(|&d| scan(text, d).is_empty())
    }

    #[test]
    fn numeric_dates_shift_in_their_own_form() {
        // 10 days back
        for (text, want) in [
            ("2021-03-14", "2021-03-04"),
            ("2021/03/14", "2021/03/04"),
            ("2021.03.14", "2021.03.04"),
            ("2021-3-14", "2021-3-4"),
            ("20210314", "20210304"),
            ("1966.07.23", "1966.07.13"),
            ("1966/07/23", "1966/07/13"),
            // one reading only: day first (23 is no month), month first (07/23)
            ("23/07/1966", "13/07/1966"),
            ("23.7.1966", "13.7.1966"),
            ("23-07-1966", "13-07-1966"),
            ("07/23/1966", "07/13/1966"),
            // across a month and a year
            ("2021-03-01", "2021-02-19"),
            ("05/01/2021", "[REMOVED]"),
            ("2020-03-05", "2020-02-24"),
            ("2021-01-05", "2020-12-26"),
        ] {
            follows_the_dates(text, want);
        }
    }

    #[test]
    fn ambiguous_numeric_dates_are_removed_never_guessed() {
        for text in ["04/03/2021", "4.3.2021", "04-03-2021", "12/11/1999"] {
            assert_eq!(shifted(text), REMOVED, "{text}");
            assert_eq!(removed(text), REMOVED, "{text}");
            // kept when the profile keeps dates: nothing to guess
            assert!(scan(text, TextDates::Keep).is_empty(), "{text}");
        }
        // the same number twice is the same date either way, but the shifted one could not be
        // written in the right order
        assert_eq!(shifted("05/05/2021"), REMOVED);
        assert!(scan("05/05/2021", TextDates::Keep).is_empty());
    }

    #[test]
    fn dates_with_month_names_keep_their_language_and_case() {
        for (text, want) in [
            ("23-Jul-1966", "13-Jul-1966"),
            ("23-JUL-1966", "13-JUL-1966"),
            ("13-Jul-1966", "03-Jul-1966"),
            ("13 Jul 1966", "3 Jul 1966"),
            ("04 Jul 1966", "24 Jun 1966"),
            ("14 Jul 1966", "4 Jul 1966"),
            ("3-Jul-1966", "23-Jun-1966"),
            ("1966-Jul-13", "1966-Jul-03"),
            ("23 jul 1966", "13 jul 1966"),
            ("23 July 1966", "13 July 1966"),
            ("July 23, 1966", "July 13, 1966"),
            ("Jul 23 1966", "Jul 13 1966"),
            ("Jul. 23, 1966", "Jul. 13, 1966"),
            ("July 23rd, 1966", "July 13th, 1966"),
            ("1966-Jul-23", "1966-Jul-13"),
            ("5 March 2021", "23 February 2021"),
            ("5 MARCH 2021", "23 FEBRUARY 2021"),
            ("Mar 5, 2021", "Feb 23, 2021"),
            ("Sept 5, 2021", "Aug 26, 2021"),
            ("1st March 2021", "19th February 2021"),
            ("11 Jan 2021", "1 Jan 2021"),
            ("2 Jan 2021", "23 Dec 2020"),
            // German
            ("5. März 2021", "23. Februar 2021"),
            ("5 MÄRZ 2021", "23 FEBRUAR 2021"),
            ("5. Maerz 2021", "23. Februar 2021"),
            ("3. Januar 2021", "24. Dezember 2020"),
            ("15. Okt. 2021", "5. Okt. 2021"),
            ("5. Okt. 2021", "25. Sep. 2021"),
            // French
            ("5 mars 2021", "23 février 2021"),
            ("11 janvier 2021", "1 janvier 2021"),
            ("1er janvier 2021", "22 décembre 2020"),
            ("5 FÉVRIER 2021", "26 JANVIER 2021"),
            ("10 aout 2021", "31 juillet 2021"),
            ("11 sept. 2021", "1 sept. 2021"),
            // a weekday before the date follows it
            ("Friday, March 5th 2021", "Tuesday, February 23rd 2021"),
            ("FRI 05 MAR 2021", "TUE 23 FEB 2021"),
            ("Fr., 15.03.2021", "Fr., 05.03.2021"),
            ("Mo., 15.03.2021", "Fr., 05.03.2021"),
            ("vendredi 5 mars 2021", "mardi 23 février 2021"),
            ("Montag, 15. März 2021", "Freitag, 5. März 2021"),
        ] {
            follows_the_dates(text, want);
        }
    }

    #[test]
    fn date_times_keep_their_time() {
        for (text, want) in [
            ("2021-03-14 10:22", "2021-03-04 10:22"),
            ("2021-03-14T10:22:33", "2021-03-04T10:22:33"),
            ("2021-03-14T10:22:33+01:00", "2021-03-04T10:22:33+01:00"),
            ("20210314102233", "20210304102233"),
            ("202103141022", "202103041022"),
            ("20210314102233.5+0100", "20210304102233.5+0100"),
            ("20210314T102233", "20210304T102233"),
            ("20210314_102233", "20210304_102233"),
        ] {
            assert_eq!(shifted(text), want, "{text}");
            assert!(scan(text, TextDates::Keep).is_empty(), "{text}");
        }
        // the same as shift_dt
        let dt = "20200301123000.5+0100";
        let by_shift_dt = crate::clean::shift_dt(dt.as_bytes(), 10).unwrap();
        assert_eq!(shifted(dt).as_bytes(), by_shift_dt);
        assert_eq!(removed("at 2021-03-14 10:22"), "at [REMOVED] 10:22");
        assert_eq!(removed("at 20210314102233."), "at [REMOVED].");
        // times alone are kept
        for text in [
            "10:22",
            "10:22:33",
            "102233",
            "at 10:22:33.123456 and 11:00",
        ] {
            assert!(kept(text), "{text}");
        }
    }

    #[test]
    fn dates_in_sentences() {
        assert_eq!(
            shifted("Follow-up of 2021-03-14 (prior 14/07/2020), next July 23, 2021."),
            "Follow-up of 2021-03-04 (prior 04/07/2020), next July 13, 2021."
        );
        assert_eq!(removed("CT du 14/07/2020: RAS"), "CT du [REMOVED]: RAS");
        // ranges
        assert_eq!(shifted("14.07.2020-24.07.2020"), "04.07.2020-14.07.2020");
        assert_eq!(shifted("20200714-20200724"), "20200704-20200714");
        // a weekday goes with its date, also when the date is removed or kept
        assert_eq!(
            removed("on Fri, 5 Mar 2021 at 10:22"),
            "on [REMOVED] at 10:22"
        );
        assert_eq!(shifted("Fr., 05.03.2021"), REMOVED); // ambiguous: with its weekday
        assert!(scan("on Fri, 5 Mar 2021", TextDates::Keep).is_empty());
        // a word that is no weekday stays
        assert_eq!(shifted("so 15.03.2021"), "so 05.03.2021");
        assert_eq!(shifted("CT, 15.03.2021"), "CT, 05.03.2021");
    }

    #[test]
    fn dates_in_more_languages_and_two_digit_years() {
        // Spanish (with its "de"), Italian, Dutch month names, shifted in their own words
        assert_eq!(
            shifted("visto el 14 de marzo de 2021."),
            "visto el 4 de marzo de 2021."
        );
        assert_eq!(shifted("il 23 luglio 2021"), "il 13 luglio 2021");
        assert_eq!(shifted("op 14 maart 2021"), "op 4 maart 2021");
        assert_eq!(shifted("el 1 de febrero de 2021"), "el 22 de enero de 2021");
        // a year in two digits: removed, the century is a guess; kept under Full Dates
        assert_eq!(shifted("geschrieben 05.03.21"), "geschrieben [REMOVED]");
        assert_eq!(removed("DOB 7/13/66"), "DOB [REMOVED]");
        assert!(scan("DOB 7/13/66", TextDates::Keep).is_empty());
        // no date: a month that does not exist in either order
        assert!(scan("grades 13-14-15", TextDates::Remove).is_empty());
        // few digits: a date in two-digit years alone in a text, with a month name too
        assert_eq!(shifted("Sag T1 4/3/21"), "Sag T1 [REMOVED]");
        assert_eq!(shifted("seen 04 Mar 21"), "seen [REMOVED]");
        assert_eq!(shifted("seen 4-MAR-21."), "seen [REMOVED].");
        // but a version is no date
        assert!(kept("Software 4.3.21"));
        assert!(kept("Version: 1.2.10"));
    }

    #[test]
    fn dates_with_joining_words_and_marks() {
        assert_eq!(
            shifted("on the 14th of March 2021"),
            "on the 4th of March 2021"
        );
        assert_eq!(shifted("el 14 de marzo del 2021"), "el 4 de marzo del 2021");
        // the first of the month with its mark, written on the first only
        assert_eq!(shifted("el 1º de abril de 2021"), "el 22 de marzo de 2021");
        assert_eq!(shifted("il 1° aprile 2021"), "il 22 marzo 2021");
        assert_eq!(removed("il 1° aprile 2021"), "il [REMOVED]");
        // abbreviations in Spanish, Italian, Dutch, written back in their own list
        assert_eq!(shifted("op 14 mrt. 2021"), "op 4 mrt. 2021");
        assert_eq!(shifted("il 14 mag 2021"), "il 4 mag 2021");
        assert_eq!(shifted("el 14 ene 2021"), "el 4 ene 2021");
        // glued in capitals; years after an apostrophe (removed)
        assert_eq!(shifted("CT 14MAR2021"), "CT 04MAR2021");
        assert_eq!(shifted("CT 4MAR21"), "CT [REMOVED]");
        assert_eq!(shifted("seen 4th Mar '21"), "seen [REMOVED]");
        assert_eq!(shifted("seen Mar 4 '21"), "seen [REMOVED]");
        assert!(kept("T1 3MAR2 map"));
        assert!(kept("IMA 12SEP"));
    }

    #[test]
    fn numeric_dates_typed_with_spaces_after_the_dots() {
        for (text, want) in [
            ("14. 3. 2021", "4. 3. 2021"),
            ("24. 03. 2021", "14. 03. 2021"),
        ] {
            follows_the_dates(text, want);
        }
        // ambiguous, or a year in two digits (also after an apostrophe): removed
        for text in ["4. 3. 2021", "04. 03. 2021", "04-03-'21", "14. 3. 21"] {
            assert_eq!(shifted(text), REMOVED, "{text}");
        }
        for text in [
            "1. 2. 3. 4.",
            "Punkte 1. 2. und 3.",
            "4. 3.2021",
            "4.3. 2021",
        ] {
            assert!(kept(text), "{text}");
        }
    }

    #[test]
    fn dates_with_roman_months() {
        // the month in capitals Roman numerals, as written day first across Europe
        for (text, want) in [
            ("13.VII.1966", "3.VII.1966"),
            ("23.VII.1966", "13.VII.1966"),
            ("13-VII-1966", "3-VII-1966"),
            ("13/VII/1966", "3/VII/1966"),
            ("13 VII 1966", "3 VII 1966"),
            ("13. VII. 1966", "3. VII. 1966"),
            ("05.III.2021", "23.II.2021"),
            ("1.I.2021", "22.XII.2020"),
        ] {
            follows_the_dates(text, want);
        }
        assert_eq!(
            shifted("Vorbefund vom 14.XI.2020 liegt vor"),
            "Vorbefund vom 4.XI.2020 liegt vor"
        );
        // a year in two digits: the century would be a guess
        assert_eq!(shifted("esame del 4.III.21"), "esame del [REMOVED]");
        // no month, or not one separator on both sides: no date
        for text in [
            "13.XIII.1966",
            "13.VII-1966",
            "Stadium IV 2019",
            "Grade 2 IIa 2019",
            "13.vii.1966 3",
            "T3 IV 2021",
        ] {
            assert!(kept(text), "{text}");
        }
    }

    #[test]
    fn not_dates() {
        for text in [
            // 8 digits that are no valid date, out of range, or inside a longer word
            "Series 1234",
            "T1 5mm 3.0T",
            // only a month and a year, only a day and a month
            "July 1966",
            "13 July",
            "May 5",
            // dotted numbers
            "1.2.3.4",
            // a month name that is no month: no day and year beside it
            "Mars 2021",
        ] {
            assert!(scan(text, SHIFT).is_empty(), "{text}");
        }
        // 8 digits that are no date are a long digit run
        assert_eq!(shifted("21001332"), REMOVED);
        assert_eq!(shifted("18991231"), REMOVED);
        // a date inside a longer number or word is not read as a date
        assert_eq!(shifted("ACC20210314"), REMOVED); // an identifier
        assert_eq!(shifted("0.20210314"), "0.20210314"); // a decimal
        assert_eq!(shifted("20210314.5"), "20210314.5");
        assert_eq!(shifted("x20210314"), REMOVED); // an identifier
    }

    #[test]
    fn contact_details_are_removed() {
        for (text, want) in [
            (
                "mail john.doe66@hospital.example.org now",
                "mail [REMOVED] now",
            ),
            ("(jd@ex.com)", "([REMOVED])"),
            ("see https://pacs.example.org/view?id=1", "see [REMOVED]"),
            ("see http://x.org.", "see [REMOVED]."),
            ("at www.example.com/a, then", "at [REMOVED], then"),
            ("call 555 0199", "call [REMOVED]"),
            ("call 555-0199", "call [REMOVED]"),
            ("call (555) 123-4567.", "call [REMOVED]."),
            ("call (555)123-4567", "call [REMOVED]"),
            ("tél +33 1 23 45 67 89", "tél [REMOVED]"),
            ("Tel. +49 (0)30 12345678", "Tel. [REMOVED]"),
            ("Tel 030 1234567", "Tel [REMOVED]"),
            ("0171/1234567", "[REMOVED]"),
            ("555.123.4567", "[REMOVED]"),
            ("+1 555 123 4567", "[REMOVED]"),
            ("1-800-555-0199", "[REMOVED]"),
            ("01 23 45 67 89", "[REMOVED]"),
            ("0123456789", "[REMOVED]"),
            ("+33123456789", "[REMOVED]"),
            ("call 555 0199 3 times", "call [REMOVED] 3 times"),
            ("slices 0 1 555 0199", "slices 0 [REMOVED]"), // "1 555 0199" as "1 800 555 0199"
            ("Batch 2021-0042", "Batch [REMOVED]"),
            ("Tel.: +49 89 1234-5678", "Tel.: [REMOVED]"),
            ("Appel au 01.23.45.67.89", "Appel au [REMOVED]"),
            ("tel:555-0199", "tel:[REMOVED]"),
        ] {
            assert_eq!(shifted(text), want, "{text}");
            assert_eq!(apply(text, TextDates::Keep), want, "{text}");
        }
    }

    #[test]
    fn extensions_faxes_and_pagers_are_removed() {
        for (text, want) in [
            (
                "Contact Moss, RN, ext. 4471",
                "Contact Moss, RN, ext. [REMOVED]",
            ),
            (
                "Rücksprache, Durchwahl 4471.",
                "Rücksprache, Durchwahl [REMOVED].",
            ),
            ("Durchwahl -4471", "Durchwahl [REMOVED]"),
            ("poste 2231 ou 2232", "poste [REMOVED] ou 2232"),
            ("ext 4471/4472", "ext [REMOVED]"),
            ("Tel.: 4471, Fax: 44719", "Tel.: [REMOVED], Fax: [REMOVED]"),
            ("bleep #3317 on call", "bleep #[REMOVED] on call"),
            ("interno 522", "interno [REMOVED]"),
            ("toestel 8812", "toestel [REMOVED]"),
        ] {
            assert_eq!(shifted(text), want, "{text}");
        }
        for text in [
            "ext. 12",
            "Tel. 2 Befunde",
            "AW Server 3.2 Ext. 4.1",
            "phone 1234567 8",
            "Extension 30 degrees",
            "ext. rotation 45°, Apparat 100 ml",
        ] {
            assert_eq!(shifted(text), text, "{text}");
        }
    }

    #[test]
    fn identifiers_are_removed() {
        for (text, want) in [
            ("MRN12345", "[REMOVED]"),
            ("pt AB-123456 seen", "pt [REMOVED] seen"),
            ("ACC2021-0042", "[REMOVED]"),
            ("PAT_123456", "[REMOVED]"),
            ("id 12345678", "id [REMOVED]"),
            ("1234567890123", "[REMOVED]"),
            ("MRN: 123456", "MRN: [REMOVED]"),
            ("Acc# 55501", "Acc# [REMOVED]"),
            ("#123456", "#[REMOVED]"),
            ("Nr. 12345-6", "Nr. [REMOVED]"),
            ("ID=98765", "ID=[REMOVED]"),
            (
                "via vpn.example-teleradiology.com, ticket",
                "via [REMOVED], ticket",
            ),
            ("images on pacs.hospital.de/view/42", "images on [REMOVED]"),
            ("Fallnummer 2104578", "Fallnummer [REMOVED]"),
            ("case 55012 reviewed", "case [REMOVED] reviewed"),
            ("Versichertennummer: 88123", "Versichertennummer: [REMOVED]"),
            // shorter codes after a cue: any shape after a strong one, with a letter after a
            // weak one
            ("Proband P-0142.", "Proband [REMOVED]."),
            ("Zugangscode BP-7K3Q-99XZ.", "Zugangscode [REMOVED]."),
            ("MRN 4471", "MRN [REMOVED]"),
            ("Access code: 7K3Q", "Access code: [REMOVED]"),
            ("Subject ID: S-023", "Subject ID: [REMOVED]"),
            ("Fall-Nr. F-2231", "Fall-Nr. [REMOVED]"),
            // a UID written in text: its long parts
            (
                "1.2.840.113619.2.55.3.604688119",
                "1.2.840.113619.2.55.3.[REMOVED]",
            ),
        ] {
            assert_eq!(shifted(text), want, "{text}");
        }
    }

    #[test]
    fn compounds_that_name_an_identifier_are_strong_cues() {
        for (text, want) in [
            ("Zugangsschlüssel A7K-22QD", "Zugangsschlüssel [REMOVED]"),
            ("Patientencode QX-4471", "Patientencode [REMOVED]"),
            ("Opnamenummer 2104471", "Opnamenummer [REMOVED]"),
            ("Studiennr. 0142", "Studiennr. [REMOVED]"),
        ] {
            assert_eq!(shifted(text), want, "{text}");
        }
        // a word with only 2 letters before the ending is no compound: "Encode 1234"
        for text in ["Encode 1234", "Nr. 120", "Farbcode 12"] {
            assert!(kept(text), "{text}");
        }
    }

    #[test]
    fn portal_keys_and_measurement_lists() {
        for (text, want) in [
            ("con clave K7P-93QD", "con clave [REMOVED]"),
            ("chiave R4T-88KQ", "chiave [REMOVED]"),
            ("clé 7FQ2XK", "clé [REMOVED]"),
            ("sleutel ZW-7731", "sleutel [REMOVED]"),
            ("Key: 4QX7-22MM", "Key: [REMOVED]"),
        ] {
            assert_eq!(shifted(text), want, "{text}");
        }
        // b-values and sizes listed or as ranges are measurements, not identifiers
        for text in [
            "DWI b0-b1000 mappa ADC",
            "DWI b0-500-1000",
            "b50-b400-b800 trace",
            "slices 5-10mm",
            "Key images 12, 14",
        ] {
            assert!(kept(text), "{text}");
        }
        assert_eq!(shifted("ID b1-23456"), "ID [REMOVED]");
    }

    #[test]
    fn medical_and_technical_text_is_kept() {
        for text in [
            "5mm",
            "120kV",
            "3.0T",
            "T1W",
            "T2*",
            "b1000",
            "b10000",
            "DWI",
            "ADC",
            "3D_T1_MPRAGE",
            "SE2D",
            "ep2d_diff_b1000",
            "ep2d_diff_mddw_20_p2",
            "DTI_64dir_b1000_b2000",
            "2.5 mg/kg",
            "Series 3",
            "Series 3 Image 12 of 240",
            "512x512",
            "512X512",
            "256x256x128mm",
            "512 x 512",
            "1024 1024",
            "512 512 512",
            "0.48828125\\0.48828125",
            "0.48828125/0.48828125",
            "12.5",
            "-12.5",
            "1,234.5",
            "TR 2000 TE 90",
            "b 0 500 1000",
            "kVp 80 100 120 140",
            "FOV 240 x 240 mm",
            "CTDIvol 12.34 mGy DLP 456.78 mGy*cm",
            "2019-2021",
            "1990 2000",
            "10000ms",
            "25000Hz",
            "1.2.840.10008.5.1.4.1.1.2",
            "192.168.1.10",
            "Knee MRI w/o contrast, 3 sequences",
            "AX T2 FLAIR 5mm 2021",
            "Slice 1 2 3 4 5 6 7",
            "10:22:33",
            "Lossy x10",
            "COVID-19",
            "H1N1",
            "ISO_IR 100",
            "WW 400 WL 40",
            "No contrast",
            "ID check",
            "12345",
            "Slices 0001-0240",
            "12345-67-8 CAS",
            "Range 1000-1200 HU",
            "Window 1500/-600",
            "HU -1000 to 3071",
            "Frames 1 2 3 4 5 6 7 8 9 10",
            "kVp 120, mAs 1234567",
            "Voruntersuchung 03/2019",
            "T2* FFE 3 echoes 4.6/9.2/13.8 ms",
            "Coords -123.45\\67.89\\1012.5",
            // short numbers after weak cues, versions
            "Image No. 120",
            "Serie Nr. 4/12",
            "Case 12 of 40",
            "Bild Nr. 12a",
            "No. 20mm",
            "ICD-10 code M54.5",
            "Subject 12 scanned twice",
            "V10.2SP0001",
            "syngo MR E11 VE11C SP01",
        ] {
            assert!(kept(text), "{text}: {:?}", scan(text, SHIFT));
        }
    }

    #[test]
    fn text_with_few_digits_is_not_scanned() {
        assert!(!may_hold(b"CT chest w/o contrast 5mm"));
        assert!(may_hold(b"a@b"));
        assert!(may_hold(b"see WWW.x"));
        assert!(may_hold(b"http://"));
        assert!(may_hold(b"12 345"));
    }

    #[test]
    fn spans_do_not_overlap_and_unicode_is_counted_in_chars() {
        let text = "Müller né le 23/07/1966, tél 01 23 45 67 89, mail müller@hôpital.fr";
        let got = shifted(text);
        assert_eq!(
            got,
            "Müller né le 13/07/1966, tél [REMOVED], mail [REMOVED]"
        );
    }

    #[test]
    fn any_text_gives_ordered_spans_within_it() {
        let alphabet: Vec<char> = "0123456789012345 ./-+()@:#xTbJulyMRN_é,\\w"
            .chars()
            .collect();
        let mut rng = fastrand::Rng::with_seed(17);
        for _ in 0..20_000 {
            let len = rng.usize(0..48);
            let text: String = (0..len)
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let n = text.chars().count();
            for dates in [SHIFT, TextDates::Keep, TextDates::Remove] {
                let mut pos = 0;
                for f in scan(&text, dates) {
                    assert!(pos <= f.start && f.start < f.end && f.end <= n, "{text:?}");
                    pos = f.end;
                }
            }
        }
    }

    #[test]
    fn long_texts_are_scanned_in_linear_time() {
        for unit in [
            "1 ",
            "1.",
            "12345678.",
            "555 0199 ",
            "a@",
            "@a.",
            "2021-03-04 ",
            "1-",
        ] {
            let text = unit.repeat(200_000 / unit.len());
            let t = std::time::Instant::now();
            scan(&text, SHIFT);
            // a quadratic scan takes minutes here
            assert!(t.elapsed().as_secs() < 5, "{unit:?}: {:?}", t.elapsed());
        }
    }

    /// The cost of scanning, printed (`cargo test --release -- --nocapture cost`).
    #[test]
    fn cost_per_text() {
        let texts = [
            "CT chest w/o contrast",
            "AX T1 5mm post Gd",
            "Follow-up 2021-03-14, prior 14/07/2020; call 555 0199; MRN12345",
            "ep2d_diff_b1000 TRACEW 3.0T 120kV 250mAs 512x512",
        ];
        let rounds = 20_000;
        for text in texts {
            let t = std::time::Instant::now();
            let mut n = 0;
            for _ in 0..rounds {
                n += std::hint::black_box(scan(std::hint::black_box(text), SHIFT)).len();
            }
            let per = t.elapsed().as_nanos() as f64 / rounds as f64;
            println!("textscan: {per:8.0} ns for {text:?} ({} found)", n / rounds);
        }
    }
}
