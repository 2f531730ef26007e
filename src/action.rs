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
}
