//! What each action does to a value: the dummy values of D, the empty values of Z.

use dicom_core::VR;

/// The dummy value for a VR: fixed, documented, valid for the VR, never derived from the
/// original value. `None` for UI (a dummy UID must still be unique: D on a UID is carried out as
/// U) and SQ (D on a sequence replaces every value inside it).
///
/// Text dummies are ASCII, so they are valid in every character set a file can declare.
pub fn dummy(vr: VR) -> Option<&'static [u8]> {
    Some(match vr {
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT => {
            b"ANONYMIZED"
        }
        VR::AS => b"000Y",
        VR::DA => b"19000101",
        VR::DT => b"19000101000000",
        VR::TM => b"000000",
        VR::DS | VR::IS => b"0",
        VR::UR => b"http://anonymized.invalid",
        VR::US | VR::SS | VR::OB | VR::OW | VR::UN => &[0, 0],
        VR::UL | VR::SL | VR::FL | VR::AT | VR::OF | VR::OL => &[0, 0, 0, 0],
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => &[0; 8],
        VR::UI | VR::SQ => return None,
    })
}

/// The dummy of a CS attribute whose Enumerated Values or Defined Terms PS3.3 lists (where it
/// stands in the object's IOD): the value itself when each of its values is one of the terms
/// (a defined term identifies no one), else the first term; `None` where the terms are given
/// per value (Image Type: a single term would not be valid at every position), so the VR's
/// dummy is written. `value` as stored, padding included.
pub fn dummy_cs(value: &[u8], terms: crate::iod::Terms) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(crate::dataset::trim_padding(value)).into_owned();
    let values: Vec<&str> = text.split('\\').map(str::trim).collect();
    if !text.trim().is_empty() && values.iter().all(|v| terms.contains(v)) {
        return Some(value.to_vec());
    }
    if terms.per_value() {
        return None;
    }
    terms.values().first().map(|t| t.as_bytes().to_vec())
}

/// The dummy of an Encapsulated Document (0042,0011): a document of its MIME Type of
/// Encapsulated Document (0042,0012) that says nothing, so that the object stays readable as
/// what it claims to be (a viewer opens a blank page, not two zero bytes). `None` for a type
/// without one here: the VR's dummy then.
///
/// - `application/pdf`: one blank US Letter page, no text, no metadata (PDF 1.4, its
///   cross-reference table computed);
/// - `text/xml`, `application/xml` and `+xml` types (CDA, X3D): an XML declaration and one
///   empty element;
/// - `model/stl`: an ASCII STL solid with no facet; `model/obj`, `model/mtl`: a comment line.
pub fn dummy_document(mime: &[u8]) -> Option<Vec<u8>> {
    let mime = String::from_utf8_lossy(crate::dataset::trim_padding(mime)).to_ascii_lowercase();
    let mime = mime.split(';').next().unwrap_or_default().trim();
    Some(match mime {
        "application/pdf" => blank_pdf(),
        "text/xml" | "application/xml" => {
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClinicalDocument/>\n".to_vec()
        }
        m if m.ends_with("+xml") => {
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<X3D/>\n".to_vec()
        }
        "model/stl" => b"solid anonymized\nendsolid anonymized\n".to_vec(),
        "model/obj" | "model/mtl" => b"# anonymized\n".to_vec(),
        _ => return None,
    })
}

/// A PDF 1.4 file of one blank page, with a correct cross-reference table.
fn blank_pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> >>",
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

/// The byte a value of this VR is padded with to an even length.
pub fn padding(vr: VR) -> u8 {
    match vr {
        VR::UI
        | VR::OB
        | VR::OW
        | VR::OF
        | VR::OD
        | VR::OL
        | VR::OV
        | VR::UN
        | VR::US
        | VR::SS
        | VR::UL
        | VR::SL
        | VR::FL
        | VR::FD
        | VR::AT
        | VR::SV
        | VR::UV => 0,
        _ => b' ',
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummies_are_even_and_fit_their_vr() {
        for vr in [
            VR::AE,
            VR::AS,
            VR::CS,
            VR::DA,
            VR::DS,
            VR::DT,
            VR::IS,
            VR::LO,
            VR::LT,
            VR::PN,
            VR::SH,
            VR::ST,
            VR::TM,
            VR::UC,
            VR::UR,
            VR::UT,
            VR::US,
            VR::SS,
            VR::UL,
            VR::SL,
            VR::FL,
            VR::FD,
            VR::AT,
            VR::OB,
            VR::OW,
            VR::OF,
            VR::OD,
            VR::OL,
            VR::OV,
            VR::UN,
            VR::SV,
            VR::UV,
        ] {
            let d = dummy(vr).unwrap();
            assert!(!d.is_empty(), "{vr:?}");
            if !matches!(
                vr,
                VR::UR | VR::LO | VR::LT | VR::PN | VR::ST | VR::UC | VR::UT
            ) {
                assert!(d.len() <= 16, "{vr:?}");
            }
        }
        assert!(dummy(VR::UI).is_none());
        assert!(dummy(VR::SQ).is_none());
    }

    #[test]
    fn dummies_of_code_strings_are_terms() {
        let gsps = crate::iod::Iod::of("1.2.840.10008.5.1.4.1.1.11.1").unwrap();
        let shape = gsps.terms(&[dicom_core::Tag(0x2050, 0x0020)]).unwrap();
        assert_eq!(shape.values(), ["IDENTITY", "INVERSE"]);
        // one of the terms: kept as it is (padding too); another value: the first term
        assert_eq!(dummy_cs(b"INVERSE ", shape).unwrap(), b"INVERSE ");
        assert_eq!(dummy_cs(b"MOREAU", shape).unwrap(), b"IDENTITY");
        assert_eq!(dummy_cs(b"", shape).unwrap(), b"IDENTITY");
        assert_eq!(dummy_cs(b"IDENTITY\\DOE", shape).unwrap(), b"IDENTITY");
        // terms per value (Image Type): the VR's dummy unless every value is a term
        let ct = crate::iod::Iod::of("1.2.840.10008.5.1.4.1.1.2").unwrap();
        let image_type = ct.terms(&[dicom_core::Tag(0x0008, 0x0008)]).unwrap();
        assert!(image_type.per_value());
        assert_eq!(dummy_cs(b"MOREAU", image_type), None);
    }

    #[test]
    fn dummy_documents_are_documents_of_their_type() {
        let pdf = dummy_document(b"application/pdf ").unwrap();
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        // every cross-reference entry points at its object, startxref at the table
        let xref_at: usize = text.lines().rev().nth(1).unwrap().parse().unwrap();
        assert!(text[xref_at..].starts_with("xref\n0 4\n"));
        let entries: Vec<&str> = text[xref_at..].lines().skip(3).take(3).collect();
        for (i, entry) in entries.iter().enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", i + 1)),
                "{entry}"
            );
            assert_eq!(entry.len(), 19); // 20 bytes with the newline, as PDF requires
        }
        assert!(!text.contains("/Info") && !text.contains("/Author"));
        assert!(dummy_document(b"text/XML").unwrap().starts_with(b"<?xml"));
        assert!(dummy_document(b"model/x3d+xml")
            .unwrap()
            .ends_with(b"<X3D/>\n"));
        assert!(dummy_document(b"model/stl").unwrap().starts_with(b"solid"));
        assert!(dummy_document(b"image/jpeg").is_none());
    }
}
