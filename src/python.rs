//! The Python bindings (`dicomveil._core`): thin wrappers over the engine.
//!
//! Every call into the engine goes through [`run`], which releases the GIL, turns a panic into
//! a `DicomveilError` (none ever reaches Python as `PanicException`), and maps engine errors to
//! the exception classes of `dicomveil.errors` in one place ([`to_pyerr`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::VR;
use dicom_dictionary_std::StandardDataDictionary;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::BoundObject;

use crate::anonymize::{
    Anonymizer, BurnedIn, FrameBox, PixelText, Replacement, TextFinder, TextFound,
};
use crate::batch;
use crate::batch::Template;
use crate::dataset::{tag_str, DicomFile};
use crate::error::Error;
use crate::iod;
use crate::profile::{self, Action, CompiledProfile, MethodCode, Place};
use crate::rules::{Cell, Form, Row, RuleSet};
use crate::value::{self, Plain};

/// Map an engine error to its `dicomveil.errors` class (by `dicomveil.errors.error_class`).
fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    static ERROR_CLASS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let message = e.to_string();
    match ERROR_CLASS
        .import(py, "dicomveil.errors", "error_class")
        .and_then(|f| f.call1((e.kind(),)))
        .and_then(|c| c.call1((message,)))
    {
        Ok(exc) => PyErr::from_value(exc),
        Err(import_error) => import_error,
    }
}

/// Run engine work without the GIL; map its errors and any panic.
fn run<T: Send>(py: Python<'_>, f: impl FnOnce() -> crate::Result<T> + Send) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_pyerr(py, e)),
        Err(panic) => Err(to_pyerr(py, Error::from_panic("", panic.as_ref()))),
    }
}

/// A DICOM file in memory (wrapped by `dicomveil.DicomFile`).
#[pyclass(name = "Dataset", module = "dicomveil._core")]
struct PyDataset {
    inner: DicomFile,
}

fn plain_to_py<'py>(py: Python<'py>, v: Plain) -> PyResult<Bound<'py, PyAny>> {
    fn one_or_list<'py, T>(py: Python<'py>, v: Vec<T>) -> PyResult<Bound<'py, PyAny>>
    where
        T: IntoPyObject<'py>,
    {
        if v.len() == 1 {
            Ok(v.into_iter()
                .next()
                .unwrap()
                .into_pyobject(py)
                .map_err(Into::into)?
                .into_any()
                .into_bound())
        } else {
            Ok(PyList::new(py, v)?.into_any())
        }
    }
    match v {
        Plain::Text(t) => one_or_list(py, t),
        Plain::Int(t) => {
            if t.is_empty() {
                Ok(py.None().into_bound(py))
            } else {
                one_or_list(py, t)
            }
        }
        Plain::UInt(t) => {
            if t.is_empty() {
                Ok(py.None().into_bound(py))
            } else {
                one_or_list(py, t)
            }
        }
        Plain::Float(t) => {
            if t.is_empty() {
                Ok(py.None().into_bound(py))
            } else {
                one_or_list(py, t)
            }
        }
        Plain::Tags(t) => {
            if t.is_empty() {
                Ok(py.None().into_bound(py))
            } else {
                one_or_list(py, t)
            }
        }
        Plain::Bytes(b) => Ok(PyBytes::new(py, &b).into_any()),
        Plain::Fragments(f) => {
            let l = PyList::empty(py);
            for b in f {
                l.append(PyBytes::new(py, &b))?;
            }
            Ok(l.into_any())
        }
        Plain::Items(items) => {
            let l = PyList::empty(py);
            for item in items {
                let d = PyDict::new(py);
                for (tag, v) in item {
                    d.set_item(tag, plain_to_py(py, v)?)?;
                }
                l.append(d)?;
            }
            Ok(l.into_any())
        }
    }
}

fn py_to_plain(v: &Bound<'_, PyAny>) -> PyResult<Plain> {
    if v.is_none() {
        return Ok(Plain::Bytes(Vec::new()));
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Plain::Bytes(b.as_bytes().to_vec()));
    }
    let items: Vec<Bound<'_, PyAny>> =
        if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            v.try_iter()?.collect::<PyResult<_>>()?
        } else {
            vec![v.clone()]
        };
    if items.is_empty() {
        return Ok(Plain::Text(vec![]));
    }
    if items.iter().all(|x| x.is_instance_of::<PyString>()) {
        return Ok(Plain::Text(
            items
                .iter()
                .map(|x| x.extract::<String>())
                .collect::<PyResult<_>>()?,
        ));
    }
    if items.iter().all(|x| x.is_instance_of::<PyInt>()) {
        if let Ok(ints) = items.iter().map(|x| x.extract::<i64>()).collect() {
            return Ok(Plain::Int(ints));
        }
        // above i64::MAX: only a UV holds such values (the VR decides when encoding)
        return Ok(Plain::UInt(
            items
                .iter()
                .map(|x| x.extract::<u64>())
                .collect::<PyResult<_>>()?,
        ));
    }
    if items
        .iter()
        .all(|x| x.is_instance_of::<PyFloat>() || x.is_instance_of::<PyInt>())
    {
        return Ok(Plain::Float(
            items
                .iter()
                .map(|x| x.extract::<f64>())
                .collect::<PyResult<_>>()?,
        ));
    }
    Err(PyTypeError::new_err(
        "a value must be str, int, float, bytes, None, or a list of one of those",
    ))
}

#[pymethods]
impl PyDataset {
    /// Read a file from a path (bulk values stay in the file).
    #[staticmethod]
    fn open_path(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = run(py, || crate::read::read_path(&path))?;
        Ok(PyDataset { inner })
    }

    /// Read a file from bytes.
    #[staticmethod]
    fn open_bytes(py: Python<'_>, data: &Bound<'_, PyBytes>, name: String) -> PyResult<Self> {
        let data: Arc<[u8]> = Arc::from(data.as_bytes());
        let inner = run(py, move || crate::read::read_bytes(data, &name))?;
        Ok(PyDataset { inner })
    }

    /// Might the file carry burned-in annotation? `trust_no`: the engine's test
    /// (BurnedInAnnotation YES, or a secondary capture, ultrasound or visible-light class
    /// without NO); false: YES or such a class, whatever BurnedInAnnotation says (a NO may be
    /// one dicomveil wrote after blanking what it was told to).
    #[pyo3(signature = (trust_no = true))]
    fn may_carry_burned_in(&self, trust_no: bool) -> bool {
        let ds = &self.inner.dataset;
        if trust_no {
            crate::anonymize::may_have_burned_in_annotation(ds)
        } else {
            crate::anonymize::burned_in_class(ds)
                || ds
                    .text(dicom_dictionary_std::tags::BURNED_IN_ANNOTATION)
                    .is_some_and(|v| v.eq_ignore_ascii_case(b"YES"))
        }
    }

    /// Does the file hold pixel data (integer, float or double float)?
    fn has_pixel_data(&self) -> bool {
        crate::anonymize::has_pixel_data(&self.inner.dataset)
    }

    /// The identifying words of the file (person names, IDs, birth dates in common written
    /// forms, accession numbers, institutions...), normalized (lower case, no accents): what
    /// `verify` searches outputs for.
    fn identifying_words(&self) -> Vec<String> {
        crate::clean::identifying_words(&self.inner.dataset)
            .into_iter()
            .collect()
    }

    /// The layout of the frames (of the native pixel data, or the decoded frames of
    /// compressed pixel data), as a dict (rows, columns, frames, samples, planar,
    /// bits_allocated, bits_stored, high_bit, signed, photometric, big_endian, float);
    /// raises PixelDataError naming what is missing or not supported.
    fn pixel_layout<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let l = crate::codecs::frame_layout(&self.inner).map_err(|problem| {
            to_pyerr(
                py,
                Error::PixelData {
                    name: self.inner.name.clone(),
                    problem: format!("it {problem}"),
                },
            )
        })?;
        let d = pyo3::types::PyDict::new(py);
        d.set_item("rows", l.rows)?;
        d.set_item("columns", l.cols)?;
        d.set_item("frames", l.frames)?;
        d.set_item("samples", l.samples)?;
        d.set_item("planar", l.planar)?;
        d.set_item("bits_allocated", l.bits_allocated)?;
        d.set_item("bits_stored", l.bits_stored)?;
        d.set_item("high_bit", l.high_bit)?;
        d.set_item("signed", l.signed)?;
        d.set_item("photometric", &l.photometric_name)?;
        d.set_item("big_endian", l.big_endian)?;
        d.set_item("float", l.float)?;
        Ok(d)
    }

    /// The bytes of frame `index`: of native pixel data in the file's byte order (1-bit
    /// pixels one byte each; YBR 4:2:2 as pixel pairs Y1 Y2 Cb Cr); of compressed pixel
    /// data the frame decoded (little endian, samples of a pixel together), as
    /// `pixel_layout` describes it.
    fn frame<'py>(&self, py: Python<'py>, index: u32) -> PyResult<Bound<'py, PyBytes>> {
        let file = &self.inner;
        let bytes = run(py, || {
            let pixel_error = |problem: String| Error::PixelData {
                name: file.name.clone(),
                problem: format!("it {problem}"),
            };
            let layout = crate::codecs::frame_layout(file).map_err(pixel_error)?;
            if file.transfer_syntax.encapsulated && index < layout.frames {
                return crate::codecs::decoded_frame(file, index).map_err(pixel_error);
            }
            // a frame decoded as it is read (a cleaned file not yet written) that does not
            // decode is a pixel data error
            crate::pixels::frame_bytes(file, &layout, index).map_err(|source| {
                crate::write::pixel_error(source).unwrap_or_else(|source| Error::Io {
                    name: file.name.clone(),
                    op: "read a frame",
                    source,
                })
            })
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Save atomically to `path`.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let file = &self.inner;
        run(py, || crate::write::save(file, &path).map(drop))
    }

    /// The Part 10 file as bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let file = &self.inner;
        let bytes = run(py, || crate::write::to_bytes(file))?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn copy(&self) -> Self {
        PyDataset {
            inner: self.inner.clone(),
        }
    }

    #[getter]
    fn transfer_syntax_uid(&self) -> String {
        self.inner.transfer_syntax.uid.clone()
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The top-level tags, in order.
    fn tags(&self) -> Vec<u32> {
        self.inner
            .dataset
            .elements
            .iter()
            .map(|e| value::tag_u32(e.tag))
            .collect()
    }

    fn vr(&self, tag: u32) -> Option<String> {
        self.inner
            .dataset
            .get(value::u32_tag(tag))
            .map(|e| e.vr.to_string().to_string())
    }

    fn contains(&self, tag: u32) -> bool {
        self.inner.dataset.get(value::u32_tag(tag)).is_some()
    }

    fn __len__(&self) -> usize {
        self.inner.dataset.elements.len()
    }

    /// The value of a top-level element, or None when absent.
    fn get<'py>(&self, py: Python<'py>, tag: u32) -> PyResult<Option<Bound<'py, PyAny>>> {
        let file = &self.inner;
        let Some(el) = file.dataset.get(value::u32_tag(tag)) else {
            return Ok(None);
        };
        let plain = run(py, || value::decode(file, &file.dataset, el))?;
        plain_to_py(py, plain).map(Some)
    }

    /// Set a top-level element (VR from the element or the dictionary unless given).
    #[pyo3(signature = (tag, value, vr=None))]
    fn set(
        &mut self,
        py: Python<'_>,
        tag: u32,
        value: &Bound<'_, PyAny>,
        vr: Option<&str>,
    ) -> PyResult<()> {
        let vr = match vr {
            Some(s) => Some(s.parse::<VR>().map_err(|_| {
                PyErr::new::<pyo3::exceptions::PyValueError, _>(format!("unknown VR {s:?}"))
            })?),
            None => None,
        };
        let plain = py_to_plain(value)?;
        let file = &self.inner;
        let tag = value::u32_tag(tag);
        let el = run(py, || value::encode(file, tag, vr, plain))?;
        self.inner.dataset.put(el);
        Ok(())
    }

    /// A readable listing of every element, nested, with VRs.
    #[pyo3(signature = (max_len=64))]
    fn dump(&self, max_len: usize) -> String {
        crate::dump::dump(&self.inner, max_len)
    }

    /// Remove a top-level element; True if it was there.
    fn delete(&mut self, tag: u32) -> bool {
        self.inner.dataset.remove(value::u32_tag(tag))
    }
}

/// A compiled profile (made by `Rules.compile`).
#[pyclass(frozen, name = "CompiledProfile", module = "dicomveil._core")]
struct PyCompiledProfile {
    inner: Arc<CompiledProfile>,
}

#[pymethods]
impl PyCompiledProfile {
    /// Compile `(pattern, action)` rules given as a list (errors name `rule N`).
    #[new]
    fn new(
        py: Python<'_>,
        rules: Vec<(String, String)>,
        source_name: String,
        method: Vec<String>,
        codes: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let codes = codes
            .into_iter()
            .map(|(value, meaning)| MethodCode { value, meaning })
            .collect();
        let inner = run(py, || {
            CompiledProfile::compile(&rules, &source_name, method, codes)
        })?;
        Ok(PyCompiledProfile {
            inner: Arc::new(inner),
        })
    }

    /// What (0028,0303) will say: UNMODIFIED, MODIFIED or REMOVED.
    #[getter]
    fn temporal(&self) -> &'static str {
        self.inner.temporal.code()
    }

    /// Whether actions are resolved by the object's IOD.
    #[getter]
    fn conform(&self) -> bool {
        self.inner.conform
    }

    /// What happens to the attributes no rule names: "clean" or "keep".
    #[getter]
    fn unlisted(&self) -> &'static str {
        self.inner.unlisted.as_str()
    }

    /// Whether (0012,0062) Patient Identity Removed will say YES: the profile is at least as
    /// strong as PS3.15's Basic profile (with the options its markers name).
    #[getter]
    fn identity_removed(&self) -> bool {
        self.inner.identity_removed
    }

    /// The attributes of Table E.1-1 the profile treats more weakly than the Basic profile
    /// and every option: `(pattern, keyword, code or None (kept), Basic profile's code)`.
    #[getter]
    fn weaker(&self) -> Vec<(String, String, Option<&'static str>, &'static str)> {
        self.inner
            .weaker
            .iter()
            .map(|w| {
                (
                    w.pattern.clone(),
                    w.keyword.clone(),
                    w.code.map(profile::Code::as_str),
                    w.basic.as_str(),
                )
            })
            .collect()
    }

    /// What is done to the top-level attribute `tag` of an object of `sop_class`:
    /// `(IOD type or None, letter or None)`, the letter as `Action::letter` spells it (None:
    /// no rule, kept). Resolved by the IOD's types, unless the profile is literal or the SOP
    /// class unknown (then by the table alone).
    fn effective(&self, sop_class: &str, tag: u32) -> (Option<&'static str>, Option<&'static str>) {
        let tag = value::u32_tag(tag);
        let place = self.inner.iod(sop_class.as_bytes()).map(Place::root);
        let decision = self.inner.decide_at(place, tag, None);
        let ty = decision
            .attribute
            .and_then(|a| a.req)
            .map(|r| r.effective().as_str());
        (ty, decision.action.map(Action::letter))
    }
}

/// A profile's rules (the storage of `dicomveil.ConfidentialityProfile`): the grammar of
/// patterns and action codes, duplicates, ambiguity and options are the engine's
/// (`src/rules.rs`).
#[pyclass(name = "Rules", module = "dicomveil._core", skip_from_py_object)]
#[derive(Clone)]
struct PyRules {
    inner: RuleSet,
}

/// A rule's text for a message: `rule 'PatientNam'` (at most 64 characters of it).
fn rule_error(py: Python<'_>, written: &str, problem: String) -> PyErr {
    let clipped: String = written.trim().chars().take(64).collect();
    to_pyerr(
        py,
        Error::Profile {
            source_name: String::new(),
            location: format!("rule {}", profile::quote(&clipped)),
            problem,
        },
    )
}

#[pymethods]
impl PyRules {
    /// No rules.
    #[new]
    fn new() -> Self {
        PyRules {
            inner: RuleSet::new(),
        }
    }

    /// PS3.15 Table E.1-1 with the options (flags).
    #[staticmethod]
    fn default(options: u32) -> Self {
        PyRules {
            inner: RuleSet::default_table(options),
        }
    }

    /// Rules from the rows of a profile file: `form` is "rules" or "options"; each row is
    /// (pattern, where the pattern is, where the row is, [(cell text, where)]). Errors name
    /// `source` and the location.
    #[staticmethod]
    #[allow(clippy::type_complexity)]
    fn from_rows(
        py: Python<'_>,
        form: &str,
        rows: Vec<(String, String, String, Vec<(String, String)>)>,
        options: u32,
        source: String,
    ) -> PyResult<Self> {
        let form = match form {
            "rules" => Form::Rules,
            "options" => Form::Options,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "form must be 'rules' or 'options', not {other:?}"
                )))
            }
        };
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(pattern, pattern_location, location, cells)| Row {
                pattern,
                pattern_location,
                location,
                cells: cells
                    .into_iter()
                    .map(|(text, location)| Cell { text, location })
                    .collect(),
            })
            .collect();
        let inner = run(py, || RuleSet::from_rows(&rows, form, options, &source))?;
        Ok(PyRules { inner })
    }

    /// Set the rule of a pattern (replacing the rule of any spelling of it).
    fn set(&mut self, py: Python<'_>, pattern: &str, code: &str) -> PyResult<()> {
        self.inner
            .set(pattern, code)
            .map_err(|problem| rule_error(py, pattern, problem))
    }

    /// The action code of a pattern's rule, or None.
    fn get(&self, pattern: &str) -> Option<&'static str> {
        self.inner.get(pattern).map(|r| r.code.as_str())
    }

    /// Remove a pattern's rule; True when there was one.
    fn remove(&mut self, pattern: &str) -> bool {
        self.inner.remove(pattern)
    }

    /// [(pattern as written, action code)], in order.
    fn items(&self) -> Vec<(String, &'static str)> {
        self.inner
            .rules()
            .iter()
            .map(|r| (r.written.clone(), r.code.as_str()))
            .collect()
    }

    /// For showing: [(pattern as written, canonical pattern, action code, the tag of an
    /// exact pattern)].
    fn describe(&self) -> Vec<(String, String, &'static str, Option<u32>)> {
        self.inner
            .rules()
            .iter()
            .map(|r| {
                let tag = match r.pattern {
                    profile::Pattern::Exact(tag) => Some(value::tag_u32(tag)),
                    _ => None,
                };
                (
                    r.written.clone(),
                    r.pattern.canonical(),
                    r.code.as_str(),
                    tag,
                )
            })
            .collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The same rules (patterns by meaning; order and spelling aside).
    fn same_rules(&self, other: &PyRules) -> bool {
        self.inner.same_rules(&other.inner)
    }

    /// The options of the default table these rules are exactly, or None (custom).
    #[getter]
    fn options(&self) -> Option<u32> {
        self.inner.options()
    }

    fn copy(&self) -> Self {
        self.clone()
    }

    /// Compile for lookup, with the de-identification markers of the options in effect;
    /// `conform=False` carries the rules out literally, with no resolution by IOD;
    /// `unlisted` ("clean" or "keep") says what happens to the attributes no rule names.
    /// `lookup` is the text of a lookup table for `@lookup` (Java properties,
    /// `keytype/key=value`).
    #[pyo3(signature = (conform = true, unlisted = "clean", clean_pixels = false, pixel_rules = None, lookup = None))]
    fn compile(
        &self,
        conform: bool,
        unlisted: &str,
        clean_pixels: bool,
        pixel_rules: Option<&PyPixelRules>,
        lookup: Option<&str>,
    ) -> PyResult<PyCompiledProfile> {
        let unlisted = profile::Unlisted::parse(unlisted).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "unlisted must be 'clean', 'keep' or 'remove', not {}",
                profile::quote(unlisted)
            ))
        })?;
        let mut compiled = self.inner.compile_for(unlisted);
        compiled.lookup = lookup.map(|t| Arc::new(crate::script::LookupTable::parse(t)));
        compiled.conform = conform;
        compiled.clean_pixels = clean_pixels;
        if let Some(rules) = pixel_rules {
            compiled.pixel_rules = rules.inner.clone();
        }
        Ok(PyCompiledProfile {
            inner: Arc::new(compiled),
        })
    }
}

/// Pixel rules (Clean Pixel Data): which files, which regions of their pixels.
#[pyclass(frozen, name = "PixelRules", module = "dicomveil._core")]
struct PyPixelRules {
    inner: Arc<crate::pixrules::PixelRules>,
}

/// A pixel rule's error: `source: location: problem`, the location being the line of a
/// script, or `at` (the rule) where there is no line.
fn pixel_rule_error(
    py: Python<'_>,
    source: &str,
    at: &str,
    e: crate::pixrules::RuleError,
) -> PyErr {
    let location = match e.line {
        Some(l) if at.is_empty() => format!("line {l}"),
        _ if at.is_empty() => "pixel rules".to_string(),
        _ => at.to_string(),
    };
    to_pyerr(
        py,
        Error::Profile {
            source_name: source.to_string(),
            location,
            problem: e.problem,
        },
    )
}

#[pymethods]
impl PyPixelRules {
    /// Rules from `(name, when, regions)` texts; errors name the rule (`source: rule N`).
    #[new]
    #[pyo3(signature = (rules, source = String::new()))]
    fn new(py: Python<'_>, rules: Vec<(String, String, String)>, source: String) -> PyResult<Self> {
        let mut out = crate::pixrules::PixelRules::default();
        for (i, (name, when, regions)) in rules.iter().enumerate() {
            let rule = crate::pixrules::PixelRules::rule(name, when, regions)
                .map_err(|e| pixel_rule_error(py, &source, &format!("pixel rule {}", i + 1), e))?;
            out.rules.push(rule);
        }
        Ok(PyPixelRules {
            inner: Arc::new(out),
        })
    }

    /// Rules of a CTP DicomPixelAnonymizer script.
    #[staticmethod]
    #[pyo3(signature = (text, source = String::new()))]
    fn from_ctp_script(py: Python<'_>, text: &str, source: String) -> PyResult<Self> {
        let inner = crate::pixrules::PixelRules::parse_ctp_script(text)
            .map_err(|e| pixel_rule_error(py, &source, "", e))?;
        Ok(PyPixelRules {
            inner: Arc::new(inner),
        })
    }

    /// The rules as `(name, when, regions)` texts.
    fn rules(&self) -> Vec<(String, String, String)> {
        self.inner
            .rules
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.when.source().to_string(),
                    regions_text(&r.regions),
                )
            })
            .collect()
    }

    /// The rules as a CTP DicomPixelAnonymizer script.
    fn to_ctp_script(&self) -> String {
        self.inner.to_ctp_script()
    }

    /// The index (0-based) of the first rule whose selector matches the dataset, or None.
    fn first_match(&self, dataset: &PyDataset) -> Option<usize> {
        self.inner.first_match(&dataset.inner).map(|(i, _)| i)
    }

    fn __len__(&self) -> usize {
        self.inner.rules.len()
    }
}

/// Regions as the profile forms write them: `(x,y,w,h) (frame) (outside-us-regions)`.
fn regions_text(regions: &[crate::pixrules::Region]) -> String {
    let written: Vec<String> = regions.iter().map(ToString::to_string).collect();
    written.join(" ")
}

/// The engine of an Anonymizer: a compiled profile and a keyed UID mapping.
#[pyclass(frozen, name = "Engine", module = "dicomveil._core")]
struct PyEngine {
    inner: Anonymizer,
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (profile, key, patient_name=None, patient_id=None, pseudonymize_name=false, pseudonymize_id=false, burned_in="warn", record_uids=true, text_finder=None, text_everywhere=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        profile: &PyCompiledProfile,
        key: Vec<u8>,
        patient_name: Option<Vec<u8>>,
        patient_id: Option<Vec<u8>>,
        pseudonymize_name: bool,
        pseudonymize_id: bool,
        burned_in: &str,
        record_uids: bool,
        text_finder: Option<Py<PyAny>>,
        text_everywhere: bool,
    ) -> PyResult<Self> {
        let mut inner = Anonymizer::new(profile.inner.clone(), &key);
        if record_uids {
            inner.uids = inner.uids.recording();
        }
        let replacement = |value: Option<Vec<u8>>, pseudonym: bool| {
            if pseudonym {
                Some(Replacement::Pseudonym)
            } else {
                value.map(Replacement::Value)
            }
        };
        inner.patient_name = replacement(patient_name, pseudonymize_name);
        inner.patient_id = replacement(patient_id, pseudonymize_id);
        inner.burned_in = match burned_in {
            "warn" => BurnedIn::Warn,
            "refuse" => BurnedIn::Refuse,
            "allow" => BurnedIn::Allow,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "burned_in must be 'warn', 'refuse' or 'allow', not {other:?}"
                )))
            }
        };
        inner.pixel_text = text_finder.map(|callback| PixelText {
            finder: Arc::new(PyTextFinder { callback }),
            all: text_everywhere,
        });
        Ok(PyEngine { inner })
    }

    /// The UIDs mapped so far: {old: new}.
    fn uid_map(&self) -> Vec<(String, String)> {
        self.inner
            .uids
            .recorded()
            .into_iter()
            .map(|(a, b)| {
                (
                    String::from_utf8_lossy(&a).into_owned(),
                    String::from_utf8_lossy(&b).into_owned(),
                )
            })
            .collect()
    }

    /// De-identify a dataset in place, blanking `boxes` `(frame or None, x, y, w, h)` of its
    /// pixels besides the pixel rules' regions; returns its flags and what was done to its
    /// pixels.
    #[pyo3(signature = (dataset, boxes = Vec::new()))]
    fn anonymize(
        &self,
        py: Python<'_>,
        dataset: &mut PyDataset,
        boxes: Vec<(Option<u32>, u32, u32, u32, u32)>,
    ) -> PyResult<(Vec<&'static str>, Option<String>)> {
        let file = &mut dataset.inner;
        let engine = &self.inner;
        let boxes = frame_boxes(boxes);
        run(py, || {
            engine
                .anonymize_with(file, &boxes)
                .map(|o| (o.flags, o.pixels))
        })
    }

    /// Read `src`, de-identify, write `dst` atomically; all in Rust. Returns the flags and
    /// what was done to the pixels.
    #[pyo3(signature = (src, dst, boxes = Vec::new()))]
    fn anonymize_file(
        &self,
        py: Python<'_>,
        src: PathBuf,
        dst: PathBuf,
        boxes: Vec<(Option<u32>, u32, u32, u32, u32)>,
    ) -> PyResult<(Vec<&'static str>, Option<String>)> {
        let engine = &self.inner;
        let boxes = frame_boxes(boxes);
        run(py, || {
            let mut file = crate::read::read_path(&src)?;
            let outcome = engine.anonymize_with(&mut file, &boxes)?;
            crate::write::save(&file, &dst)?;
            Ok((outcome.flags, outcome.pixels))
        })
    }

    /// Anonymize a tree (or one file) on a thread pool; returns the raw report. The naming
    /// template and the paths (with the audit log's, not written here) are checked first.
    /// `lock`: take the destination's lock (false: the caller holds it).
    #[pyo3(signature = (src, dst, workers=0, recursive=true, naming=None, stop_on_error=false, dry_run=false, progress=None, tick=0.2, files=None, audit=None, lock=true))]
    #[allow(clippy::too_many_arguments)]
    fn anonymize_tree<'py>(
        &self,
        py: Python<'py>,
        src: PathBuf,
        dst: PathBuf,
        workers: usize,
        recursive: bool,
        naming: Option<String>,
        stop_on_error: bool,
        dry_run: bool,
        progress: Option<Py<PyAny>>,
        tick: f64,
        files: Option<Vec<PathBuf>>,
        audit: Option<PathBuf>,
        lock: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let naming = match naming {
            Some(template) => {
                batch::Naming::Template(Template::parse(&template).map_err(|e| to_pyerr(py, e))?)
            }
            None => batch::Naming::Mirror,
        };
        let is_template = matches!(naming, batch::Naming::Template(_));
        let plan = checked_paths(py, &src, &dst, audit.as_deref(), true, is_template)?;
        let opts = batch::TreeOptions {
            workers,
            recursive,
            naming,
            stop_on_error,
            dry_run,
            only: files,
            audit,
            lock,
        };
        let engine = &self.inner;
        let callback_error: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
        let tick = std::time::Duration::from_secs_f64(tick.clamp(0.01, 60.0));
        let report = run(py, || {
            let mut on_progress = |p: batch::Progress| -> bool {
                // a callback that raised is not called again (its exception is the one told);
                // signals are still taken (a second Ctrl-C while the files being written
                // finish would otherwise be raised after the run, without its report)
                if callback_error.lock().expect("not poisoned").is_some() {
                    Python::attach(|py| drop(py.check_signals()));
                    return false;
                }
                Python::attach(|py| {
                    let outcome = match &progress {
                        Some(cb) => cb
                            .call1(py, (p.finished, p.total, p.refused, p.bytes_in))
                            .map(drop),
                        None => Ok(()),
                    }
                    .and_then(|_| py.check_signals());
                    match outcome {
                        Ok(()) => true,
                        Err(e) => {
                            *callback_error.lock().expect("not poisoned") = Some(e);
                            false
                        }
                    }
                })
            };
            batch::anonymize_planned(engine, &plan, &opts, tick, &mut on_progress)
        })?;
        let interrupted = callback_error.into_inner().expect("not poisoned");
        let refused = PyList::empty(py);
        for f in &report.refused {
            refused.append(outcome_tuple(py, f)?)?;
        }
        let t = &report.totals;
        let totals = PyDict::new(py);
        for (name, n) in [
            ("files", t.files),
            ("done", t.done),
            ("refused", t.refused),
            ("skipped", t.skipped),
            ("flagged", t.flagged),
        ] {
            totals.set_item(name, n)?;
        }
        totals.set_item("bytes_in", t.bytes_in)?;
        totals.set_item("bytes_out", t.bytes_out)?;
        let out = PyDict::new(py);
        out.set_item("rows", PyRows { inner: report.rows })?;
        out.set_item("refused", refused)?;
        out.set_item("totals", totals)?;
        out.set_item("elapsed", report.elapsed.as_secs_f64())?;
        out.set_item("stopped", report.stopped)?;
        out.set_item(
            "audit_error",
            report.audit_error.map(|e| to_pyerr(py, e).into_value(py)),
        )?;
        out.set_item("leftovers_removed", report.leftovers_removed)?;
        // an exception from the progress callback or a signal (Ctrl-C) stopped the run: the
        // caller gets the report of what was done, then raises it
        out.set_item("error", interrupted.map(|e| e.into_value(py)))?;
        Ok(out)
    }

    /// The new UID for an old one.
    fn map_uid(&self, uid: &str) -> String {
        String::from_utf8_lossy(&self.inner.uids.map(uid.as_bytes())).into_owned()
    }
}

/// A [`TextFinder`] in Python: `callback(dataset)` returns `(boxes, note)`, boxes as
/// `(frame or None, x, y, w, h)`. Its `OcrUnavailableError` refuses the file as such; any
/// other exception refuses it as a `PixelDataError` with the exception's message (which names
/// what failed, never text found).
struct PyTextFinder {
    callback: Py<PyAny>,
}

impl TextFinder for PyTextFinder {
    fn find(&self, file: &DicomFile) -> crate::Result<TextFound> {
        Python::attach(|py| {
            let outcome = Py::new(
                py,
                PyDataset {
                    inner: file.clone(),
                },
            )
            .and_then(|ds| self.callback.call1(py, (ds,)))
            .and_then(|v| v.extract::<(Vec<(Option<u32>, u32, u32, u32, u32)>, String)>(py));
            match outcome {
                Ok((boxes, note)) => Ok(TextFound {
                    boxes: frame_boxes(boxes),
                    note,
                }),
                Err(e) => {
                    let kind = e
                        .get_type(py)
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default();
                    let message = e.value(py).str().map(|s| s.to_string()).unwrap_or_default();
                    let name = file.name.clone();
                    Err(if kind == "OcrUnavailableError" {
                        Error::OcrUnavailable {
                            name,
                            what: message,
                        }
                    } else {
                        Error::PixelData {
                            name,
                            problem: format!(
                                "its pixels could not be searched for text: {message}"
                            ),
                        }
                    })
                }
            }
        })
    }
}

fn frame_boxes(boxes: Vec<(Option<u32>, u32, u32, u32, u32)>) -> Vec<FrameBox> {
    boxes
        .into_iter()
        .map(|(frame, x, y, w, h)| FrameBox {
            frame,
            rect: crate::pixels::Rect { x, y, w, h },
        })
        .collect()
}

/// A report's row as Python's `FileResult` takes it: (source, destination, status, reason,
/// error, bytes_in, bytes_out, counts, flags, pixels). Paths as str (the file system's encoding, like
/// os.fsdecode).
fn outcome_tuple<'py>(py: Python<'py>, f: &batch::FileOutcome) -> PyResult<Bound<'py, PyTuple>> {
    let (status, reason) = status_words(&f.status);
    let c = &f.counts;
    let counts = (
        c.removed,
        c.zeroed,
        c.dummied,
        c.kept,
        c.cleaned,
        c.uids_replaced,
    );
    (
        f.source.as_os_str(),
        f.destination.as_deref().map(|p| p.as_os_str()),
        status,
        reason,
        f.error_kind,
        f.bytes_in,
        f.bytes_out,
        counts,
        PyTuple::new(py, &f.flags)?,
        f.pixels.as_deref(),
    )
        .into_pyobject(py)
}

/// The rows of a run (one JSON line per input, in input order), read back on demand.
#[pyclass(frozen, name = "Rows", module = "dicomveil._core")]
struct PyRows {
    inner: crate::sink::Rows,
}

#[pymethods]
impl PyRows {
    /// Up to `size` bytes from `offset`.
    fn read<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        size: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let rows = &self.inner;
        let bytes = run(py, || {
            rows.read(offset, size).map_err(|source| Error::Io {
                name: "the report's rows".into(),
                op: "read",
                source,
            })
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    fn __len__(&self) -> usize {
        self.inner.len() as usize
    }
}

/// A status as the report words it: ("done" | "refused" | "skipped", reason).
fn status_words(status: &batch::Status) -> (&'static str, Option<&str>) {
    match status {
        batch::Status::Done => ("done", None),
        batch::Status::Refused(r) => ("refused", Some(r.as_str())),
        batch::Status::Skipped(r) => ("skipped", Some(r.as_str())),
    }
}

/// Check a naming template; raises NamingTemplateError saying what is wrong.
#[pyfunction]
fn check_naming(py: Python<'_>, template: &str) -> PyResult<()> {
    Template::parse(template)
        .map(drop)
        .map_err(|e| to_pyerr(py, e))
}

/// Where a run writes, as `check_paths` planned it.
#[pyclass(frozen, name = "PathPlan", module = "dicomveil._core")]
struct PyPathPlan {
    /// The source is a folder (not one file).
    #[pyo3(get)]
    folder: bool,
    /// The destination is the source.
    #[pyo3(get)]
    in_place: bool,
    /// The output file of a one-file run without a naming template.
    #[pyo3(get)]
    output: Option<std::ffi::OsString>,
    /// The folder the outputs are written below (and the run's lock is taken on).
    #[pyo3(get)]
    root: std::ffi::OsString,
}

/// `batch::check_paths`, its refusal raised as its class (PathError, or FileAccessError for
/// the source unreadable) with `code`, the problem's name.
fn checked_paths(
    py: Python<'_>,
    src: &Path,
    dst: &Path,
    audit: Option<&Path>,
    in_place_allowed: bool,
    naming: bool,
) -> PyResult<batch::Plan> {
    let checked = run(py, || {
        Ok(batch::check_paths(
            src,
            dst,
            audit,
            in_place_allowed,
            naming,
        ))
    })?;
    checked.map_err(|refusal| {
        let error = to_pyerr(py, refusal.error);
        match error.value(py).setattr("code", refusal.problem.code()) {
            Ok(()) => error,
            Err(e) => e,
        }
    })
}

/// Check the paths of a run before any file is touched (`batch::check_paths`); raises
/// PathError (with `code`, the problem's name) or FileAccessError (the source unreadable).
#[pyfunction]
#[pyo3(signature = (src, dst, audit=None, in_place_allowed=true, naming=false))]
fn check_paths(
    py: Python<'_>,
    src: PathBuf,
    dst: PathBuf,
    audit: Option<PathBuf>,
    in_place_allowed: bool,
    naming: bool,
) -> PyResult<PyPathPlan> {
    let plan = checked_paths(py, &src, &dst, audit.as_deref(), in_place_allowed, naming)?;
    Ok(PyPathPlan {
        folder: plan.is_folder(),
        in_place: plan.in_place(),
        output: plan.output().map(|p| p.as_os_str().to_os_string()),
        root: plan.dst_root().as_os_str().to_os_string(),
    })
}

/// A listing as `list_tree` gives it: files, sizes, links, unreadable folders (with why).
type PyListing = (
    Vec<std::ffi::OsString>,
    Vec<u64>,
    Vec<std::ffi::OsString>,
    Vec<(std::ffi::OsString, String)>,
);

/// The engine's listing of a folder (`batch::list_tree`), paths relative to it: files in the
/// engine's order with their sizes, symbolic links, and sub-folders that could not be listed.
#[pyfunction]
#[pyo3(signature = (src, recursive=true))]
fn list_tree(py: Python<'_>, src: PathBuf, recursive: bool) -> PyResult<PyListing> {
    let listing = run(py, || batch::list_tree(&src, recursive))?;
    let rel = |p: PathBuf| match p.strip_prefix(&src) {
        Ok(rel) => rel.as_os_str().to_os_string(),
        Err(_) => p.into_os_string(),
    };
    Ok((
        listing.files.into_iter().map(rel).collect(),
        listing.sizes,
        listing.links.into_iter().map(rel).collect(),
        listing
            .unreadable
            .into_iter()
            .map(|(p, why)| (rel(p), why))
            .collect(),
    ))
}

/// A report line set apart: (where it goes, source, status, reason, error kind).
type ApartLine = (
    usize,
    std::ffi::OsString,
    &'static str,
    String,
    Option<&'static str>,
);

/// The lines of a listing's links and unreadable folders, and where each goes among a run's
/// files (their sources in input order): `batch::set_apart` and `batch::merge_positions`.
#[pyfunction]
fn merge_report(
    py: Python<'_>,
    sources: Vec<PathBuf>,
    links: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, String)>,
) -> PyResult<Vec<ApartLine>> {
    run(py, || {
        let apart = batch::set_apart(links, unreadable);
        let positions = batch::merge_positions(&sources, &apart);
        Ok(apart
            .into_iter()
            .zip(positions)
            .map(|(line, at)| {
                let (status, reason) = status_words(&line.status);
                let reason = reason.unwrap_or_default().to_string();
                (
                    at,
                    line.source.into_os_string(),
                    status,
                    reason,
                    line.error_kind,
                )
            })
            .collect())
    })
}

/// The files refused by the rule of output names (`batch::name_collisions`): (index refused,
/// index of the file that keeps the name, reason, error kind).
#[pyfunction]
fn name_collisions(
    py: Python<'_>,
    sources: Vec<PathBuf>,
    outputs: Vec<Option<PathBuf>>,
) -> PyResult<Vec<(usize, usize, String, &'static str)>> {
    if sources.len() != outputs.len() {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "give as many outputs as sources",
        ));
    }
    run(py, || {
        Ok(batch::name_collisions(&outputs)
            .into_iter()
            .map(|(i, first)| {
                let output = outputs[i].as_deref().unwrap_or(Path::new(""));
                let error = batch::name_taken(output, &sources[first]);
                (i, first, error.to_string(), error.kind())
            })
            .collect())
    })
}

/// The lock of a destination folder for a run (`dest::RunLock`): taken by `acquire` or
/// `with`, held until `release` or the end of the `with` block (or the process).
#[pyclass(name = "RunLock", module = "dicomveil._core")]
struct PyRunLock {
    folder: PathBuf,
    held: Option<crate::dest::RunLock>,
}

#[pymethods]
impl PyRunLock {
    #[new]
    fn new(folder: PathBuf) -> Self {
        PyRunLock { folder, held: None }
    }

    /// Take the lock (the folder is created when missing), waiting up to `wait` seconds for
    /// another run to release it; raises DestinationBusyError naming the holder.
    #[pyo3(signature = (wait=0.0))]
    fn acquire(&mut self, py: Python<'_>, wait: f64) -> PyResult<()> {
        if self.held.is_none() {
            let folder = &self.folder;
            let wait = std::time::Duration::from_secs_f64(wait.clamp(0.0, 86400.0));
            self.held = Some(run(py, || crate::dest::RunLock::acquire(folder, wait))?);
        }
        Ok(())
    }

    /// Release the lock (nothing when not held).
    fn release(&mut self) {
        self.held = None;
    }

    /// The lock file.
    #[getter]
    fn path(&self) -> std::ffi::OsString {
        let folder = if self.folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &self.folder
        };
        folder.join(batch::LOCK_NAME).into_os_string()
    }

    #[getter]
    fn held(&self) -> bool {
        self.held.is_some()
    }

    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let py = slf.py();
        slf.acquire(py, 0.0)?;
        Ok(slf)
    }

    fn __exit__(
        &mut self,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.release();
        false
    }
}

/// Is this file name one of our temporary files (`.dicomveil-*.part`)?
#[pyfunction]
fn is_temp_name(name: &str) -> bool {
    batch::is_temp_name(name)
}

/// Remove the temporary files of ours (`.dicomveil-*.part`) in `folder` (not below it) that
/// no process holds: those of killed runs and workers, never one being written. How many.
#[pyfunction]
fn remove_leftovers(py: Python<'_>, folder: PathBuf) -> usize {
    py.detach(|| crate::dest::remove_leftovers_in(&folder))
}

/// A finding of `verify`: file, tag path, kind, tag (a number), keyword.
type Finding = (
    PathBuf,
    String,
    &'static str,
    Option<u32>,
    Option<&'static str>,
);

/// Leak scan of de-identified output: [(file, tag path, kind, tag, keyword)], never values.
#[pyfunction]
#[pyo3(signature = (out, original, profile, workers=0))]
fn verify(
    py: Python<'_>,
    out: PathBuf,
    original: Option<PathBuf>,
    profile: &PyCompiledProfile,
    workers: usize,
) -> PyResult<(Vec<Finding>, usize)> {
    let compiled = profile.inner.clone();
    let (findings, checked) = run(py, || {
        crate::verify::verify(&out, original.as_deref(), &compiled, workers)
    })?;
    Ok((
        findings
            .into_iter()
            .map(|f| {
                let keyword = f
                    .tag
                    .and_then(|t| StandardDataDictionary.by_tag(t))
                    .map(|e| e.alias());
                (
                    f.file,
                    f.path,
                    f.kind.name(),
                    f.tag.map(value::tag_u32),
                    keyword,
                )
            })
            .collect(),
        checked,
    ))
}

/// The default profile's rules for a set of option flags: [(pattern, canonical pattern,
/// action code)].
#[pyfunction]
fn default_rules(options: u32) -> Vec<(String, String, String)> {
    profile::table_e1_1()
        .iter()
        .map(|row| {
            let canonical = profile::Pattern::parse(&row.tag)
                .expect("the shipped table's patterns parse (a unit test checks)")
                .canonical();
            (row.tag.clone(), canonical, row.action(options).to_string())
        })
        .collect()
}

/// The shipped Table E.1-1: [(tag, keyword, name, vr, [11 action columns])].
#[pyfunction]
fn table_rows() -> Vec<(String, String, String, String, Vec<String>)> {
    profile::table_e1_1()
        .iter()
        .map(|r| {
            (
                r.tag.clone(),
                r.keyword.clone(),
                r.name.clone(),
                r.vr.clone(),
                r.actions.to_vec(),
            )
        })
        .collect()
}

/// The rules of a CTP DicomAnonymizer script, from its parts as the XML gives them:
/// `(kind: p|e|k|r, t, enabled, text, location)`. Gives `([(pattern, action, location)],
/// remove_unspecified)`; errors are ProfileErrors naming `source` and the location.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn ctp_script(
    py: Python<'_>,
    items: Vec<(String, String, bool, String, String)>,
    source: String,
) -> PyResult<(Vec<(String, String, String)>, bool)> {
    let items: Vec<crate::script::ScriptItem> = items
        .into_iter()
        .map(
            |(kind, t, enabled, text, location)| crate::script::ScriptItem {
                kind,
                t,
                enabled,
                text,
                location,
            },
        )
        .collect();
    match crate::script::ctp(&items) {
        Ok(script) => Ok((script.rules, script.remove_unspecified)),
        Err((location, problem)) => Err(to_pyerr(
            py,
            Error::Profile {
                source_name: source,
                location,
                problem,
            },
        )),
    }
}

/// The number of entries of a lookup table's text (for checking it when given).
#[pyfunction]
fn lookup_table_size(text: &str) -> usize {
    crate::script::LookupTable::parse(text).len()
}

/// The letter of what an action code does without IOD knowledge (`Code::action`, as
/// `Action::letter` spells it): "X/Z" -> "Z". None for text that is no code.
#[pyfunction]
fn code_letter(code: &str) -> Option<&'static str> {
    profile::Code::parse(code).map(|c| c.action().letter())
}

/// The canonical spelling of a tag pattern; raises ProfileError saying why it is malformed.
#[pyfunction]
fn canonical_pattern(py: Python<'_>, pattern: &str) -> PyResult<String> {
    profile::Pattern::parse(pattern)
        .map(|p| p.canonical())
        .map_err(|problem| {
            let class = py
                .import("dicomveil.errors")
                .and_then(|m| m.getattr("ProfileError"));
            match class.and_then(|c| c.call1((problem,))) {
                Ok(exc) => PyErr::from_value(exc),
                Err(e) => e,
            }
        })
}

/// The tag of a keyword of the standard dictionary.
#[pyfunction]
fn keyword_to_tag(keyword: &str) -> Option<u32> {
    StandardDataDictionary
        .by_name(keyword)
        .map(|e| value::tag_u32(e.tag()))
}

/// The keyword of a tag, if the standard dictionary has it.
#[pyfunction]
fn tag_to_keyword(tag: u32) -> Option<String> {
    StandardDataDictionary
        .by_tag(value::u32_tag(tag))
        .map(|e| e.alias().to_string())
}

/// `(gggg,eeee)` for a tag.
#[pyfunction]
fn format_tag(tag: u32) -> String {
    tag_str(value::u32_tag(tag))
}

/// The requirement type ("1", "1C", "2", "2C" or "3") of the attribute at `path` (tags from
/// the top of the dataset, the sequences first) in the IOD of `sop_class`, as `iod::requirement`
/// answers it: a C or U module's Type 1 and 2 count as 1C and 2C. `None` when not listed.
#[pyfunction]
fn iod_requirement(sop_class: &str, path: Vec<u32>) -> Option<&'static str> {
    let path: Vec<_> = path.into_iter().map(value::u32_tag).collect();
    iod::requirement(sop_class, &path).map(iod::Type::as_str)
}

/// The Enumerated Values or Defined Terms that PS3.3 lists for the CS attribute at `path` in
/// the IOD of `sop_class`, in the standard's order, as `iod::terms` answers them. `None` when
/// the IOD does not list the attribute or gives it no terms.
#[pyfunction]
fn iod_terms(sop_class: &str, path: Vec<u32>) -> Option<Vec<&'static str>> {
    let path: Vec<_> = path.into_iter().map(value::u32_tag).collect();
    iod::terms(sop_class, &path).map(|t| t.values().to_vec())
}

/// `iod_terms` with what kind of list it is: `(terms, enumerated, per_value)`.
#[pyfunction]
fn iod_term_list(sop_class: &str, path: Vec<u32>) -> Option<(Vec<&'static str>, bool, bool)> {
    let path: Vec<_> = path.into_iter().map(value::u32_tag).collect();
    iod::terms(sop_class, &path).map(|t| (t.values().to_vec(), t.enumerated(), t.per_value()))
}

/// The name of the IOD of a SOP class ("CT Image"), if the IOD tables know it.
#[pyfunction]
fn iod_of(sop_class: &str) -> Option<&'static str> {
    iod::iod_of(sop_class)
}

/// The SOP class UIDs the IOD tables know, sorted.
#[pyfunction]
fn iod_sop_classes() -> Vec<&'static str> {
    iod::sop_classes().to_vec()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDataset>()?;
    m.add_class::<PyCompiledProfile>()?;
    m.add_class::<PyEngine>()?;
    m.add_class::<PyPixelRules>()?;
    m.add_function(wrap_pyfunction!(default_rules, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(table_rows, m)?)?;
    m.add_function(wrap_pyfunction!(canonical_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(code_letter, m)?)?;
    m.add_function(wrap_pyfunction!(ctp_script, m)?)?;
    m.add_function(wrap_pyfunction!(lookup_table_size, m)?)?;
    m.add_class::<PyRules>()?;
    m.add_class::<PyRows>()?;
    m.add_function(wrap_pyfunction!(keyword_to_tag, m)?)?;
    m.add_function(wrap_pyfunction!(tag_to_keyword, m)?)?;
    m.add_function(wrap_pyfunction!(format_tag, m)?)?;
    m.add_function(wrap_pyfunction!(iod_requirement, m)?)?;
    m.add_function(wrap_pyfunction!(iod_terms, m)?)?;
    m.add_function(wrap_pyfunction!(iod_term_list, m)?)?;
    m.add_function(wrap_pyfunction!(iod_of, m)?)?;
    m.add_function(wrap_pyfunction!(iod_sop_classes, m)?)?;
    m.add_class::<PyPathPlan>()?;
    m.add_function(wrap_pyfunction!(check_naming, m)?)?;
    m.add_function(wrap_pyfunction!(check_paths, m)?)?;
    m.add_function(wrap_pyfunction!(list_tree, m)?)?;
    m.add_function(wrap_pyfunction!(merge_report, m)?)?;
    m.add_function(wrap_pyfunction!(name_collisions, m)?)?;
    m.add_function(wrap_pyfunction!(is_temp_name, m)?)?;
    m.add_function(wrap_pyfunction!(remove_leftovers, m)?)?;
    m.add_class::<PyRunLock>()?;
    m.add("LOCK_NAME", batch::LOCK_NAME)?;
    m.add("TEMP_PREFIX", batch::TEMP_PREFIX)?;
    m.add("TEMP_SUFFIX", batch::TEMP_SUFFIX)?;
    m.add("EDITION", profile::EDITION)?;
    m.add("IOD_SOURCE", iod::source())?;
    m.add("IOD_SOURCE_DATE", iod::SOURCE_DATE)?;
    m.add("ERROR_KINDS", crate::error::KINDS.to_vec())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
