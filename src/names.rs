//! People named in free text by a cue: a title or role before a name (`Dr Lefebvre`,
//! `Prof. A. Martin`, `Herr Müller`, `referred by J. Smith`, `Signed: MOREAU`), or a degree
//! after one (`John Smith, MD`, `A. Weber RN`). The file's own identifying values are found by
//! [`crate::clean::Identity`]; these are people the file names nowhere else (a referring
//! doctor in ImageComments, a physicist in an RT plan's description).
//!
//! A cue is necessary: capitalised words alone are not names (`Parkinson`, `Hodgkin`, `Baker`
//! cyst, `Series`, `Contrast`). After a cue, the name is the run of up to three name-like
//! tokens that follows (a capitalised word, a word in capitals, an initial `J.` or `J`), a
//! word of [`NOT_NAMES`] (eponyms, anatomy and words that follow cues in medical text) ends
//! it. Only the name is replaced; the cue stays (`Dr [REMOVED]`).
//!
//! Cue words and phrases are matched in one Aho-Corasick automaton, built once.

use std::ops::Range;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Cues before a name: titles and roles, in English, German, French, Spanish, Italian and
/// Dutch, and phrases that introduce a person. Lower case; matched case-insensitively, on
/// word boundaries; a trailing `.` or `:` after the cue is allowed.
const BEFORE: &[&str] = &[
    "dr",
    "drs",
    "dres",
    "doctor",
    "docteur",
    "doktor",
    "prof",
    "professor",
    "professeur",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "sir",
    "herr",
    "frau",
    "hr",
    "fr",
    "mme",
    "mlle",
    "monsieur",
    "madame",
    "sr",
    "sra",
    "srta",
    "señor",
    "señora",
    "dott",
    "dssa",
    "dhr",
    "mevr",
    "tech",
    "technologist",
    "technician",
    "radiographer",
    "radiologist",
    "physician",
    "physicist",
    "dosimetrist",
    "nurse",
    "attending",
    "resident",
    "fellow",
    "surgeon",
    "referrer",
    "signed",
    "signed by",
    "cc",
    "seen by",
    "referred by",
    "performed by",
    "reported by",
    "dictated by",
    "read by",
    "verified by",
    "approved by",
    "requested by",
    "reviewed by",
    "transcribed by",
    "interpreted by",
    "ordered by",
    "per",
    "attn",
    "untersucht von",
    "befundet von",
    "überwiesen von",
    "überweisung von",
    "vidiert von",
    "vu par",
    "adressé par",
    "réalisé par",
    "interprété par",
    "validé par",
    "signé par",
    "visto por",
    "realizado por",
    "firmado por",
    "referido por",
    "refertato da",
    "eseguito da",
    "inviato da",
    "gezien door",
    "verwezen door",
    "uitgevoerd door",
];

/// Degrees and roles written after a name (`John Smith, MD`).
const AFTER: &[&str] = &[
    "md", "rn", "phd", "do", "mbbs", "frcr", "facr", "rt", "rtt", "dds",
];

/// Capitalised words that follow cues in medical text and are not names: they end a name
/// run, or refuse it when they come first (`per Protocol`, `Dr Parkinson's disease` keeps the
/// eponym since it is never a cue's name here).
pub const NOT_NAMES: &[&str] = &[
    // eponyms
    "parkinson",
    "parkinson's",
    "hodgkin",
    "hodgkin's",
    "crohn",
    "crohn's",
    "alzheimer",
    "alzheimer's",
    "wilms",
    "ewing",
    "ewing's",
    "baker",
    "baker's",
    "bankart",
    "hill-sachs",
    "chiari",
    "arnold-chiari",
    "graves",
    "hashimoto",
    "cushing",
    "addison",
    "paget",
    "kaposi",
    "barrett",
    "barrett's",
    "meckel",
    "hirschsprung",
    "huntington",
    "down",
    "turner",
    "marfan",
    "wilson",
    "gaucher",
    "sjögren",
    "sjogren",
    "raynaud",
    "bell's",
    "colles",
    "smith's",
    "monteggia",
    "galeazzi",
    "jefferson",
    "hangman's",
    "chance",
    "segond",
    "tillaux",
    "maisonneuve",
    "lisfranc",
    "chopart",
    "schatzki",
    "zenker",
    "morton's",
    "morton",
    "osgood-schlatter",
    "legg-calvé-perthes",
    "perthes",
    "kienböck",
    "kienbock",
    "scheuermann",
    "bochdalek",
    "morgagni",
    "virchow",
    "willis",
    "sylvius",
    "monro",
    "luschka",
    "magendie",
    "glisson",
    "treitz",
    "oddi",
    "vater",
    "wirsung",
    "santorini",
    "hartmann",
    "morison",
    "douglas",
    "poupart",
    "hounsfield",
    "doppler",
    "fourier",
    "gadolinium",
    // words after cues that are not people
    "protocol",
    "protokoll",
    "protocole",
    "patient",
    "patientin",
    "contrast",
    "kontrast",
    "series",
    "serie",
    "study",
    "scan",
    "exam",
    "examen",
    "image",
    "imaging",
    "report",
    "request",
    "order",
    "phone",
    "fax",
    "email",
    "mail",
    "the",
    "a",
    "an",
    "os",
    "day",
    "dose",
    "fraction",
    "session",
    "plan",
    "protocoll",
    "default",
    "standard",
    "routine",
    "emergency",
    "urgent",
    "ct",
    "mr",
    "mri",
    "pet",
    "us",
    "xr",
    "cr",
    "dx",
    "nm",
    "rt",
    "iv",
    "po",
    "im",
    "sc",
    "left",
    "right",
    "links",
    "rechts",
    "gauche",
    "droite",
    "ap",
    "pa",
    "lat",
    "ax",
    "sag",
    "cor",
    "tra",
    "unknown",
    "na",
    "n/a",
    "none",
    "nil",
    "radiology",
    "radiologie",
];

/// The spans (byte ranges of `text`) of the people named by a cue, in order, not
/// overlapping.
pub fn name_spans(text: &str) -> Vec<Range<usize>> {
    let (before, after) = automata();
    let mut spans: Vec<Range<usize>> = Vec::new();
    for m in before.find_iter(text) {
        if !on_word_boundaries(text, m.start(), m.end()) {
            continue;
        }
        // the cue may end with "." or ":" (and a space): "Dr. ", "Signed: "
        let mut at = m.end();
        if text[at..].starts_with(['.', ':']) {
            at += 1;
        }
        if let Some(span) = name_after(text, at) {
            spans.push(span);
        }
    }
    for m in after.find_iter(text) {
        if !on_word_boundaries(text, m.start(), m.end()) {
            continue;
        }
        // a degree counts only in capitals as written (`MD`, `RN`, `PhD`): "do" is a word
        let cue = &text[m.start()..m.end()];
        if cue.chars().filter(|c| c.is_lowercase()).count() > 1 || cue == "do" {
            continue;
        }
        if let Some(span) = name_before(text, m.start()) {
            spans.push(span);
        }
    }
    spans.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut merged: Vec<Range<usize>> = Vec::new();
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

fn automata() -> &'static (AhoCorasick, AhoCorasick) {
    static AUTOMATA: OnceLock<(AhoCorasick, AhoCorasick)> = OnceLock::new();
    AUTOMATA.get_or_init(|| {
        let build = |words: &[&str]| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(words)
                .expect("the cue words build an automaton")
        };
        // non-ASCII cues ("überwiesen von") also in their capitalised form
        let mut before: Vec<String> = BEFORE.iter().map(|s| s.to_string()).collect();
        for s in BEFORE.iter().filter(|s| !s.is_ascii()) {
            let mut c = s.chars();
            if let Some(first) = c.next() {
                before.push(first.to_uppercase().chain(c).collect());
            }
        }
        let before: Vec<&str> = before.iter().map(String::as_str).collect();
        (build(&before), build(AFTER))
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

fn on_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
}

/// A token of a name: `Lefebvre`, `MÜLLER`, `O'Brien`, `Jean-Luc`, an initial `J.` or `J`.
/// Returns the token's end (an initial's dot included) when `word` (starting at `start`) is
/// one.
fn name_token(word: &str) -> bool {
    let mut chars = word.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if !first.is_uppercase() {
        return false;
    }
    let rest: Vec<char> = chars.collect();
    if rest.is_empty() {
        return true; // an initial
    }
    let letters = rest
        .iter()
        .all(|&c| c.is_alphabetic() || c == '-' || c == '\'' || c == '’');
    letters && !NOT_NAMES.contains(&word.to_lowercase().as_str())
}

/// The words after `at`: (start, end, text) with what separates them.
fn words_from(text: &str, at: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut pos = at;
    std::iter::from_fn(move || {
        let rest = &text[pos..];
        let skip = rest.len() - rest.trim_start_matches([' ', '\t', '.']).len();
        // a name run does not cross punctuation other than an initial's dot
        let start = pos + skip;
        if start >= text.len() {
            return None;
        }
        let word_len = text[start..]
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '-' || c == '\'' || c == '’'))
            .map_or(text.len() - start, |(i, _)| i);
        if word_len == 0 {
            return None;
        }
        let end = start + word_len;
        pos = end;
        Some((start, end))
    })
}

/// The name after a cue: up to three name tokens, initials with their dot.
fn name_after(text: &str, at: usize) -> Option<Range<usize>> {
    let mut first = None;
    let mut last = at;
    let mut count = 0;
    let mut cursor = at;
    for (start, end) in words_from(text, at) {
        // only spaces may stand between the cue (or the previous token) and this one
        if !text[cursor..start].chars().all(|c| c == ' ' || c == '\t') {
            break;
        }
        let word = &text[start..end];
        // a title after a phrase ("seen by Dr Lefebvre", "Herr Dr. Müller"): a cue of its
        // own, not the name; the name follows it
        if first.is_none() && BEFORE.contains(&word.to_lowercase().as_str()) {
            cursor = if text[end..].starts_with('.') {
                end + 1
            } else {
                end
            };
            continue;
        }
        if count == 3 || !name_token(word) {
            break;
        }
        first.get_or_insert(start);
        last = end;
        // an initial's dot belongs to the name
        if end - start <= 2 && text[end..].starts_with('.') {
            last = end + 1;
        }
        cursor = last;
        count += 1;
    }
    let first = first?;
    // a lone initial after a cue is no name ("per A" in a list): need a word of two letters
    let name = &text[first..last];
    if !name
        .split(|c: char| !c.is_alphabetic())
        .any(|w| w.chars().count() >= 2)
    {
        return None;
    }
    Some(first..last)
}

/// The name before a degree: up to three name tokens ending just before it (`, ` or ` `).
fn name_before(text: &str, cue_start: usize) -> Option<Range<usize>> {
    let head = text[..cue_start].trim_end_matches([' ', ',']);
    let mut end = head.len();
    let mut start = None;
    for _ in 0..3 {
        let word_start = head[..end]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_alphabetic() || c == '-' || c == '\'' || c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = head[word_start..end].trim_end_matches('.');
        if word.is_empty() || !name_token(word) {
            break;
        }
        start = Some(word_start);
        end = head[..word_start].trim_end_matches(' ').len();
        if end == 0 || !head[end..word_start].chars().all(|c| c == ' ') {
            break;
        }
    }
    let start = start?;
    Some(start..head.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(text: &str) -> String {
        let mut out = String::new();
        let mut pos = 0;
        for span in name_spans(text) {
            out.push_str(&text[pos..span.start]);
            out.push_str("[REMOVED]");
            pos = span.end;
        }
        out.push_str(&text[pos..]);
        out
    }

    #[test]
    fn names_after_a_cue() {
        for (text, want) in [
            ("Seen by Dr Lefebvre today", "Seen by Dr [REMOVED] today"),
            ("Dr. A. Martin", "Dr. [REMOVED]"),
            (
                "Prof. Jean-Luc O'Brien, cardiology",
                "Prof. [REMOVED], cardiology",
            ),
            (
                "referred by J. Smith for follow-up",
                "referred by [REMOVED] for follow-up",
            ),
            ("Signed: MOREAU", "Signed: [REMOVED]"),
            (
                "cc: Weber; Tech: Anna Kovač",
                "cc: [REMOVED]; Tech: [REMOVED]",
            ),
            (
                "Überwiesen von Herr Dr. Müller",
                "Überwiesen von Herr Dr. [REMOVED]",
            ),
            ("vu par Mme Dupont", "vu par Mme [REMOVED]"),
            ("eseguito da Dott. Rossi", "eseguito da Dott. [REMOVED]"),
        ] {
            assert_eq!(clean(text), want, "{text}");
        }
    }

    #[test]
    fn names_before_a_degree() {
        assert_eq!(
            clean("Read by committee; John Smith, MD"),
            "Read by committee; [REMOVED], MD"
        );
        assert_eq!(clean("A. Weber RN checked"), "[REMOVED] RN checked");
    }

    #[test]
    fn medicine_is_kept() {
        for text in [
            "Parkinson disease, Hodgkin lymphoma, Baker's cyst",
            "per os; per protocol; per Protocol B",
            "Dr Parkinson's disease follow-up",
            "AX T2 5mm 120kV 3.0T b1000",
            "Bankart lesion, Hill-Sachs defect, Chiari I",
            "do not repeat; ct abdomen",
            "Series 3 by default",
            "Mr angiography",
        ] {
            assert_eq!(clean(text), text, "{text}");
        }
    }
}
