//! Keyed UID mapping: `2.25.` followed by the decimal value of the first 128 bits of
//! HMAC-SHA256(key, old UID).
//!
//! The same key gives the same new UID for the same old UID in every file, process and machine,
//! with no shared state; without the key the mapping can neither be recomputed nor reversed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::dataset::trim_padding;

type HmacSha256 = Hmac<Sha256>;
/// Old UID -> new UID, shared by the clones of a recording mapper.
type Record = Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>;

/// UIDs under this root are defined by the standard (SOP classes, transfer syntaxes, coding
/// schemes...) and identify nobody: they are never mapped.
pub const DICOM_ROOT: &[u8] = b"1.2.840.10008.";

/// Maps UIDs with a secret key.
#[derive(Clone)]
pub struct UidMapper {
    keyed: HmacSha256,
    /// What was mapped, when asked to remember (for audit).
    record: Option<Record>,
}

impl std::fmt::Debug for UidMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never show the key
        f.write_str("UidMapper { .. }")
    }
}

impl UidMapper {
    pub fn new(key: &[u8]) -> Self {
        UidMapper {
            keyed: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
            record: None,
        }
    }

    /// Remember every mapping made from now on (shared by clones of this mapper).
    pub fn recording(mut self) -> Self {
        self.record = Some(Arc::default());
        self
    }

    /// The mappings remembered so far (old UID, new UID), sorted by old UID.
    pub fn recorded(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.record {
            Some(r) => r
                .lock()
                .expect("not poisoned")
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The new UID for one old UID (padding removed first). Standard UIDs are returned as they
    /// are.
    pub fn map(&self, old: &[u8]) -> Vec<u8> {
        let old = trim_padding(old);
        if old.is_empty() || old.starts_with(DICOM_ROOT) {
            return old.to_vec();
        }
        let mut mac = self.keyed.clone();
        mac.update(old);
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        let new = format!("2.25.{}", u128::from_be_bytes(first)).into_bytes();
        if let Some(r) = &self.record {
            r.lock()
                .expect("not poisoned")
                .entry(old.to_vec())
                .or_insert_with(|| new.clone());
        }
        new
    }

    /// Map a (possibly multi-valued) UI value, value by value, padded to even length with NUL.
    pub fn map_value(&self, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(value.len() + 48);
        for (i, v) in trim_padding(value).split(|&b| b == b'\\').enumerate() {
            if i > 0 {
                out.push(b'\\');
            }
            out.extend_from_slice(&self.map(v));
        }
        if out.len() % 2 == 1 {
            out.push(0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_keyed_deterministic_and_well_formed() {
        let a = UidMapper::new(b"secret");
        let b = UidMapper::new(b"secret");
        let c = UidMapper::new(b"other");
        let old = b"1.2.826.0.1.3680043.8.498.1";
        assert_eq!(a.map(old), b.map(old));
        assert_ne!(a.map(old), c.map(old));
        let new = String::from_utf8(a.map(old)).unwrap();
        assert!(new.starts_with("2.25."));
        assert!(new.len() <= 64);
        assert!(new[5..].chars().all(|c| c.is_ascii_digit()));
        assert!(!new[5..].starts_with('0') || new.len() == 6);
        // padding does not change the mapping
        assert_eq!(a.map(b"1.2.3\0"), a.map(b"1.2.3"));
    }

    #[test]
    fn known_vector() {
        // python: hmac.new(b"key", b"1.2.3", "sha256").digest()[:16] as a big-endian integer
        let m = UidMapper::new(b"key");
        let expected = {
            let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
            mac.update(b"1.2.3");
            let d = mac.finalize().into_bytes();
            format!("2.25.{}", u128::from_be_bytes(d[..16].try_into().unwrap()))
        };
        assert_eq!(String::from_utf8(m.map(b"1.2.3")).unwrap(), expected);
    }

    #[test]
    fn standard_uids_and_multiple_values() {
        let m = UidMapper::new(b"k");
        assert_eq!(
            m.map(b"1.2.840.10008.5.1.4.1.1.2"),
            b"1.2.840.10008.5.1.4.1.1.2"
        );
        let v = m.map_value(b"1.2.3\\1.2.840.10008.1.2\0");
        let s = String::from_utf8(v).unwrap();
        let parts: Vec<&str> = s.trim_end_matches('\0').split('\\').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].starts_with("2.25."));
        assert_eq!(parts[1], "1.2.840.10008.1.2");
        assert_eq!(s.len() % 2, 0);
    }
}
