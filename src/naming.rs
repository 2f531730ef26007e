//! Naming templates: output paths made of literal text and `{Keyword}` fields filled from the
//! de-identified dataset, e.g. `{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm`.
//!
//! A template is parsed once, before any file is touched ([`Template::parse`], every check of
//! its form), and filled for each file ([`Template::fill`]).

use std::path::{Component, PathBuf};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;

use crate::dataset::DicomFile;
use crate::error::{Error, Result};

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A `{Keyword}` field: the element it is filled from.
    Field(Tag),
}

/// A parsed naming template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
}

/// The value a field takes when the element is absent or empty.
const MISSING: &str = "unknown";

impl Template {
    /// Parse and check a template: balanced braces (no `{` inside a field, no stray `}`),
    /// fields that are DICOM keywords, a relative path without empty, `.` or `..` parts (`/`
    /// and `\` both separate parts), and at least one field.
    pub fn parse(template: &str) -> Result<Template> {
        let bad = |problem: String| Error::Template {
            template: template.to_string(),
            problem,
        };
        // the braces first, over the whole template: literal text and keywords
        let mut pieces: Vec<(bool, &str)> = Vec::new(); // (is a field, text)
        let mut rest = template;
        while let Some(at) = rest.find(['{', '}']) {
            if rest[at..].starts_with('}') {
                return Err(bad("unbalanced braces".into()));
            }
            let field = &rest[at + 1..];
            let end = field
                .find(['{', '}'])
                .filter(|&end| field[end..].starts_with('}'))
                .ok_or_else(|| bad("unbalanced braces".into()))?;
            pieces.push((false, &rest[..at]));
            pieces.push((true, &field[..end]));
            rest = &field[end + 1..];
        }
        pieces.push((false, rest));
        let mut parts = Vec::new();
        for (is_field, text) in pieces {
            if is_field {
                let tag = StandardDataDictionary
                    .by_name(text)
                    .map(|e| e.tag())
                    .ok_or_else(|| {
                        bad(format!(
                            "{{{text}}} is not a DICOM keyword (e.g. {{SOPInstanceUID}})"
                        ))
                    })?;
                parts.push(Part::Field(tag));
            } else if !text.is_empty() {
                parts.push(Part::Literal(text.to_string()));
            }
        }
        // the path's shape, each field standing for a name
        let shape: String = parts
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_str(),
                Part::Field(_) => "x",
            })
            .collect();
        if shape.starts_with(['/', '\\'])
            || shape
                .split(['/', '\\'])
                .any(|p| matches!(p, "" | "." | ".."))
        {
            return Err(bad(
                "it must give a relative path without empty, '.' or '..' parts".into(),
            ));
        }
        if !parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(bad(
                "it has no {Keyword} field: every file would get the same name".into(),
            ));
        }
        Ok(Template {
            text: template.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path a de-identified file gets: each field's value made a safe name (characters
    /// other than ASCII letters, digits, `.`, `-` and `_` become `_`; `unknown` when the
    /// element is absent or empty).
    pub fn fill(&self, file: &DicomFile) -> Result<PathBuf> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(tag) => {
                    let value = file
                        .dataset
                        .text(*tag)
                        .map(String::from_utf8_lossy)
                        .filter(|v| !v.is_empty());
                    out.push_str(&safe_component(value.as_deref().unwrap_or(MISSING)));
                }
            }
        }
        let path = PathBuf::from(out);
        // parsing made sure of it; checked again where the platform has its own ideas (a
        // drive prefix)
        if path.is_absolute()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::Template {
                template: self.text.clone(),
                problem: "it must give a relative path without empty, '.' or '..' parts".into(),
            });
        }
        Ok(path)
    }
}

/// Characters allowed in a path component made from a template field.
fn safe_component(value: &str) -> String {
    let cleaned: String = value
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_string(),
        _ => cleaned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(template: &str) -> String {
        match Template::parse(template) {
            Err(Error::Template { problem, .. }) => problem,
            other => panic!("{template:?}: {other:?}"),
        }
    }

    #[test]
    fn well_formed_templates_parse() {
        for t in [
            "{SOPInstanceUID}",
            "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm",
            "a-{PatientID}_{SOPInstanceUID}.dcm",
            "{Modality}{SOPInstanceUID}",
            ".{SOPInstanceUID}",
        ] {
            let parsed = Template::parse(t).unwrap();
            assert_eq!(parsed.as_str(), t);
        }
    }

    #[test]
    fn every_malformed_template_is_refused() {
        for t in [
            "{SOPInstanceUID.dcm",
            "SOPInstanceUID}.dcm",
            "{SOPInstanceUID}}.dcm",
            "{{SOPInstanceUID}}",
            "{SOP{InstanceUID}",
            "x}{SOPInstanceUID}",
        ] {
            assert_eq!(problem(t), "unbalanced braces", "{t}");
        }
        assert!(problem("{NoSuchKeyword}.dcm").contains("{NoSuchKeyword} is not a DICOM keyword"));
        assert!(problem("{}.dcm").contains("{} is not a DICOM keyword"));
        for t in [
            "/abs/{SOPInstanceUID}",
            "\\abs\\{SOPInstanceUID}",
            "../{SOPInstanceUID}",
            "a/./{SOPInstanceUID}",
            "a//{SOPInstanceUID}",
            "a\\..\\{SOPInstanceUID}",
            "{SOPInstanceUID}/",
            "",
        ] {
            assert!(problem(t).contains("relative path"), "{t}");
        }
        assert!(problem("fixed.dcm").contains("no {Keyword} field"));
        // the message names the template
        let e = Template::parse("{X}").unwrap_err().to_string();
        assert!(e.starts_with("naming template \"{X}\": "), "{e}");
    }

    #[test]
    fn components_are_made_safe() {
        assert_eq!(safe_component(" 1.2.3 "), "1.2.3");
        assert_eq!(safe_component("a/b\\c d"), "a_b_c_d");
        assert_eq!(safe_component(".."), "_");
        assert_eq!(safe_component(""), "_");
    }
}
